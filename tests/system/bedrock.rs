//! The Bedrock adapters' real SDK calls against a local endpoint that speaks the Converse and
//! InvokeModel wire formats (restJson1) and ConverseStream's (the AWS event stream framing),
//! including throttling and refusals.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message as EventMessage};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};
use vellocity::aws::bedrock::Bedrock;
use vellocity::ports::ai::{AiError, ImageGen, ImageRequest, Llm, Message, Speaker, TextRequest};

use crate::http_endpoint;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

/// What the endpoint received: (path, JSON body).
type Received = Arc<Mutex<Vec<(String, Value)>>>;

fn answer(path: &str, body: &Value) -> (u16, Vec<(&'static str, &'static str)>, Value) {
    let model = path
        .trim_start_matches("/model/")
        .split('/')
        .next()
        .unwrap_or_default();
    let model = percent_decode(model);
    match model.as_str() {
        "throttled" => (
            429,
            vec![("x-amzn-errortype", "ThrottlingException")],
            json!({"message": "Too many requests, please wait."}),
        ),
        "forbidden" => (
            403,
            vec![("x-amzn-errortype", "AccessDeniedException")],
            json!({"message": "You don't have access to the model."}),
        ),
        "unavailable" => (
            503,
            vec![("x-amzn-errortype", "ServiceUnavailableException")],
            json!({"message": "Service unavailable."}),
        ),
        _ if path.ends_with("/converse") => {
            let last = body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .cloned()
                .unwrap_or_default();
            let text = last["content"][0]["text"].as_str().unwrap_or_default();
            (
                200,
                vec![],
                json!({
                    "output": {"message": {"role": "assistant", "content": [{"text": format!("echo: {text}")}]}},
                    "stopReason": "end_turn",
                    "usage": {"inputTokens": 42, "outputTokens": 7, "totalTokens": 49},
                    "metrics": {"latencyMs": 12}
                }),
            )
        }
        _ if path.ends_with("/converse-stream") => (200, vec![], Value::Null),
        // Stability answers why an image was withheld in its finish reasons.
        "stability.stable-image-core-v1:1" => (
            200,
            vec![],
            json!({"seeds": [1], "finish_reasons": ["Filter reason: prompt"], "images": []}),
        ),
        _ if path.ends_with("/invoke") => (
            200,
            vec![],
            json!({"images": [base64::engine::general_purpose::STANDARD.encode(PNG)], "error": null}),
        ),
        _ => (
            404,
            vec![("x-amzn-errortype", "ResourceNotFoundException")],
            json!({"message": "no such operation"}),
        ),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// A ConverseStream answer in the AWS event stream framing: the message's start, the echo of
/// the last user message in three text deltas, its stop, and the usage.
fn converse_stream(body: &Value) -> Vec<u8> {
    let text = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(|m| {
            m["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default();
    let mut events = vec![("messageStart", json!({"role": "assistant"}))];
    for piece in ["echo: ", &text[..text.len() / 2], &text[text.len() / 2..]] {
        events.push((
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": piece}}),
        ));
    }
    events.push(("contentBlockStop", json!({"contentBlockIndex": 0})));
    events.push(("messageStop", json!({"stopReason": "end_turn"})));
    events.push((
        "metadata",
        json!({"usage": {"inputTokens": 42, "outputTokens": 7, "totalTokens": 49}, "metrics": {"latencyMs": 12}}),
    ));
    let mut framed = Vec::new();
    for (kind, payload) in events {
        let message = EventMessage::new(Bytes::from(payload.to_string()))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".into()),
            ))
            .add_header(Header::new(":event-type", HeaderValue::String(kind.into())))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ));
        aws_smithy_eventstream::frame::write_message_to(&message, &mut framed).unwrap();
    }
    framed
}

/// Starts the endpoint on a free loopback port.
async fn endpoint() -> (SocketAddr, Received) {
    let received: Received = Arc::default();
    let log = received.clone();
    let addr = http_endpoint::serve(move |parts, bytes| {
        let path = parts.uri.path().to_owned();
        let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        log.lock().unwrap().push((path.clone(), body.clone()));
        let (status, headers, reply) = answer(&path, &body);
        if status == 200 && path.ends_with("/converse-stream") {
            return hyper::Response::builder()
                .header("content-type", "application/vnd.amazon.eventstream")
                .body(Full::new(Bytes::from(converse_stream(&body))))
                .unwrap();
        }
        let mut response = hyper::Response::builder()
            .status(status)
            .header("content-type", "application/json");
        for (name, value) in headers {
            response = response.header(name, value);
        }
        response
            .body(Full::new(Bytes::from(reply.to_string())))
            .unwrap()
    })
    .await;
    (addr, received)
}

/// Bedrock at a local endpoint, without retries (a test sees each answer as it is).
pub(crate) fn bedrock(addr: SocketAddr) -> Bedrock {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(format!("http://{addr}"))
        .http_client(vellocity::aws::https_client())
        .retry_config(
            aws_sdk_bedrockruntime::config::retry::RetryConfig::standard().with_max_attempts(1),
        )
        .build();
    Bedrock::new(aws_sdk_bedrockruntime::Client::from_conf(config))
}

/// A one-question request to `model`.
pub(crate) fn text_request(model: &str) -> TextRequest {
    TextRequest {
        model: model.into(),
        system: "You write in the Acme brand voice.".into(),
        messages: vec![Message {
            speaker: Speaker::User,
            text: "Write a tagline.".into(),
        }],
        max_tokens: 256,
        temperature: 0.5,
        ..TextRequest::default()
    }
}

#[tokio::test]
async fn converse_sends_the_system_prompt_and_messages_and_reads_text_and_usage() {
    let (addr, received) = endpoint().await;
    let response = bedrock(addr)
        .converse(text_request("anthropic.claude-3-5-sonnet-20241022-v2:0"))
        .await
        .unwrap();
    assert_eq!(response.text, "echo: Write a tagline.");
    assert_eq!((response.input_tokens, response.output_tokens), (42, 7));
    assert_eq!(response.stop_reason, "end_turn");
    let (path, body) = received.lock().unwrap()[0].clone();
    assert_eq!(
        percent_decode(&path),
        "/model/anthropic.claude-3-5-sonnet-20241022-v2:0/converse"
    );
    assert_eq!(
        body["system"],
        json!([{"text": "You write in the Acme brand voice."}])
    );
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"text": "Write a tagline."}]}])
    );
    assert_eq!(body["inferenceConfig"]["maxTokens"], 256);
}

#[tokio::test]
async fn converse_stream_hands_each_text_delta_over_as_it_arrives_and_reads_the_usage() {
    let (addr, received) = endpoint().await;
    let (sink, mut pieces) = tokio::sync::mpsc::unbounded_channel();
    let response = bedrock(addr)
        .converse_stream(
            text_request("anthropic.claude-3-5-sonnet-20241022-v2:0"),
            &sink,
        )
        .await
        .unwrap();
    drop(sink);
    let mut streamed = Vec::new();
    while let Some(piece) = pieces.recv().await {
        streamed.push(piece);
    }
    assert_eq!(streamed, ["echo: ", "Write a ", "tagline."]);
    assert_eq!(response.text, "echo: Write a tagline.");
    assert_eq!((response.input_tokens, response.output_tokens), (42, 7));
    assert_eq!(response.stop_reason, "end_turn");
    let (path, body) = received.lock().unwrap()[0].clone();
    assert!(
        percent_decode(&path).ends_with("/converse-stream"),
        "{path}"
    );
    assert_eq!(body["inferenceConfig"]["maxTokens"], 256);
    let (sink, _) = tokio::sync::mpsc::unbounded_channel();
    assert!(matches!(
        bedrock(addr)
            .converse_stream(text_request("throttled"), &sink)
            .await,
        Err(AiError::Throttled(_))
    ));
}

#[tokio::test]
async fn throttling_is_retryable_and_refusals_are_not() {
    let (addr, _) = endpoint().await;
    let bedrock = bedrock(addr);
    assert!(
        matches!(bedrock.converse(text_request("throttled")).await, Err(AiError::Throttled(m)) if m.contains("Too many requests"))
    );
    assert!(matches!(
        bedrock.converse(text_request("unavailable")).await,
        Err(AiError::Unavailable(_))
    ));
    assert!(
        matches!(bedrock.converse(text_request("forbidden")).await, Err(AiError::Rejected(m)) if m.contains("AccessDeniedException"))
    );
}

#[tokio::test]
async fn invoke_model_sends_a_nova_canvas_request_and_decodes_the_png() {
    let (addr, received) = endpoint().await;
    let request = ImageRequest {
        model: "amazon.nova-canvas-v1:0".into(),
        prompt: "A rocket over a city".into(),
        width: 1280,
        height: 720,
        seed: 7,
    };
    let image = bedrock(addr).generate(request).await.unwrap();
    assert_eq!(image.png, PNG);
    let (path, body) = received.lock().unwrap()[0].clone();
    assert!(percent_decode(&path).ends_with("/model/amazon.nova-canvas-v1:0/invoke"));
    assert_eq!(body["taskType"], "TEXT_IMAGE");
    assert_eq!(body["textToImageParams"]["text"], "A rocket over a city");
    assert_eq!(
        body["imageGenerationConfig"],
        json!({"numberOfImages": 1, "width": 1280, "height": 720, "seed": 7})
    );
    let throttled = ImageRequest {
        model: "throttled".into(),
        prompt: "x".into(),
        width: 1024,
        height: 1024,
        seed: 1,
    };
    assert!(matches!(
        bedrock(addr).generate(throttled).await,
        Err(AiError::Throttled(_))
    ));
}

#[tokio::test]
async fn invoke_model_sends_a_stability_request_by_aspect_ratio_and_reads_a_filtered_answer_as_a_refusal(
) {
    let (addr, received) = endpoint().await;
    let request = |model: &str| ImageRequest {
        model: model.into(),
        prompt: "A rocket over a city".into(),
        width: 1280,
        height: 720,
        seed: 7,
    };
    let image = bedrock(addr)
        .generate(request("stability.sd3-5-large-v1:0"))
        .await
        .unwrap();
    assert_eq!(image.png, PNG);
    let (path, body) = received.lock().unwrap()[0].clone();
    assert!(percent_decode(&path).ends_with("/model/stability.sd3-5-large-v1:0/invoke"));
    assert_eq!(
        body,
        json!({"prompt": "A rocket over a city", "mode": "text-to-image", "aspect_ratio": "16:9",
               "output_format": "png", "seed": 7})
    );
    assert!(matches!(
        bedrock(addr).generate(request("stability.stable-image-core-v1:1")).await,
        Err(AiError::Rejected(m)) if m.contains("Filter reason: prompt")
    ));
}

/// The stream carries what Converse does: the stable system prompt, a cache point for a model
/// that caches prompts, the rest; and the team's guardrail, applied synchronously so no text
/// reaches the person before the guardrail has seen it.
#[tokio::test]
async fn converse_stream_sends_the_cache_point_and_the_guardrail_in_synchronous_mode() {
    let (addr, received) = endpoint().await;
    let stable = "You write in the Acme brand voice.";
    let request = TextRequest {
        system: format!("{stable}\n<this_request>recent work</this_request>"),
        stable_system_len: stable.len(),
        guardrail: Some(vellocity::domain::team::Guardrail {
            id: "gr1a2b3c".into(),
            version: "2".into(),
        }),
        ..text_request(vellocity::domain::catalog::DEFAULT_CHAT)
    };
    let (sink, _pieces) = tokio::sync::mpsc::unbounded_channel();
    bedrock(addr).converse_stream(request, &sink).await.unwrap();
    let (_, body) = received.lock().unwrap()[0].clone();
    assert_eq!(
        body["system"],
        json!([{"text": stable}, {"cachePoint": {"type": "default"}},
               {"text": "\n<this_request>recent work</this_request>"}])
    );
    assert_eq!(
        body["guardrailConfig"],
        json!({"guardrailIdentifier": "gr1a2b3c", "guardrailVersion": "2", "trace": "disabled",
               "streamProcessingMode": "sync"})
    );
}
