//! `social_posts`: LinkedIn and X post variants within each platform's length limit.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{range, text, tokens, truncate, Capability, Limits, OfflineCue, Runner, WritingBrief};
use crate::domain::validation::FieldErrors;

/// Social platforms and their post limits.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// LinkedIn (3000 characters).
    Linkedin,
    /// X (280 characters).
    X,
}

impl Platform {
    /// The platform's post length limit in characters.
    pub fn limit(self) -> usize {
        match self {
            Platform::Linkedin => 3_000,
            Platform::X => 280,
        }
    }
}

/// The input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The subject.
    pub topic: String,
    /// Where to post.
    pub platforms: Vec<Platform>,
    /// Variants per platform (1–5).
    #[serde(default)]
    pub variants: Option<u32>,
}

impl Limits for Input {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "topic", &self.topic, 500);
        if self.platforms.is_empty() {
            errors.add("platforms", "must name at least one of linkedin, x");
        }
        range(errors, "variants", self.variants, 1, 5);
    }
}

/// The capability.
pub const CAPABILITY: Capability = Capability::define::<Input>(
    "social_posts",
    "LinkedIn and X post variants, each within its platform's length limit.",
    tokens(1, 1_500),
    Runner::Writer {
        rules: "Write post variants for each requested platform. Each X post must be at most 280 characters; each LinkedIn post at most 3000 characters. Label each variant with its platform.",
        offline,
    },
    OfflineCue {
        words: &["linkedin", "social", "tweet", "post on x"],
        input: |subject| json!({"topic": truncate(&subject.topic, 500), "platforms": ["linkedin", "x"]}),
    },
);

fn offline(brief: &WritingBrief) -> String {
    let (topic, brand, promise) = (brief.topic(), brief.brand(), brief.promise());
    let x = truncate(
        &format!("{promise}. {topic} — now on AWS Marketplace."),
        Platform::X.limit(),
    );
    format!("LinkedIn: {brand} is launching: {topic}. {promise}. Read the story and try it on AWS Marketplace.\nX: {x}")
}
