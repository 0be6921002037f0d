//! `analyze_content`: readability, length, keyword density and brand-voice compliance.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{
    list, text, truncate, Capability, CreditRule, Limits, OfflineCue, Runner, INPUT_TEXT_MAX,
};
use crate::domain::validation::FieldErrors;

/// The input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The text to analyse.
    pub text: String,
    /// Terms the text must contain.
    #[serde(default)]
    pub required_terms: Vec<String>,
    /// Keywords whose density to measure.
    #[serde(default)]
    pub keywords: Vec<String>,
}

impl Limits for Input {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "text", &self.text, INPUT_TEXT_MAX);
        list(errors, "required_terms", &self.required_terms, 20);
        list(errors, "keywords", &self.keywords, 20);
    }
}

/// The capability.
pub const CAPABILITY: Capability = Capability::define::<Input>(
    "analyze_content",
    "Readability, length, keyword density and brand-voice compliance of a text.",
    CreditRule::Flat { credits: 1 },
    Runner::Analyzer,
    OfflineCue {
        words: &["analy", "readability", "brand check"],
        input: |subject| json!({"text": truncate(subject.request.trim(), INPUT_TEXT_MAX)}),
    },
);
