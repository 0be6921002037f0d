//! `generate_image`: an image from an image model, stored as PNG.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{text, truncate, Capability, CreditRule, Limits, OfflineCue, Runner};
use crate::domain::validation::FieldErrors;

/// Image sizes the image models support.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ImageSize {
    /// 1024 × 1024.
    #[default]
    Square,
    /// 1280 × 720.
    Landscape,
    /// 720 × 1280.
    Portrait,
}

impl ImageSize {
    /// Width and height in pixels.
    pub fn pixels(self) -> (u32, u32) {
        match self {
            ImageSize::Square => (1024, 1024),
            ImageSize::Landscape => (1280, 720),
            ImageSize::Portrait => (720, 1280),
        }
    }
}

/// The input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// What to draw.
    pub prompt: String,
    /// Visual style, e.g. "flat illustration".
    #[serde(default)]
    pub style: Option<String>,
    /// Image size (default square).
    #[serde(default)]
    pub size: Option<ImageSize>,
}

impl Limits for Input {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "prompt", &self.prompt, 1_000);
        if let Some(style) = &self.style {
            text(errors, "style", style, 200);
        }
    }
}

/// The capability.
pub const CAPABILITY: Capability = Capability::define::<Input>(
    "generate_image",
    "An image from a Bedrock image model, stored as PNG in S3.",
    CreditRule::PerImage { credits: 10 },
    Runner::Painter,
    OfflineCue {
        words: &["image", "visual", "banner", "picture"],
        input: |subject| json!({"prompt": truncate(subject.request.trim(), 1_000)}),
    },
);
