//! `summarize`: a summary of a text within a word limit.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{
    range, text, tokens, truncate, Capability, Limits, OfflineCue, Runner, WritingBrief,
    INPUT_TEXT_MAX,
};
use crate::domain::validation::FieldErrors;

/// The input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The text to summarise.
    pub text: String,
    /// The longest summary, in words (20–500).
    #[serde(default)]
    pub max_words: Option<u32>,
}

impl Limits for Input {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "text", &self.text, INPUT_TEXT_MAX);
        range(errors, "max_words", self.max_words, 20, 500);
    }
}

/// The capability.
pub const CAPABILITY: Capability = Capability::define::<Input>(
    "summarize",
    "A summary of a text within a word limit.",
    tokens(1, 800),
    Runner::Writer {
        rules: "Summarise the text within max_words words (default 150).",
        offline,
    },
    OfflineCue {
        words: &["summar"],
        input: |subject| json!({"text": truncate(subject.request.trim(), INPUT_TEXT_MAX)}),
    },
);

fn offline(brief: &WritingBrief) -> String {
    let max = brief.input["max_words"].as_u64().unwrap_or(150) as usize;
    let text = brief.input["text"].as_str().unwrap_or(&brief.request);
    text.split_whitespace()
        .take(max)
        .collect::<Vec<_>>()
        .join(" ")
}
