//! `email_campaign`: subject lines, preview text and body.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{range, text, tokens, truncate, Capability, Limits, OfflineCue, Runner, WritingBrief};
use crate::domain::validation::FieldErrors;

/// The input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// What the campaign should achieve.
    pub goal: String,
    /// Who receives it.
    #[serde(default)]
    pub audience: Option<String>,
    /// Subject lines to propose (1–5).
    #[serde(default)]
    pub subject_lines: Option<u32>,
}

impl Limits for Input {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "goal", &self.goal, 500);
        if let Some(audience) = &self.audience {
            text(errors, "audience", audience, 500);
        }
        range(errors, "subject_lines", self.subject_lines, 1, 5);
    }
}

/// The capability.
pub const CAPABILITY: Capability = Capability::define::<Input>(
    "email_campaign",
    "An email campaign: subject lines, preview text and body.",
    tokens(1, 2_000),
    Runner::Writer {
        rules: "Write the requested number of subject lines (at most 60 characters each), one preview text (at most 90 characters) and the email body.",
        offline,
    },
    OfflineCue {
        words: &["email"],
        input: |subject| json!({"goal": truncate(&subject.topic, 500)}),
    },
);

fn offline(brief: &WritingBrief) -> String {
    let (topic, brand, promise) = (brief.topic(), brief.brand(), brief.promise());
    format!(
        "Subject lines:\n1. {}\n2. {}\nPreview: {}\nBody: Hi {{first_name}}, {promise}. {topic}. Start on AWS Marketplace today.",
        truncate(promise, 60),
        truncate(&format!("New from {brand}"), 60),
        truncate(&topic, 90)
    )
}
