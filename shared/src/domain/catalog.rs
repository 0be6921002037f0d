//! The model catalog: which models an agent may choose for each role, and what a call costs.
//! Prices are in micro-dollars (millionths of a US dollar) so every cost is an exact integer.

use serde::Serialize;

use super::tokens::TokenUsage;

/// What a model produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Text in, text out (Bedrock Converse).
    Text,
    /// Text in, image out (Bedrock InvokeModel).
    Image,
}

/// How an image model is asked to draw (their InvokeModel bodies differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageApi {
    /// Amazon Nova Canvas and Titan Image Generator: `taskType: TEXT_IMAGE`.
    NovaCanvas,
    /// Stability AI's models: `prompt`, `aspect_ratio`, `output_format`.
    Stability,
}

/// How a text model is held to an answer's JSON Schema (a plan's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaAnswers {
    /// Converse structured output (`outputConfig.textFormat`).
    StructuredOutput,
    /// A tool whose input schema is the answer's, which the model is made to call.
    ToolUse,
    /// Only by the prompt (the caller validates and repairs).
    Prompt,
}

/// One model and its prices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Model {
    /// The id Bedrock is called with: a cross-region inference profile id where Bedrock
    /// serves the model only through one (`global.`, `us.`), or `vellocity.offline-*` for
    /// the offline model.
    pub id: &'static str,
    /// What it produces.
    pub kind: ModelKind,
    /// What it is good for, for the people choosing one.
    pub purpose: &'static str,
    /// Price of one million input tokens read at the full price.
    pub input_per_million: i64,
    /// Price of one million output tokens.
    pub output_per_million: i64,
    /// Price of one million prompt tokens read from the prompt cache.
    pub cache_read_per_million: i64,
    /// Price of one million prompt tokens written to the prompt cache.
    pub cache_write_per_million: i64,
    /// Price of one image.
    pub per_image: i64,
    /// Whether Bedrock caches a prompt prefix for it (a cache point in the system prompt).
    pub caches_prompts: bool,
    /// How it is held to an answer's JSON Schema.
    pub schema_answers: SchemaAnswers,
    /// How it is asked for an image (image models only).
    #[serde(skip)]
    pub image_api: Option<ImageApi>,
}

/// A text model with its token prices (micro-dollars per million tokens: input, output,
/// cache read, cache write).
const fn text(
    id: &'static str,
    purpose: &'static str,
    [input, output, cache_read, cache_write]: [i64; 4],
    schema_answers: SchemaAnswers,
) -> Model {
    Model {
        id,
        kind: ModelKind::Text,
        purpose,
        input_per_million: input,
        output_per_million: output,
        cache_read_per_million: cache_read,
        cache_write_per_million: cache_write,
        per_image: 0,
        caches_prompts: cache_read > 0,
        schema_answers,
        image_api: None,
    }
}

/// An image model with its price per image.
const fn image(id: &'static str, purpose: &'static str, per_image: i64, api: ImageApi) -> Model {
    Model {
        id,
        kind: ModelKind::Image,
        purpose,
        input_per_million: 0,
        output_per_million: 0,
        cache_read_per_million: 0,
        cache_write_per_million: 0,
        per_image,
        caches_prompts: false,
        schema_answers: SchemaAnswers::Prompt,
        image_api: Some(api),
    }
}

/// Every model the product can call, at Bedrock's published on-demand prices (US regions,
/// read 2026-12-02). Claude is called through its global cross-region inference profile
/// (list price; the geographic `us.` profiles cost 10 % more); Nova through the US profile.
/// Claude bills cache writes at 1.25× and reads at 0.1× the input price; Nova bills writes
/// at the input price and reads at 0.25× it.
pub const MODELS: &[Model] = &[
    text(
        DEFAULT_TEXT,
        "Planning and long-form writing: the default planner and writer.",
        [3_000_000, 15_000_000, 300_000, 3_750_000],
        SchemaAnswers::StructuredOutput,
    ),
    text(
        DEFAULT_CHAT,
        "Fast, inexpensive writing and chat: short copy, posts, summaries.",
        [1_000_000, 5_000_000, 100_000, 1_250_000],
        SchemaAnswers::StructuredOutput,
    ),
    text(
        "us.amazon.nova-pro-v1:0",
        "Capable and economical writing.",
        [800_000, 3_200_000, 200_000, 800_000],
        SchemaAnswers::ToolUse,
    ),
    text(
        "us.amazon.nova-lite-v1:0",
        "Very inexpensive writing.",
        [60_000, 240_000, 15_000, 60_000],
        SchemaAnswers::ToolUse,
    ),
    text(
        "us.amazon.nova-micro-v1:0",
        "The least expensive: short, simple text.",
        [35_000, 140_000, 8_750, 35_000],
        SchemaAnswers::ToolUse,
    ),
    image(
        DEFAULT_IMAGE,
        "Images: the default image model.",
        40_000,
        ImageApi::NovaCanvas,
    ),
    image(
        "stability.sd3-5-large-v1:0",
        "Detailed, high-quality images (Stable Diffusion 3.5 Large).",
        80_000,
        ImageApi::Stability,
    ),
    image(
        "stability.stable-image-core-v1:1",
        "Images fast, at a lower price (Stable Image Core).",
        40_000,
        ImageApi::Stability,
    ),
    image(
        "amazon.titan-image-generator-v2:0",
        "Images at the lowest price.",
        10_000,
        ImageApi::NovaCanvas,
    ),
    text(
        OFFLINE_TEXT,
        "The local stack's deterministic stand-in, labelled in its output; free.",
        [0; 4],
        SchemaAnswers::Prompt,
    ),
    image(
        OFFLINE_IMAGE,
        "The local stack's placeholder images; free.",
        0,
        ImageApi::NovaCanvas,
    ),
];

/// Models the catalog offered once, with the one that replaced each: agents saved with them
/// run on the successor, and an agent saved again (or a new choice of one) keeps the
/// successor's id.
pub const RETIRED: &[(&str, &str)] = &[
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", DEFAULT_TEXT),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", DEFAULT_CHAT),
];

/// The offline text model: deterministic, no network, clearly labelled in its output.
pub const OFFLINE_TEXT: &str = "vellocity.offline-text-v1";
/// The offline image model.
pub const OFFLINE_IMAGE: &str = "vellocity.offline-image-v1";
/// Default planner and writer: Claude Sonnet 4.5.
pub const DEFAULT_TEXT: &str = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
/// Default model of a conversation, fast and inexpensive: Claude Haiku 4.5.
pub const DEFAULT_CHAT: &str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";
/// Default image model: Amazon Nova Canvas.
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

/// Looks a model up by id; a retired id finds its successor.
pub fn model(id: &str) -> Option<&'static Model> {
    let id = successor(id).unwrap_or(id);
    MODELS.iter().find(|m| m.id == id)
}

/// The model that replaced a retired one.
pub fn successor(id: &str) -> Option<&'static str> {
    RETIRED
        .iter()
        .find(|(old, _)| *old == id)
        .map(|(_, new)| *new)
}

/// The id to call for a chosen model (or the role's default): a retired id's successor.
pub fn to_call(chosen: Option<&str>, default: &'static str) -> String {
    let id = chosen.unwrap_or(default);
    successor(id).unwrap_or(id).to_owned()
}

impl Model {
    /// The cost of a call, in micro-dollars, rounded up so nothing is ever under-charged.
    pub fn cost(&self, tokens: &TokenUsage, images: i64) -> i64 {
        let tokens = tokens.input * self.input_per_million
            + tokens.output * self.output_per_million
            + tokens.cache_read * self.cache_read_per_million
            + tokens.cache_write * self.cache_write_per_million;
        (tokens + 999_999) / 1_000_000 + images * self.per_image
    }

    /// The most a call with `prompt` tokens in and `output` out may cost: its prompt read at
    /// the full price or written to the prompt cache, whichever is dearer.
    pub fn cost_bound(&self, prompt: i64, output: i64, images: i64) -> i64 {
        let written = TokenUsage {
            output,
            ..TokenUsage::default()
        };
        let read = TokenUsage {
            input: prompt,
            ..written
        };
        let cached = TokenUsage {
            cache_write: prompt,
            ..written
        };
        self.cost(&read, images).max(self.cost(&cached, images))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: i64, output: i64, cache_read: i64, cache_write: i64) -> TokenUsage {
        TokenUsage {
            input,
            output,
            cache_read,
            cache_write,
        }
    }

    #[test]
    fn costs_are_exact_and_round_up() {
        let sonnet = model(DEFAULT_TEXT).unwrap();
        assert_eq!(sonnet.cost(&tokens(1_000, 500, 0, 0), 0), 3_000 + 7_500);
        assert_eq!(
            sonnet.cost(&tokens(1, 0, 0, 0), 0),
            3,
            "3 micro-dollars for one input token"
        );
        assert_eq!(
            sonnet.cost(&tokens(0, 0, 10_000, 1_000), 0),
            3_000 + 3_750,
            "cached reads at a tenth of the input price, writes at 1.25 times"
        );
        assert_eq!(
            model(DEFAULT_IMAGE).unwrap().cost(&tokens(0, 0, 0, 0), 2),
            80_000
        );
        assert_eq!(
            model(OFFLINE_TEXT)
                .unwrap()
                .cost(&tokens(10_000, 10_000, 0, 0), 0),
            0
        );
    }

    #[test]
    fn model_ids_are_unique_and_retired_ids_name_a_current_successor() {
        for (i, a) in MODELS.iter().enumerate() {
            assert!(MODELS[i + 1..].iter().all(|b| b.id != a.id));
        }
        for (old, new) in RETIRED {
            assert!(MODELS.iter().all(|m| m.id != *old), "{old} is retired");
            assert_eq!(model(old).map(|m| m.id), Some(*new));
        }
        assert_eq!(
            to_call(
                Some("anthropic.claude-3-5-haiku-20241022-v1:0"),
                DEFAULT_TEXT
            ),
            DEFAULT_CHAT
        );
        assert_eq!(to_call(None, DEFAULT_TEXT), DEFAULT_TEXT);
    }

    #[test]
    fn claude_and_nova_are_called_through_inference_profiles() {
        for m in MODELS
            .iter()
            .filter(|m| m.id.contains("claude") || m.id.contains("nova-"))
        {
            if m.kind == ModelKind::Text {
                assert!(
                    m.id.starts_with("global.") || m.id.starts_with("us."),
                    "{} needs an inference profile id",
                    m.id
                );
            }
        }
    }
}
