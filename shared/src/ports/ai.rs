//! The AI ports: a text model (Bedrock Converse in production) and an image model (Bedrock
//! InvokeModel). Every response reports its token or image usage, so every call has a cost.

use async_trait::async_trait;

use crate::domain::capabilities::{PlanningTask, WritingBrief};
use crate::domain::team::Guardrail;
use crate::domain::tokens::TokenUsage;

/// Who wrote a message of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    /// The user (or the workflow on its behalf).
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Who wrote it.
    pub speaker: Speaker,
    /// What it says.
    pub text: String,
}

/// A request to a text model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextRequest {
    /// The model id (see the catalog).
    pub model: String,
    /// The system prompt.
    pub system: String,
    /// How many bytes at the start of `system` are the same from one request to the next (the
    /// rules, the brand voice, the product facts): a model that caches prompts is asked to
    /// cache them (a Bedrock cache point), so later requests read them at the cached price.
    /// 0 when nothing is worth caching.
    pub stable_system_len: usize,
    /// The conversation so far, ending with the user's turn.
    pub messages: Vec<Message>,
    /// The most tokens the answer may have.
    pub max_tokens: i32,
    /// Sampling temperature (0.0–1.0).
    pub temperature: f32,
    /// What the request asks for, as data: a real model reads the prompt; the offline model
    /// reads this, so rewording a prompt changes nothing it does.
    pub task: Option<ModelTask>,
    /// The JSON Schema the answer must match, where the model can be held to one (Bedrock
    /// tool use, an OpenAI-compatible `response_format`); the answer is that JSON as text.
    pub answer_schema: Option<AnswerSchema>,
    /// The team's Bedrock guardrail, applied to the prompt and the answer; a model that
    /// cannot apply it refuses the request.
    pub guardrail: Option<Guardrail>,
}

impl TextRequest {
    /// The system prompt split where its stable part ends: (stable, the rest). A length that
    /// is not on a character boundary caches nothing.
    pub fn system_parts(&self) -> (&str, &str) {
        match self.system.is_char_boundary(self.stable_system_len) {
            true => self.system.split_at(self.stable_system_len),
            false => ("", self.system.as_str()),
        }
    }
}

/// A JSON Schema an answer must match, with the name and purpose a model is told.
#[derive(Clone, Debug, PartialEq)]
pub struct AnswerSchema {
    /// A short identifier (`plan`).
    pub name: &'static str,
    /// What the answer is, for the model.
    pub description: &'static str,
    /// The schema.
    pub schema: serde_json::Value,
}

/// What a text request asks for, as data.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelTask {
    /// A plan.
    Plan(PlanningTask),
    /// A step's copy.
    Write(WritingBrief),
    /// A chat reply.
    Chat(ChatBrief),
}

/// What a chat reply is about, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatBrief {
    /// The company whose voice the reply is in.
    pub brand: Option<String>,
    /// The product whose facts the reply knows.
    pub product: Option<String>,
    /// The person's message.
    pub question: String,
    /// How many earlier messages came with it.
    pub earlier_messages: usize,
}

/// A text model's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextResponse {
    /// The answer.
    pub text: String,
    /// The model that answered.
    pub model: String,
    /// Tokens read at the full price (not read from or written to the prompt cache).
    pub input_tokens: i64,
    /// Tokens written.
    pub output_tokens: i64,
    /// Prompt tokens read from the model's prompt cache.
    pub cache_read_tokens: i64,
    /// Prompt tokens written to the model's prompt cache.
    pub cache_write_tokens: i64,
    /// Why the model stopped (`end_turn`, `max_tokens`, …).
    pub stop_reason: String,
}

/// The stop reason of an answer a guardrail intervened in (Bedrock's words).
pub const GUARDRAIL_INTERVENED: &str = "guardrail_intervened";

impl TextResponse {
    /// Whether the team's guardrail intervened: the text is the guardrail's message.
    pub fn guardrail_intervened(&self) -> bool {
        self.stop_reason == GUARDRAIL_INTERVENED
    }

    /// The tokens the answer used.
    pub fn tokens(&self) -> TokenUsage {
        TokenUsage {
            input: self.input_tokens,
            output: self.output_tokens,
            cache_read: self.cache_read_tokens,
            cache_write: self.cache_write_tokens,
        }
    }
}

/// A request to an image model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRequest {
    /// The model id.
    pub model: String,
    /// What to draw.
    pub prompt: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Seed, for reproducible images.
    pub seed: u32,
}

/// An image model's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageResponse {
    /// The model that drew it.
    pub model: String,
    /// The image, PNG-encoded.
    pub png: Vec<u8>,
}

/// What can go wrong calling a model. `Throttled` and `Unavailable` are worth retrying with
/// backoff; `Rejected` is not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AiError {
    /// Too many requests; retry later.
    #[error("the model is throttling requests: {0}")]
    Throttled(String),
    /// The model or service is temporarily unavailable; retry later.
    #[error("the model is unavailable: {0}")]
    Unavailable(String),
    /// The request was refused (validation, access, unknown model, content filter).
    #[error("the model refused the request: {0}")]
    Rejected(String),
}

/// Where a streamed answer's text goes, piece by piece, as the model writes it.
pub type TextSink = tokio::sync::mpsc::UnboundedSender<String>;

/// A text model.
#[async_trait]
pub trait Llm: Send + Sync {
    /// Answers a conversation.
    async fn converse(&self, request: TextRequest) -> Result<TextResponse, AiError>;

    /// Answers a conversation, handing the text to `sink` as it is written; returns the whole
    /// answer with its tokens once it is done. A model that cannot stream hands it over once.
    async fn converse_stream(
        &self,
        request: TextRequest,
        sink: &TextSink,
    ) -> Result<TextResponse, AiError> {
        let response = self.converse(request).await?;
        let _ = sink.send(response.text.clone());
        Ok(response)
    }
}

/// Splits a text into the pieces a streamed answer arrives in: a few words each, with their
/// spaces, so that joined they are the text again.
pub fn pieces(text: &str, words: usize) -> Vec<String> {
    let parts: Vec<&str> = text.split_inclusive(' ').collect();
    parts
        .chunks(words.max(1))
        .map(|chunk| chunk.concat())
        .collect()
}

/// The PNG of an image model's base64 answer; anything else means the model misbehaved.
pub fn png_from_base64(image: &str) -> Result<Vec<u8>, AiError> {
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(image)
        .map_err(|e| AiError::Unavailable(format!("the image is not base64: {e}")))?;
    if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(AiError::Unavailable(
            "the image model did not return a PNG".into(),
        ));
    }
    Ok(png)
}

/// An image model.
#[async_trait]
pub trait ImageGen: Send + Sync {
    /// Draws an image.
    async fn generate(&self, request: ImageRequest) -> Result<ImageResponse, AiError>;
}
