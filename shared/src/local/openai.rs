//! An OpenAI-compatible endpoint (Ollama, llama.cpp's server, vLLM, …) behind the AI ports,
//! for running the local stack against a real model: `POST {base}/chat/completions` (streamed
//! as server-sent events when asked, with the usage in the last chunk), `GET {base}/models` to
//! find the endpoint's model, `POST {base}/images/generations` where the endpoint draws. The
//! base URL is the one OpenAI clients take, e.g. `http://127.0.0.1:11434/v1` for Ollama.
//!
//! Every request names the endpoint's model, whatever the agent chose from the catalog: the
//! answers record it, so usage shows which model really wrote them (at no catalog price).

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use crate::net::{authority_and_target, exchange, Connector};
use crate::ports::ai::{
    png_from_base64, AiError, ImageGen, ImageRequest, ImageResponse, Llm, Speaker, TextRequest,
    TextResponse, TextSink,
};

/// The longest a local model may take over one answer (a large model on a laptop is slow).
const CALL_TIMEOUT: Duration = Duration::from_secs(600);

/// An OpenAI-compatible endpoint and the models it serves.
#[derive(Clone)]
pub struct OpenAiCompatible {
    base: url::Url,
    text_model: String,
    image_model: Option<String>,
    api_key: Option<String>,
    connector: Connector,
}

impl OpenAiCompatible {
    /// The endpoint at `base`, writing with `text_model` (by default the first model the
    /// endpoint lists) and drawing with `image_model` (without one, images are refused).
    /// `OPENAI_API_KEY`, when set, is sent as the bearer token.
    pub async fn connect(
        base: &str,
        text_model: Option<String>,
        image_model: Option<String>,
    ) -> Result<Self, String> {
        let mut base =
            url::Url::parse(base).map_err(|e| format!("--model-url {base} is not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("--model-url {base} is not an http(s) URL"));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mut endpoint = OpenAiCompatible {
            base,
            text_model: text_model.clone().unwrap_or_default(),
            image_model,
            api_key: std::env::var("OPENAI_API_KEY")
                .ok()
                .filter(|k| !k.is_empty()),
            connector: Connector::default(),
        };
        if text_model.is_none() {
            endpoint.text_model = endpoint.first_model().await?;
        }
        Ok(endpoint)
    }

    /// The model that writes.
    pub fn text_model(&self) -> &str {
        &self.text_model
    }

    /// The first model the endpoint lists.
    async fn first_model(&self) -> Result<String, String> {
        let listed = self
            .call(http::Method::GET, "models", None)
            .await
            .and_then(|response| read_json(&response))
            .map_err(|e| format!("cannot list the models of {}: {e}", self.base))?;
        listed["data"][0]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{} lists no models; name one with --model-name", self.base))
    }

    /// Sends one request and answers its status, headers and streaming body.
    async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<http::Response<hyper::body::Incoming>, AiError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| AiError::Rejected(format!("{path}: {e}")))?;
        let target = resolve(&url).await?;
        let stream = self
            .connector
            .connect(&url, target)
            .await
            .map_err(|e| AiError::Unavailable(format!("cannot reach {}: {e}", self.base)))?;
        let (authority, path_and_query) = authority_and_target(&url);
        let mut request = http::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("host", authority)
            .header("content-type", "application/json")
            .header("user-agent", "Vellocity/1");
        if let Some(key) = &self.api_key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let request = request
            .body(Full::new(Bytes::from(
                body.map(Value::to_string).unwrap_or_default(),
            )))
            .map_err(|e| AiError::Rejected(e.to_string()))?;
        exchange(stream, request)
            .await
            .map_err(|e| AiError::Unavailable(format!("{}: {e}", self.base)))
    }

    /// Sends one request and reads its whole answer; an error status is mapped to its error.
    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Bytes, AiError> {
        let response = self.send(method, path, body).await?;
        let status = response.status();
        let bytes = read_all(response).await?;
        if !status.is_success() {
            return Err(refusal(status, &bytes));
        }
        Ok(bytes)
    }

    /// The chat completion request of a text request. A team's Bedrock guardrail cannot be
    /// applied here: such a request is refused rather than sent unguarded.
    fn chat_body(&self, request: &TextRequest, stream: bool) -> Result<Value, AiError> {
        if request.guardrail.is_some() {
            return Err(AiError::Rejected(
                "the team's Bedrock guardrail cannot be applied by an OpenAI-compatible endpoint; run with --model bedrock or remove the guardrail".into(),
            ));
        }
        let mut messages = vec![json!({"role": "system", "content": request.system})];
        for message in &request.messages {
            let role = match message.speaker {
                Speaker::User => "user",
                Speaker::Assistant => "assistant",
            };
            messages.push(json!({"role": role, "content": message.text}));
        }
        let mut body = json!({
            "model": self.text_model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": stream,
        });
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        if let Some(schema) = &request.answer_schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {
                    "name": schema.name,
                    "description": schema.description,
                    "schema": schema.schema,
                }
            });
        }
        Ok(body)
    }

    /// An answer with the usage the endpoint reported.
    fn answer(&self, text: String, finish_reason: &str, usage: &Value) -> TextResponse {
        // `prompt_tokens` counts the cached ones too; they are priced apart, as Bedrock's are.
        let prompt = usage["prompt_tokens"].as_i64().unwrap_or(0);
        let cached = usage["prompt_tokens_details"]["cached_tokens"]
            .as_i64()
            .unwrap_or(0)
            .clamp(0, prompt);
        TextResponse {
            text,
            model: self.text_model.clone(),
            input_tokens: prompt - cached,
            output_tokens: usage["completion_tokens"].as_i64().unwrap_or(0),
            cache_read_tokens: cached,
            cache_write_tokens: 0,
            stop_reason: stop_reason(finish_reason),
        }
    }
}

/// The address of the URL's host (the first it resolves to).
async fn resolve(url: &url::Url) -> Result<SocketAddr, AiError> {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(80);
    tokio::net::lookup_host((host, port))
        .await
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| AiError::Unavailable(format!("{host} does not resolve")))
}

async fn read_all(response: http::Response<hyper::body::Incoming>) -> Result<Bytes, AiError> {
    Ok(response
        .into_body()
        .collect()
        .await
        .map_err(|e| AiError::Unavailable(format!("reading the answer: {e}")))?
        .to_bytes())
}

fn read_json(bytes: &[u8]) -> Result<Value, AiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AiError::Unavailable(format!("the endpoint answered with invalid JSON: {e}")))
}

/// An error status as the error it means: 429 is throttling, 5xx (and 408) are worth a retry,
/// anything else is a refusal; the message is the endpoint's own (`{"error":{"message"}}`).
fn refusal(status: http::StatusCode, body: &[u8]) -> AiError {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = parsed["error"]["message"]
        .as_str()
        .or_else(|| parsed["error"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    let said = format!("HTTP {}: {message}", status.as_u16());
    match status.as_u16() {
        429 => AiError::Throttled(said),
        408 | 500..=599 => AiError::Unavailable(said),
        _ => AiError::Rejected(said),
    }
}

/// An OpenAI finish reason in Bedrock's words, which the rest of the product reads.
fn stop_reason(finish_reason: &str) -> String {
    match finish_reason {
        "stop" => "end_turn",
        "length" => "max_tokens",
        "content_filter" => "content_filtered",
        "tool_calls" => "tool_use",
        other => other,
    }
    .to_owned()
}

async fn within<T>(
    call: impl std::future::Future<Output = Result<T, AiError>>,
) -> Result<T, AiError> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| {
            AiError::Unavailable(format!("no answer within {} s", CALL_TIMEOUT.as_secs()))
        })?
}

#[async_trait]
impl Llm for OpenAiCompatible {
    async fn converse(&self, request: TextRequest) -> Result<TextResponse, AiError> {
        within(async {
            let body = self.chat_body(&request, false)?;
            let bytes = self
                .call(http::Method::POST, "chat/completions", Some(&body))
                .await?;
            let answer = read_json(&bytes)?;
            let choice = &answer["choices"][0];
            let text = choice["message"]["content"].as_str().ok_or_else(|| {
                AiError::Unavailable("the chat completion has no message content".into())
            })?;
            Ok(self.answer(
                text.to_owned(),
                choice["finish_reason"].as_str().unwrap_or("stop"),
                &answer["usage"],
            ))
        })
        .await
    }

    /// Streams the completion (`stream: true`): each `data:` event's delta goes to `sink`;
    /// the finish reason and, asked for with `include_usage`, the usage come last.
    async fn converse_stream(
        &self,
        request: TextRequest,
        sink: &TextSink,
    ) -> Result<TextResponse, AiError> {
        within(async {
            let body = self.chat_body(&request, true)?;
            let response = self
                .send(http::Method::POST, "chat/completions", Some(&body))
                .await?;
            let status = response.status();
            if !status.is_success() {
                return Err(refusal(status, &read_all(response).await?));
            }
            let mut events = ServerSentEvents::default();
            let mut body = response.into_body();
            let (mut text, mut finish, mut usage) = (String::new(), None, None);
            let mut done = false;
            while !done {
                let Some(frame) = body.frame().await else {
                    break;
                };
                let frame =
                    frame.map_err(|e| AiError::Unavailable(format!("reading the stream: {e}")))?;
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                for event in events.push(data) {
                    if event == "[DONE]" {
                        done = true;
                        break;
                    }
                    let chunk = read_json(event.as_bytes())?;
                    if let Some(piece) = chunk["choices"][0]["delta"]["content"].as_str() {
                        text.push_str(piece);
                        let _ = sink.send(piece.to_owned());
                    }
                    if let Some(reason) = chunk["choices"][0]["finish_reason"].as_str() {
                        finish = Some(reason.to_owned());
                    }
                    if chunk["usage"].is_object() {
                        usage = Some(chunk["usage"].clone());
                    }
                }
            }
            let Some(finish) = finish else {
                return Err(AiError::Unavailable(
                    "the stream ended before the completion finished".into(),
                ));
            };
            // A reply is charged by its tokens: without them it is not a reply to store.
            let Some(usage) = usage else {
                return Err(AiError::Unavailable(
                    "the stream ended without the completion's usage (the endpoint ignores stream_options.include_usage)".into(),
                ));
            };
            Ok(self.answer(text, &finish, &usage))
        })
        .await
    }
}

/// Server-sent events split out of a byte stream: the `data:` of each event, as events end
/// (a blank line), however the bytes are cut.
#[derive(Default)]
struct ServerSentEvents {
    pending: Vec<u8>,
}

impl ServerSentEvents {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some((end, blank)) = event_end(&self.pending) {
            let raw: Vec<u8> = self.pending.drain(..end + blank).collect();
            let text = String::from_utf8_lossy(&raw[..end]);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|data| data.strip_prefix(' ').unwrap_or(data))
                .collect();
            if !data.is_empty() {
                events.push(data.join("\n"));
            }
        }
        events
    }
}

/// Where the first complete event ends, and the length of the blank line ending it.
fn event_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let find = |gap: &[u8]| bytes.windows(gap.len()).position(|w| w == gap);
    [
        find(b"\n\n").map(|i| (i, 2)),
        find(b"\r\n\r\n").map(|i| (i, 4)),
    ]
    .into_iter()
    .flatten()
    .min()
}

#[async_trait]
impl ImageGen for OpenAiCompatible {
    async fn generate(&self, request: ImageRequest) -> Result<ImageResponse, AiError> {
        let Some(model) = &self.image_model else {
            return Err(AiError::Rejected(format!(
                "images are not configured for the model endpoint {} (name its image model with --image-model-name)",
                self.base
            )));
        };
        within(async {
            let body = json!({
                "model": model,
                "prompt": request.prompt,
                "n": 1,
                "size": format!("{}x{}", request.width, request.height),
                "response_format": "b64_json",
            });
            let bytes = self
                .call(http::Method::POST, "images/generations", Some(&body))
                .await
                .map_err(|e| match e {
                    AiError::Rejected(m) if m.starts_with("HTTP 404") => {
                        AiError::Rejected(format!(
                            "the model endpoint {} does not draw images ({m})",
                            self.base
                        ))
                    }
                    other => other,
                })?;
            let answer = read_json(&bytes)?;
            let image = answer["data"][0]["b64_json"].as_str().ok_or_else(|| {
                AiError::Unavailable("the image answer has no data[0].b64_json".into())
            })?;
            Ok(ImageResponse {
                model: model.clone(),
                png: png_from_base64(image)?,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_sent_events_are_split_however_the_bytes_arrive() {
        let mut events = ServerSentEvents::default();
        assert!(events.push(b"data: {\"a\"").is_empty());
        assert_eq!(events.push(b":1}\n\ndata: [DO"), ["{\"a\":1}"]);
        assert_eq!(events.push(b"NE]\r\n\r\n: comment\n\n"), ["[DONE]"]);
        let word = "caf\u{e9}".as_bytes();
        assert!(events.push(&[b"data: ", &word[..4]].concat()).is_empty());
        assert_eq!(events.push(&[&word[4..], b"\n\n"].concat()), ["caf\u{e9}"]);
    }

    #[test]
    fn error_statuses_map_to_retryable_or_refused() {
        let body = br#"{"error":{"message":"slow down"}}"#;
        assert_eq!(
            refusal(http::StatusCode::TOO_MANY_REQUESTS, body),
            AiError::Throttled("HTTP 429: slow down".into())
        );
        assert!(matches!(
            refusal(http::StatusCode::BAD_GATEWAY, b"upstream"),
            AiError::Unavailable(m) if m == "HTTP 502: upstream"
        ));
        assert!(matches!(
            refusal(http::StatusCode::NOT_FOUND, br#"{"error":"model 'x' not found"}"#),
            AiError::Rejected(m) if m.contains("model 'x' not found")
        ));
    }
}
