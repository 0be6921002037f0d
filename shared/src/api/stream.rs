//! Answers as Server-Sent Events, for the routes that can stream (`Accept: text/event-stream`):
//!
//! - an execution's progress: every event of the execution, from the first
//!   (`execution.queued`) or after the client's `Last-Event-ID`, each framed with its `id:` and
//!   `event:`, a heartbeat comment while nothing happens, and the end of the stream after the
//!   terminal event. Read from the execution's events (GSI1), so a client that connects late or
//!   reconnects misses nothing and sees nothing twice;
//! - a chat reply as the model writes it: `event: delta` frames with the text so far
//!   (`{"text"}`), then `event: reply` with the stored exchange (tokens, cost, credits), or
//!   `event: error` with the error envelope if the model fails after the stream began.

use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::Stream;

use crate::agentcore::chat::{self, Exchange};
use crate::app::executions::{self, events_after, is_terminal};
use crate::app::{App, Caller};
use crate::domain::events::DomainEvent;
use crate::domain::ids::{EventId, ExecutionId, TeamId};
use crate::error::{BadRequest, Error};

use super::request::ApiRequest;
use super::response::ApiResponse;
use super::routes::RouteId;

/// How often the stream looks for new events.
pub const POLL: Duration = Duration::from_millis(100);
/// How long the stream stays silent before it sends a heartbeat comment.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// The content type of the stream.
pub const EVENT_STREAM: &str = "text/event-stream";

/// Whether a request's `Accept` asks for the stream.
pub fn wants_stream(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.split(',').any(|t| t.trim().starts_with(EVENT_STREAM)))
}

/// An open stream of one execution's events.
pub struct ExecutionEvents {
    app: App,
    team: TeamId,
    id: ExecutionId,
    last: Option<String>,
    ended: bool,
    quiet_since: Instant,
    /// When it opened, on the app's clock.
    opened: time::OffsetDateTime,
}

impl ExecutionEvents {
    /// Opens the stream for the caller: 404 for an execution that is not theirs (as `GET`),
    /// 400 for a `Last-Event-ID` that is not an event id.
    pub async fn open(
        app: &App,
        caller: &Caller,
        execution_id: &str,
        last_event_id: Option<&str>,
    ) -> Result<ExecutionEvents, Error> {
        let execution = executions::get(app, caller, execution_id).await?;
        let last = last_event_id
            .map(|id| {
                EventId::parse(id.trim())
                    .map(|id| id.to_string())
                    .map_err(|e| {
                        Error::bad_request(
                            BadRequest::MalformedRequest,
                            format!("Last-Event-ID {e}."),
                        )
                    })
            })
            .transpose()?;
        Ok(ExecutionEvents {
            app: app.clone(),
            team: caller.team_id.clone(),
            id: execution.id,
            last,
            ended: false,
            quiet_since: Instant::now(),
            opened: app.clock.now(),
        })
    }

    /// The next part of the stream: new events, or a heartbeat; `None` once the terminal
    /// event has been sent (or the execution ended with nothing more to tell).
    pub async fn next_chunk(&mut self) -> Option<String> {
        loop {
            let open_for = (self.app.clock.now() - self.opened).whole_seconds();
            if self.ended || open_for >= MAX_STREAM.as_secs() as i64 {
                return None;
            }
            match events_after(&self.app, &self.team, &self.id, self.last.as_deref(), 100).await {
                Ok(events) if !events.is_empty() => {
                    self.quiet_since = Instant::now();
                    let mut chunk = String::new();
                    for event in &events {
                        chunk.push_str(&frame(event));
                        self.ended |= is_terminal(&event.kind);
                    }
                    self.last = events.last().map(|e| e.id.clone());
                    return Some(chunk);
                }
                Ok(_) => {
                    // Nothing new from an execution that has ended: its terminal event (written
                    // with its final status) was sent already, or the client had it (its
                    // Last-Event-ID), or it ended before events existed.
                    let ended = executions::find(&self.app, &self.team, &self.id)
                        .await
                        .ok()
                        .flatten()
                        .is_none_or(|e| e.status.is_final());
                    if ended {
                        return None;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, execution_id = %self.id, "reading an execution's events failed; retrying");
                }
            }
            if self.quiet_since.elapsed() >= HEARTBEAT {
                self.quiet_since = Instant::now();
                return Some(": heartbeat\n\n".into());
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// An answer as a stream of SSE text.
pub type EventStream = Pin<Box<dyn Stream<Item = String> + Send>>;

/// The routes that can answer as a stream (deployed behind API Gateway response streaming).
pub const STREAMING: [RouteId; 2] = [RouteId::ListExecutionEvents, RouteId::SendMessage];

/// How long one stream lasts at most: less than a Lambda function's 15 minutes, after which
/// an EventSource reconnects with its `Last-Event-ID` and misses nothing.
pub const MAX_STREAM: Duration = Duration::from_secs(14 * 60);

/// Whether `route` answers this `Accept: text/event-stream` request with a stream. A message
/// sent with an `Idempotency-Key` is answered whole (a stream cannot be replayed).
pub fn streams(route: RouteId, req: &ApiRequest) -> bool {
    STREAMING.contains(&route)
        && !(route == RouteId::SendMessage && req.header("idempotency-key").is_some())
}

/// Opens the stream of a route that [`streams`]: the caller's access and limits were checked.
pub async fn open(app: &App, route: RouteId, req: &ApiRequest) -> Result<EventStream, Error> {
    match route {
        RouteId::ListExecutionEvents => {
            // The query means what it means for the JSON form: `?after=` resumes as
            // `Last-Event-ID` does (the header wins), `?limit=` is checked though a stream
            // has no pages.
            req.page()?;
            let resume = match req.header("last-event-id") {
                Some(id) => Some(id),
                None => req.query_value("after")?,
            };
            let events = ExecutionEvents::open(app, &req.caller, req.path("id"), resume).await?;
            Ok(Box::pin(futures_util::stream::unfold(
                events,
                |mut events| async move {
                    let chunk = events.next_chunk().await?;
                    Some((chunk, events))
                },
            )))
        }
        RouteId::SendMessage => reply(app, req).await,
        other => Err(Error::internal(format!("{other:?} does not stream"))),
    }
}

/// A chat reply as the model writes it. The request is checked (and the reply's credits held)
/// before the stream begins, so a refused message answers its status as JSON; after that, a
/// failure is the stream's last event.
async fn reply(app: &App, req: &ApiRequest) -> Result<EventStream, Error> {
    let message = req.json()?;
    let (sink, mut pieces) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (app, caller, id) = (app.clone(), req.caller.clone(), req.path("id").to_owned());
    let mut writing =
        tokio::spawn(async move { chat::send(&app, &caller, &id, message, Some(&sink)).await });
    // The first piece, or the end: a refusal before the model wrote anything is an answer.
    let first = tokio::select! {
        biased;
        piece = pieces.recv() => piece,
        ended = &mut writing => return done_before_streaming(ended, &mut pieces),
    };
    let Some(first) = first else {
        return done_before_streaming((&mut writing).await, &mut pieces);
    };
    let first = Some(first);
    let request_id = req.request_id.clone();
    let state = (pieces, Some(writing), first, request_id);
    Ok(Box::pin(futures_util::stream::unfold(
        state,
        |(mut pieces, writing, first, request_id)| async move {
            if let Some(piece) = first {
                return Some((delta(&piece), (pieces, writing, None, request_id)));
            }
            if let Some(piece) = pieces.recv().await {
                return Some((delta(&piece), (pieces, writing, None, request_id)));
            }
            let ended = writing?.await;
            let last = match ended.map_err(Error::internal).and_then(|done| done) {
                Ok(exchange) => replied(&exchange),
                Err(error) => failed(&error, &request_id),
            };
            Some((last, (pieces, None, None, request_id)))
        },
    )))
}

/// A reply that was written (or refused) before the stream began: the refusal is the answer;
/// a reply is streamed whole.
fn done_before_streaming(
    ended: Result<Result<Exchange, Error>, tokio::task::JoinError>,
    pieces: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
) -> Result<EventStream, Error> {
    let exchange = ended.map_err(Error::internal)??;
    let mut frames = Vec::new();
    while let Ok(piece) = pieces.try_recv() {
        frames.push(delta(&piece));
    }
    frames.push(replied(&exchange));
    Ok(Box::pin(futures_util::stream::iter(frames)))
}

fn delta(piece: &str) -> String {
    format!(
        "event: delta\ndata: {}\n\n",
        serde_json::json!({ "text": piece })
    )
}

fn replied(exchange: &Exchange) -> String {
    let data = serde_json::to_string(exchange).unwrap_or_default();
    format!("event: reply\ndata: {data}\n\n")
}

/// A failure after the stream began, in the error envelope (a server fault is logged here).
fn failed(error: &Error, request_id: &str) -> String {
    let envelope = ApiResponse::error(error, request_id)
        .body
        .unwrap_or_default();
    format!("event: error\ndata: {envelope}\n\n")
}

/// A stream as HTTP body frames.
pub fn into_frames(
    stream: EventStream,
) -> impl Stream<Item = Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>> + Send {
    futures_util::StreamExt::map(stream, |chunk| {
        Ok(hyper::body::Frame::data(bytes::Bytes::from(chunk)))
    })
}

/// One event as an SSE frame.
pub fn frame(event: &DomainEvent) -> String {
    let data = serde_json::to_string(event).unwrap_or_default();
    format!("id: {}\nevent: {}\ndata: {data}\n\n", event.id, event.kind)
}
