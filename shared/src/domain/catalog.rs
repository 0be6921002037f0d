//! The model catalog: which models an agent may choose for each role, and what a call costs.
//! Prices are in micro-dollars (millionths of a US dollar) so every cost is an exact integer.

use serde::Serialize;

/// What a model produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Text in, text out (Bedrock Converse).
    Text,
    /// Text in, image out (Bedrock InvokeModel).
    Image,
}

/// One model and its prices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Model {
    /// The Bedrock model id (or `vellocity.offline-*` for the offline model).
    pub id: &'static str,
    /// What it produces.
    pub kind: ModelKind,
    /// What it is good for, for the people choosing one.
    pub purpose: &'static str,
    /// Price of one million input tokens.
    pub input_per_million: i64,
    /// Price of one million output tokens.
    pub output_per_million: i64,
    /// Price of one image.
    pub per_image: i64,
}

/// Every model the product can call.
pub const MODELS: &[Model] = &[
    Model {
        id: "anthropic.claude-3-5-sonnet-20241022-v2:0",
        kind: ModelKind::Text,
        purpose: "Planning and long-form writing: the default planner and writer.",
        input_per_million: 3_000_000,
        output_per_million: 15_000_000,
        per_image: 0,
    },
    Model {
        id: "anthropic.claude-3-5-haiku-20241022-v1:0",
        kind: ModelKind::Text,
        purpose: "Fast, inexpensive writing: short copy, posts, summaries.",
        input_per_million: 800_000,
        output_per_million: 4_000_000,
        per_image: 0,
    },
    Model {
        id: "amazon.nova-canvas-v1:0",
        kind: ModelKind::Image,
        purpose: "Images: the default image model.",
        input_per_million: 0,
        output_per_million: 0,
        per_image: 40_000,
    },
    Model {
        id: "amazon.titan-image-generator-v2:0",
        kind: ModelKind::Image,
        purpose: "Images at a lower price.",
        input_per_million: 0,
        output_per_million: 0,
        per_image: 10_000,
    },
    Model {
        id: OFFLINE_TEXT,
        kind: ModelKind::Text,
        purpose: "The local stack's deterministic stand-in, labelled in its output; free.",
        input_per_million: 0,
        output_per_million: 0,
        per_image: 0,
    },
    Model {
        id: OFFLINE_IMAGE,
        kind: ModelKind::Image,
        purpose: "The local stack's placeholder images; free.",
        input_per_million: 0,
        output_per_million: 0,
        per_image: 0,
    },
];

/// The offline text model: deterministic, no network, clearly labelled in its output.
pub const OFFLINE_TEXT: &str = "vellocity.offline-text-v1";
/// The offline image model.
pub const OFFLINE_IMAGE: &str = "vellocity.offline-image-v1";
/// Default planner and writer.
pub const DEFAULT_TEXT: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
/// Default model of a conversation: fast and inexpensive.
pub const DEFAULT_CHAT: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";
/// Default image model.
pub const DEFAULT_IMAGE: &str = "amazon.nova-canvas-v1:0";

/// The roles a model is the default for (`planner`, `writer`, `chat`, `image`).
pub fn defaults_of(id: &str) -> Vec<&'static str> {
    let mut roles = Vec::new();
    if id == DEFAULT_TEXT {
        roles.extend(["planner", "writer"]);
    }
    if id == DEFAULT_CHAT {
        roles.push("chat");
    }
    if id == DEFAULT_IMAGE {
        roles.push("image");
    }
    roles
}

/// Looks a model up by id.
pub fn model(id: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.id == id)
}

impl Model {
    /// The cost of a call, in micro-dollars, rounded up so nothing is ever under-charged.
    pub fn cost(&self, input_tokens: i64, output_tokens: i64, images: i64) -> i64 {
        let tokens =
            input_tokens * self.input_per_million + output_tokens * self.output_per_million;
        (tokens + 999_999) / 1_000_000 + images * self.per_image
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_exact_and_round_up() {
        let sonnet = model(DEFAULT_TEXT).unwrap();
        assert_eq!(sonnet.cost(1_000, 500, 0), 3_000 + 7_500);
        assert_eq!(
            sonnet.cost(1, 0, 0),
            3,
            "3 micro-dollars for one input token"
        );
        assert_eq!(model(DEFAULT_IMAGE).unwrap().cost(0, 0, 2), 80_000);
        assert_eq!(model(OFFLINE_TEXT).unwrap().cost(10_000, 10_000, 0), 0);
    }

    #[test]
    fn model_ids_are_unique() {
        for (i, a) in MODELS.iter().enumerate() {
            assert!(MODELS[i + 1..].iter().all(|b| b.id != a.id));
        }
    }
}
