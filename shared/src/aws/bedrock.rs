//! Bedrock adapters: `Converse` (and `ConverseStream`) for text models and `InvokeModel` (Amazon Nova Canvas / Titan
//! Image request format) for image models.

use async_trait::async_trait;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseOutput, ConverseStreamOutput,
    InferenceConfiguration, Message as BedrockMessage, SystemContentBlock,
};
use aws_sdk_bedrockruntime::Client;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::ports::ai::{
    AiError, ImageGen, ImageRequest, ImageResponse, Llm, Speaker, TextRequest, TextResponse,
    TextSink,
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
            .system(SystemContentBlock::Text(request.system.clone()))
            .set_messages(Some(messages_of(&request)?))
            .inference_config(inference_of(&request))
            .send()
            .await
            .map_err(map_error)?;
        let text = match output.output() {
            Some(ConverseOutput::Message(message)) => message
                .content()
                .iter()
                .filter_map(|block| match block {
                    ContentBlock::Text(text) => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(""),
            _ => return Err(AiError::Unavailable("Converse returned no message".into())),
        };
        let (input_tokens, output_tokens) = output.usage().map_or((0, 0), |u| {
            (i64::from(u.input_tokens()), i64::from(u.output_tokens()))
        });
        Ok(TextResponse {
            text,
            model: request.model,
            input_tokens,
            output_tokens,
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
            .system(SystemContentBlock::Text(request.system.clone()))
            .set_messages(Some(messages_of(&request)?))
            .inference_config(inference_of(&request))
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
                    usage = metadata
                        .usage()
                        .map(|u| (i64::from(u.input_tokens()), i64::from(u.output_tokens())));
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
        let Some((input_tokens, output_tokens)) = usage else {
            return Err(AiError::Unavailable(
                "ConverseStream ended without the message's token usage".into(),
            ));
        };
        Ok(TextResponse {
            text,
            model: request.model,
            input_tokens,
            output_tokens,
            stop_reason,
        })
    }
}

#[async_trait]
impl ImageGen for Bedrock {
    async fn generate(&self, request: ImageRequest) -> Result<ImageResponse, AiError> {
        let body = serde_json::json!({
            "taskType": "TEXT_IMAGE",
            "textToImageParams": { "text": request.prompt },
            "imageGenerationConfig": {
                "numberOfImages": 1,
                "width": request.width,
                "height": request.height,
                "seed": request.seed,
            }
        });
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
        let image = answer["images"][0]
            .as_str()
            .ok_or_else(|| AiError::Unavailable("image model returned no image".into()))?;
        let png = STANDARD
            .decode(image)
            .map_err(|e| AiError::Unavailable(format!("image is not base64: {e}")))?;
        if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(AiError::Unavailable(
                "image model did not return a PNG".into(),
            ));
        }
        Ok(ImageResponse {
            model: request.model,
            png,
        })
    }
}
