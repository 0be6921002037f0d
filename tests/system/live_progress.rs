//! Live progress: an execution's events as Server-Sent Events from the local server, from the
//! first event for a client that connects late, resumed after `Last-Event-ID` without gaps or
//! duplicates, ending after the terminal event; the same team rules as `GET`. And a chat
//! reply streamed as the model writes it, then its figures.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use vellocity::ports::ai::{AiError, Llm, TextRequest, TextResponse, TextSink};
use vellocity_local::SlowModel;

use crate::helpers::{TestApp, TestTeam};

/// An SSE connection to the local server.
struct Stream {
    status: u16,
    content_type: String,
    body: hyper::body::Incoming,
    buffer: String,
}

/// One frame: (id, event type, data).
type Frame = (String, String, Value);

async fn connect(
    addr: SocketAddr,
    key: &str,
    execution: &str,
    last_event_id: Option<&str>,
) -> Stream {
    let path = format!("/v1/executions/{execution}/events");
    let resume: Vec<(&str, &str)> = last_event_id
        .map(|id| ("last-event-id", id))
        .into_iter()
        .collect();
    open(addr, "GET", &path, key, &resume, String::new()).await
}

/// A request to the local server asking for a stream, with extra headers and a body.
async fn open(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: String,
) -> Stream {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("accept", "text/event-stream")
        .header("authorization", format!("Bearer {key}"));
    if !body.is_empty() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    Stream {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        body: response.into_body(),
        buffer: String::new(),
    }
}

impl Stream {
    /// The next frame (heartbeat comments skipped); `None` when the stream has ended.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if block.starts_with(':') {
                    continue;
                }
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                        .unwrap_or_default()
                        .to_owned()
                };
                return Some((
                    field("id"),
                    field("event"),
                    serde_json::from_str(&field("data")).unwrap(),
                ));
            }
            let frame = tokio::time::timeout(std::time::Duration::from_secs(10), self.body.frame())
                .await
                .expect("the stream went quiet")?
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }

    async fn rest(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next().await {
            frames.push(frame);
        }
        frames
    }
}

fn kinds(frames: &[Frame]) -> Vec<&str> {
    frames.iter().map(|(_, kind, _)| kind.as_str()).collect()
}

/// Starts an execution of an agent whose plans wait for approval; returns its id.
async fn start_careful(app: &TestApp, team: &TestTeam) -> String {
    let agent = app
        .post_agent(
            &team.key,
            json!({"name": "Careful", "allowed_capabilities": ["summarize"], "requires_approval": true}),
        )
        .await;
    let started = app
        .start_execution(&team.key, &agent, json!({"request": "Summarise"}))
        .await;
    started.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_client_watching_live_sees_every_change_in_order_and_the_stream_ends_after_the_last() {
    let app = TestApp::new();
    let addr = app.serve().await;
    let team = app.create_team("Acme").await;
    let id = start_careful(&app, &team).await;
    let mut stream = connect(addr, &team.key, &id, None).await;
    assert_eq!(
        (stream.status, stream.content_type.as_str()),
        (200, "text/event-stream")
    );
    let mut seen = Vec::new();
    while seen.last().map(|(_, k, _): &Frame| k.as_str()) != Some("execution.awaiting_approval") {
        seen.push(
            stream
                .next()
                .await
                .expect("the stream stays open while the plan waits"),
        );
    }
    assert_eq!(
        kinds(&seen),
        [
            "execution.queued",
            "execution.started",
            "execution.planned",
            "execution.awaiting_approval"
        ]
    );
    assert_eq!(
        seen[2].2["data"]["steps"].as_array().map(Vec::len),
        Some(1),
        "planned with its steps"
    );

    let approved = app
        .post(
            &team.key,
            &format!("/v1/executions/{id}/approval"),
            json!({"approved": true}),
        )
        .await;
    assert_eq!(approved.status, 200, "{approved:?}");
    seen.extend(stream.rest().await);
    assert_eq!(
        kinds(&seen[4..]),
        [
            "execution.approved",
            "execution.step_succeeded",
            "execution.succeeded"
        ]
    );
    let settled = &seen.last().unwrap().2["data"];
    let execution = app
        .get(&team.key, &format!("/v1/executions/{id}"))
        .await
        .body;
    assert_eq!(
        settled["credits"], execution["credits"],
        "the settlement, with its credits"
    );
    let ids: Vec<&str> = seen.iter().map(|(id, _, _)| id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "ids in order, none twice");
}

#[tokio::test]
async fn a_late_client_starts_from_queued_and_last_event_id_resumes_without_gaps_or_duplicates() {
    let app = TestApp::new();
    let addr = app.serve().await;
    let team = app.create_team("Acme").await;
    let (_, id) = app.run_summary(&team.key, "Summarise our notes").await;
    let all = connect(addr, &team.key, &id, None).await.rest().await;
    assert_eq!(kinds(&all).first(), Some(&"execution.queued"));
    assert_eq!(kinds(&all).last(), Some(&"execution.succeeded"));
    let resumed = connect(addr, &team.key, &id, Some(&all[2].0))
        .await
        .rest()
        .await;
    assert_eq!(resumed, all[3..].to_vec());
    let after_the_end = connect(addr, &team.key, &id, Some(&all.last().unwrap().0))
        .await
        .rest()
        .await;
    assert!(
        after_the_end.is_empty(),
        "nothing after the terminal event; the stream ends"
    );

    let listed = app
        .get(
            &team.key,
            &format!("/v1/executions/{id}/events?after={}", all[2].0),
        )
        .await;
    let listed_ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let streamed_ids: Vec<&str> = all[3..].iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(
        listed_ids, streamed_ids,
        "the JSON listing pages the same events"
    );
}

#[tokio::test]
async fn another_teams_execution_or_a_bad_last_event_id_is_refused_in_the_envelope() {
    let app = TestApp::new();
    let addr = app.serve().await;
    let ours = app.create_team("Acme").await;
    let theirs = app.create_team("Other").await;
    let (_, id) = app.run_summary(&ours.key, "Summarise").await;
    let foreign = connect(addr, &theirs.key, &id, None).await;
    assert_eq!(foreign.status, 404);
    let body = foreign.body.collect().await.unwrap().to_bytes();
    let envelope: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(envelope["error"]["code"], "not_found");
    let bad = connect(addr, &ours.key, &id, Some("42")).await;
    assert_eq!(bad.status, 400);
    let unauthenticated = connect(addr, "vk_nope", &id, None).await;
    assert_eq!(unauthenticated.status, 401);
    let cursor = app
        .get(&ours.key, &format!("/v1/executions/{id}/events?cursor=abc"))
        .await;
    assert_eq!(cursor.status, 400);
}

#[tokio::test]
async fn a_stream_ends_after_fourteen_minutes_for_the_client_to_resume() {
    let app = TestApp::new();
    let addr = app.serve().await;
    let team = app.create_team("Acme").await;
    let id = start_careful(&app, &team).await;
    app.wait_for(&team.key, &id, "awaiting_approval").await;
    let mut stream = connect(addr, &team.key, &id, None).await;
    let mut seen = Vec::new();
    while seen.last().map(|(_, k, _): &Frame| k.as_str()) != Some("execution.awaiting_approval") {
        seen.push(stream.next().await.expect("the stream is open"));
    }
    // The execution waits for approval (no terminal event comes); the stream's time runs out.
    app.clock.advance(time::Duration::minutes(14));
    assert_eq!(stream.rest().await, [], "it ends, with nothing more");
    let resumed = connect(addr, &team.key, &id, Some(&seen.last().unwrap().0)).await;
    assert_eq!(
        resumed.status, 200,
        "and the client resumes after its last event"
    );
}

/// A team with a conversation, served by a stack whose model writes slowly (`model`).
async fn chatting(model: Arc<dyn Llm>) -> (TestApp, SocketAddr, TestTeam, String) {
    let app = TestApp::with_llm(model);
    let addr = app.serve().await;
    let team = app.create_team("Acme").await;
    let conversation = app
        .post_conversation(&team.key, json!({"title": "Launch"}))
        .await;
    (app, addr, team, conversation)
}

async fn ask(addr: SocketAddr, key: &str, conversation: &str, content: &str) -> Stream {
    let path = format!("/v1/conversations/{conversation}/messages");
    let body = json!({ "content": content }).to_string();
    open(addr, "POST", &path, key, &[], body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_reply_streams_as_it_is_written_then_its_figures_and_is_charged_once() {
    let (app, addr, team, conversation) =
        chatting(Arc::new(SlowModel(Duration::from_millis(200)))).await;
    let before = app.credits(&team.key).await;
    let mut stream = ask(addr, &team.key, &conversation, "Three taglines, please").await;
    assert_eq!(
        (stream.status, stream.content_type.as_str()),
        (200, "text/event-stream")
    );
    let frames = stream.rest().await;
    let deltas: Vec<&str> = frames
        .iter()
        .filter(|(_, kind, _)| kind == "delta")
        .map(|(_, _, data)| data["text"].as_str().unwrap())
        .collect();
    assert!(deltas.len() > 2, "the reply arrives in pieces: {deltas:?}");
    let (_, last, exchange) = frames.last().unwrap();
    assert_eq!(last, "reply");
    let reply = &exchange["reply"];
    assert_eq!(deltas.concat(), reply["content"].as_str().unwrap());
    assert!(reply["tokens"]["output"].as_i64().unwrap() > 0);
    let credits = reply["credits"].as_i64().unwrap();
    assert!(credits > 0 && reply["cost_micro_usd"].is_i64());
    let stored = app
        .get(
            &team.key,
            &format!("/v1/conversations/{conversation}/messages"),
        )
        .await;
    assert_eq!(
        stored.body["items"][1], *reply,
        "the streamed reply is the stored one"
    );
    assert_eq!(
        app.credits(&team.key).await,
        (before.0 - credits, 0),
        "charged once, nothing left held"
    );
}

#[tokio::test]
async fn a_refused_chat_message_is_answered_whole_with_its_status() {
    let (app, addr, team, conversation) =
        chatting(Arc::new(SlowModel(Duration::from_millis(1)))).await;
    let other = app.create_team("Other").await;
    let theirs = ask(addr, &other.key, &conversation, "Hello").await;
    assert_eq!(
        (theirs.status, theirs.content_type.as_str()),
        (404, "application/json")
    );
    let empty = ask(addr, &team.key, &conversation, "   ").await;
    assert_eq!(empty.status, 422);
}

/// A model that writes a few words, then fails.
struct Breaking;

#[async_trait]
impl Llm for Breaking {
    async fn converse(&self, _: TextRequest) -> Result<TextResponse, AiError> {
        Err(AiError::Unavailable("down".into()))
    }

    async fn converse_stream(
        &self,
        _: TextRequest,
        sink: &TextSink,
    ) -> Result<TextResponse, AiError> {
        let _ = sink.send("Our new ".into());
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err(AiError::Unavailable("the connection dropped".into()))
    }
}

#[tokio::test]
async fn a_reply_the_model_breaks_off_ends_the_stream_with_the_error_and_charges_nothing() {
    let (app, addr, team, conversation) = chatting(Arc::new(Breaking)).await;
    let before = app.credits(&team.key).await;
    let mut stream = ask(addr, &team.key, &conversation, "Hello").await;
    assert_eq!(stream.status, 200, "the stream had begun");
    let frames = stream.rest().await;
    assert_eq!(kinds(&frames), ["delta", "error"]);
    assert_eq!(frames[1].2["error"]["code"], "service_unavailable");
    assert_eq!(
        app.credits(&team.key).await,
        before,
        "nothing charged or held"
    );
    let stored = app
        .get(
            &team.key,
            &format!("/v1/conversations/{conversation}/messages"),
        )
        .await;
    assert_eq!(stored.body["items"], json!([]), "nothing stored");
}
