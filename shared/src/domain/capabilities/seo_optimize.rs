//! `seo_optimize`: an SEO title, meta description and keywords.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    list, text, tokens, truncate, Capability, Limits, OfflineCue, Runner, WritingBrief,
    INPUT_TEXT_MAX,
};
use crate::domain::validation::FieldErrors;

/// The input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The page's subject.
    pub topic: String,
    /// Existing copy to optimise, if any.
    #[serde(default)]
    pub text: Option<String>,
    /// Keywords to rank for.
    #[serde(default)]
    pub target_keywords: Vec<String>,
}

impl Limits for Input {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "topic", &self.topic, 500);
        if let Some(t) = &self.text {
            text(errors, "text", t, INPUT_TEXT_MAX);
        }
        list(errors, "target_keywords", &self.target_keywords, 10);
    }
}

/// The capability.
pub const CAPABILITY: Capability = Capability::define::<Input>(
    "seo_optimize",
    "An SEO title (≤ 60 characters), meta description (≤ 155) and keywords.",
    tokens(1, 1_000),
    Runner::Writer {
        rules: "Give an SEO title of at most 60 characters, a meta description of at most 155 characters, and up to 10 keywords.",
        offline,
    },
    OfflineCue {
        words: &["seo", "meta description"],
        input: |subject| json!({"topic": truncate(&subject.topic, 500)}),
    },
);

fn offline(brief: &WritingBrief) -> String {
    let (topic, brand, promise) = (brief.topic(), brief.brand(), brief.promise());
    let keywords = brief.input["target_keywords"]
        .as_array()
        .map(|k| {
            k.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|| brand.to_lowercase());
    format!(
        "Title: {}\nMeta description: {}\nKeywords: {keywords}",
        truncate(&format!("{topic} | {brand}"), 60),
        truncate(&format!("{promise}. {topic}."), 155),
    )
}
