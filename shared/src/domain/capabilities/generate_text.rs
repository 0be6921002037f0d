//! `generate_text`: long-form copy in the brand voice.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{list, range, text, tokens, Capability, Limits, OfflineCue, Runner, WritingBrief};
use crate::domain::validation::FieldErrors;

/// Long-form formats.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TextFormat {
    /// A blog post.
    BlogPost,
    /// A landing page.
    LandingPage,
    /// A case study.
    CaseStudy,
    /// A press release.
    PressRelease,
}

/// The input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// What to write.
    pub format: TextFormat,
    /// The subject.
    pub topic: String,
    /// Terms to work in.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Approximate length in words (100–2500).
    #[serde(default)]
    pub target_words: Option<u32>,
}

impl Limits for Input {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "topic", &self.topic, 500);
        list(errors, "keywords", &self.keywords, 20);
        range(errors, "target_words", self.target_words, 100, 2_500);
    }
}

/// The capability.
pub const CAPABILITY: Capability = Capability::define::<Input>(
    "generate_text",
    "Long-form copy (blog post, landing page, case study, press release) in the brand voice.",
    tokens(2, 4_000),
    Runner::Writer {
        rules: "Write the requested long-form piece with a headline, short sections and a call to action. Stay near target_words when given.",
        offline,
    },
    OfflineCue {
        words: &["blog", "article", "landing page", "case study", "press release", "long-form"],
        input: |subject| {
            let request = subject.request.to_lowercase();
            let format = [
                ("landing page", "landing_page"),
                ("case study", "case_study"),
                ("press release", "press_release"),
            ]
            .iter()
            .find(|(words, _)| request.contains(words))
            .map_or("blog_post", |(_, format)| format);
            json!({"format": format, "topic": super::truncate(&subject.topic, 500)})
        },
    },
);

fn offline(brief: &WritingBrief) -> String {
    let (topic, brand, promise) = (brief.topic(), brief.brand(), brief.promise());
    format!(
        "# {topic}\n\n{brand} helps teams move faster without new risk. {promise}: that is the promise behind this launch.\n\n\
         ## What changes for you\nEvery release gets the same checks, so the team spends its time on the product, not on the rollout.\n\n\
         ## Get started\nFind {brand} on AWS Marketplace and start today."
    )
}
