//! Bedrock adapters: `Converse` (and `ConverseStream`) for text models, with a prompt-cache
//! point after the stable system prompt, and an answer schema held by structured output (or,
//! for models without it, a tool the model must call);
//! `InvokeModel` for image models, in the request format of the model's family (Amazon Nova
//! Canvas / Titan, or Stability AI).

use async_trait::async_trait;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ContentBlockDelta, ConversationRole,
    ConverseOutput, ConverseStreamOutput, GuardrailConfiguration, GuardrailStreamConfiguration,
    GuardrailStreamProcessingMode, GuardrailTrace, InferenceConfiguration, JsonSchemaDefinition,
    Message as BedrockMessage, OutputConfig, OutputFormat, OutputFormatStructure, OutputFormatType,
    SpecificToolChoice, SystemContentBlock, TokenUsage, Tool, ToolChoice, ToolConfiguration,
    ToolInputSchema, ToolSpecification,
};
use aws_sdk_bedrockruntime::Client;
use aws_smithy_types::{Document, Number};
use serde_json::Value;

use crate::domain::catalog::{self, ImageApi, SchemaAnswers};
use crate::ports::ai::{
    png_from_base64, AiError, AnswerSchema, ImageGen, ImageRequest, ImageResponse, Llm, Speaker,
    TextRequest, TextResponse, TextSink,
};

/// Bedrock behind the AI ports.
#[derive(Clone)]
pub struct Bedrock {
    client: Client,
}

impl Bedrock {
    /// Wraps a client built once per cold start.
    pub fn new(client: Client) -> Self {
        Bedrock { client }
    }
}

/// Maps Bedrock's errors by their stable codes: throttling and transient unavailability are
/// retryable, everything else is a refusal.
fn map_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: SdkError<E, R>,
) -> AiError {
    let code = error.code().unwrap_or_default().to_owned();
    let message = error.message().unwrap_or_default().to_owned();
    match code.as_str() {
        "ThrottlingException" | "TooManyRequestsException" => AiError::Throttled(message),
        "ServiceUnavailableException"
        | "ModelNotReadyException"
        | "ModelTimeoutException"
        | "InternalServerException" => AiError::Unavailable(format!("{code}: {message}")),
        "" => AiError::Unavailable(
            aws_sdk_bedrockruntime::error::DisplayErrorContext(&error).to_string(),
        ),
        _ => AiError::Rejected(format!("{code}: {message}")),
    }
}

/// The aspect ratio Stability models take nearest to a width and height.
fn aspect_ratio(width: u32, height: u32) -> &'static str {
    const RATIOS: [(&str, f64); 9] = [
        ("21:9", 21.0 / 9.0),
        ("16:9", 16.0 / 9.0),
        ("3:2", 1.5),
        ("5:4", 1.25),
        ("1:1", 1.0),
        ("4:5", 0.8),
        ("2:3", 2.0 / 3.0),
        ("9:16", 9.0 / 16.0),
        ("9:21", 9.0 / 21.0),
    ];
    let wanted = f64::from(width.max(1)) / f64::from(height.max(1));
    RATIOS
        .iter()
        .min_by(|a, b| (a.1 - wanted).abs().total_cmp(&(b.1 - wanted).abs()))
        .map_or("1:1", |r| r.0)
}

/// The conversation of a request as Bedrock's messages.
fn messages_of(request: &TextRequest) -> Result<Vec<BedrockMessage>, AiError> {
    request
        .messages
        .iter()
        .map(|message| {
            let role = match message.speaker {
                Speaker::User => ConversationRole::User,
                Speaker::Assistant => ConversationRole::Assistant,
            };
            BedrockMessage::builder()
                .role(role)
                .content(ContentBlock::Text(message.text.clone()))
                .build()
                .map_err(|e| AiError::Rejected(e.to_string()))
        })
        .collect()
}

/// The system prompt as Bedrock's blocks: its stable part, a cache point where the model
/// caches prompts, then the rest.
fn system_of(request: &TextRequest) -> Result<Vec<SystemContentBlock>, AiError> {
    let (stable, rest) = request.system_parts();
    let caches = catalog::model(&request.model).is_some_and(|m| m.caches_prompts);
    let mut blocks = Vec::new();
    if !stable.is_empty() {
        blocks.push(SystemContentBlock::Text(stable.to_owned()));
        if caches {
            let point = CachePointBlock::builder()
                .r#type(CachePointType::Default)
                .build()
                .map_err(|e| AiError::Rejected(e.to_string()))?;
            blocks.push(SystemContentBlock::CachePoint(point));
        }
    }
    if !rest.is_empty() {
        blocks.push(SystemContentBlock::Text(rest.to_owned()));
    }
    Ok(blocks)
}

/// How the request's model is held to its answer schema, if the request has one.
fn schema_answers(request: &TextRequest) -> Option<(&AnswerSchema, SchemaAnswers)> {
    let schema = request.answer_schema.as_ref()?;
    let answers =
        catalog::model(&request.model).map_or(SchemaAnswers::Prompt, |m| m.schema_answers);
    Some((schema, answers))
}

/// Structured output (`outputConfig.textFormat`), for a request with an answer schema and a
/// model that supports it.
fn output_config_of(request: &TextRequest) -> Result<Option<OutputConfig>, AiError> {
    let Some((schema, SchemaAnswers::StructuredOutput)) = schema_answers(request) else {
        return Ok(None);
    };
    let definition = JsonSchemaDefinition::builder()
        .schema(schema.schema.to_string())
        .name(schema.name)
        .description(schema.description)
        .build()
        .map_err(|e| AiError::Rejected(e.to_string()))?;
    let format = OutputFormat::builder()
        .r#type(OutputFormatType::JsonSchema)
        .structure(OutputFormatStructure::JsonSchema(definition))
        .build()
        .map_err(|e| AiError::Rejected(e.to_string()))?;
    Ok(Some(OutputConfig::builder().text_format(format).build()))
}

/// A tool whose input is the answer, which the model must call: how models without structured
/// output (Amazon Nova) are held to an answer schema.
fn tool_config_of(request: &TextRequest) -> Result<Option<ToolConfiguration>, AiError> {
    let Some((schema, SchemaAnswers::ToolUse)) = schema_answers(request) else {
        return Ok(None);
    };
    let rejected = |e: aws_sdk_bedrockruntime::error::BuildError| AiError::Rejected(e.to_string());
    let tool = ToolSpecification::builder()
        .name(schema.name)
        .description(schema.description)
        .input_schema(ToolInputSchema::Json(to_document(&schema.schema)))
        .build()
        .map_err(rejected)?;
    let choice = SpecificToolChoice::builder()
        .name(schema.name)
        .build()
        .map_err(rejected)?;
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(tool))
        .tool_choice(ToolChoice::Tool(choice))
        .build()
        .map(Some)
        .map_err(rejected)
}

/// JSON as a Smithy document.
fn to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Number::PosInt(u),
            (None, Some(i)) => Number::NegInt(i),
            _ => Number::Float(n.as_f64().unwrap_or_default()),
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        Value::Object(object) => Document::Object(
            object
                .iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect(),
        ),
    }
}

/// A Smithy document as JSON.
fn from_document(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => Value::from(*f),
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(from_document).collect()),
        Document::Object(object) => Value::Object(
            object
                .iter()
                .map(|(k, v)| (k.clone(), from_document(v)))
                .collect(),
        ),
    }
}

/// The team's guardrail on a Converse call.
fn guardrail_of(request: &TextRequest) -> Option<GuardrailConfiguration> {
    request.guardrail.as_ref().map(|g| {
        GuardrailConfiguration::builder()
            .guardrail_identifier(&g.id)
            .guardrail_version(&g.version)
            .trace(GuardrailTrace::Disabled)
            .build()
    })
}

/// The team's guardrail on a ConverseStream call: applied synchronously, so no text reaches
/// the person before the guardrail has seen it.
fn stream_guardrail_of(request: &TextRequest) -> Option<GuardrailStreamConfiguration> {
    request.guardrail.as_ref().map(|g| {
        GuardrailStreamConfiguration::builder()
            .guardrail_identifier(&g.id)
            .guardrail_version(&g.version)
            .trace(GuardrailTrace::Disabled)
            .stream_processing_mode(GuardrailStreamProcessingMode::Sync)
            .build()
    })
}

/// The tokens of an answer: (input, output, cache read, cache write).
fn tokens_of(usage: &TokenUsage) -> (i64, i64, i64, i64) {
    (
        i64::from(usage.input_tokens()),
        i64::from(usage.output_tokens()),
        i64::from(usage.cache_read_input_tokens().unwrap_or(0)),
        i64::from(usage.cache_write_input_tokens().unwrap_or(0)),
    )
}

fn inference_of(request: &TextRequest) -> InferenceConfiguration {
    InferenceConfiguration::builder()
        .max_tokens(request.max_tokens)
        .temperature(request.temperature)
        .build()
}

#[async_trait]
impl Llm for Bedrock {
    async fn converse(&self, request: TextRequest) -> Result<TextResponse, AiError> {
        let output = self
            .client
            .converse()
            .model_id(&request.model)
            .set_system(Some(system_of(&request)?))
            .set_messages(Some(messages_of(&request)?))
            .inference_config(inference_of(&request))
            .set_output_config(output_config_of(&request)?)
            .set_guardrail_config(guardrail_of(&request))
            .set_tool_config(tool_config_of(&request)?)
            .send()
            .await
            .map_err(map_error)?;
        let text = match output.output() {
            Some(ConverseOutput::Message(message)) => message
                .content()
                .iter()
                .filter_map(|block| match block {
                    ContentBlock::Text(text) => Some(text.clone()),
                    // The answer given as the input of the tool the model was made to call.
                    ContentBlock::ToolUse(call) => Some(from_document(call.input()).to_string()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(""),
            _ => return Err(AiError::Unavailable("Converse returned no message".into())),
        };
        let (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens) =
            output.usage().map_or((0, 0, 0, 0), tokens_of);
        Ok(TextResponse {
            text,
            model: request.model,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            stop_reason: output.stop_reason().as_str().to_owned(),
        })
    }

    /// ConverseStream: each text delta goes to `sink` as it arrives; the stop reason and the
    /// token usage come in the stream's last events.
    async fn converse_stream(
        &self,
        request: TextRequest,
        sink: &TextSink,
    ) -> Result<TextResponse, AiError> {
        let mut output = self
            .client
            .converse_stream()
            .model_id(&request.model)
            .set_system(Some(system_of(&request)?))
            .set_messages(Some(messages_of(&request)?))
            .inference_config(inference_of(&request))
            .set_output_config(output_config_of(&request)?)
            .set_guardrail_config(stream_guardrail_of(&request))
            .send()
            .await
            .map_err(map_error)?;
        let mut text = String::new();
        let (mut stop_reason, mut usage) = (None, None);
        while let Some(event) = output.stream.recv().await.map_err(map_error)? {
            match event {
                ConverseStreamOutput::ContentBlockDelta(delta) => {
                    if let Some(ContentBlockDelta::Text(piece)) = delta.delta() {
                        text.push_str(piece);
                        let _ = sink.send(piece.clone());
                    }
                }
                ConverseStreamOutput::MessageStop(stop) => {
                    stop_reason = Some(stop.stop_reason().as_str().to_owned());
                }
                ConverseStreamOutput::Metadata(metadata) => {
                    usage = metadata.usage().map(tokens_of);
                }
                _ => {}
            }
        }
        let Some(stop_reason) = stop_reason else {
            return Err(AiError::Unavailable(
                "ConverseStream ended before the message stopped".into(),
            ));
        };
        // A reply is charged by its tokens: without them it is not a reply to store.
        let Some((input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)) = usage
        else {
            return Err(AiError::Unavailable(
                "ConverseStream ended without the message's token usage".into(),
            ));
        };
        Ok(TextResponse {
            text,
            model: request.model,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            stop_reason,
        })
    }
}

#[async_trait]
impl ImageGen for Bedrock {
    async fn generate(&self, request: ImageRequest) -> Result<ImageResponse, AiError> {
        let api = catalog::model(&request.model)
            .and_then(|m| m.image_api)
            .unwrap_or(ImageApi::NovaCanvas);
        let body = match api {
            ImageApi::NovaCanvas => serde_json::json!({
                "taskType": "TEXT_IMAGE",
                "textToImageParams": { "text": request.prompt },
                "imageGenerationConfig": {
                    "numberOfImages": 1,
                    "width": request.width,
                    "height": request.height,
                    "seed": request.seed,
                }
            }),
            ImageApi::Stability => serde_json::json!({
                "prompt": request.prompt,
                "mode": "text-to-image",
                "aspect_ratio": aspect_ratio(request.width, request.height),
                "output_format": "png",
                "seed": request.seed,
            }),
        };
        let output = self
            .client
            .invoke_model()
            .model_id(&request.model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(
                serde_json::to_vec(&body).map_err(|e| AiError::Rejected(e.to_string()))?,
            ))
            .send()
            .await
            .map_err(map_error)?;
        let answer: serde_json::Value =
            serde_json::from_slice(output.body().as_ref()).map_err(|e| {
                AiError::Unavailable(format!("image model answered with invalid JSON: {e}"))
            })?;
        if let Some(error) = answer
            .get("error")
            .and_then(|e| e.as_str())
            .filter(|e| !e.is_empty())
        {
            return Err(AiError::Rejected(error.to_owned()));
        }
        // Stability models say why an image was withheld (e.g. its content filter).
        if let Some(reason) = answer["finish_reasons"][0].as_str() {
            return Err(AiError::Rejected(format!(
                "the image was not drawn: {reason}"
            )));
        }
        let image = answer["images"][0]
            .as_str()
            .ok_or_else(|| AiError::Unavailable("image model returned no image".into()))?;
        Ok(ImageResponse {
            model: request.model,
            png: png_from_base64(image)?,
        })
    }
}
