//! Server-Sent Events of an execution's progress: every event of the execution, from the
//! first (`execution.queued`) or after the client's `Last-Event-ID`, each framed with its `id:`
//! and `event:`, a heartbeat comment while nothing happens, and the end of the stream after the
//! terminal event. Read from the execution's events (GSI1), so a client that connects late or
//! reconnects misses nothing and sees nothing twice.

use std::time::{Duration, Instant};

use crate::app::executions::{self, events_after, is_terminal};
use crate::app::{App, Caller};
use crate::domain::events::DomainEvent;
use crate::domain::ids::{EventId, ExecutionId, TeamId};
use crate::error::{BadRequest, Error};

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
        })
    }

    /// The next part of the stream: new events, or a heartbeat; `None` once the terminal
    /// event has been sent (or the execution ended with nothing more to tell).
    pub async fn next_chunk(&mut self) -> Option<String> {
        loop {
            if self.ended {
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

/// The stream as HTTP body frames.
pub fn into_frames(
    events: ExecutionEvents,
) -> impl futures_util::Stream<
    Item = Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>,
> + Send {
    futures_util::stream::unfold(events, |mut events| async move {
        let chunk = events.next_chunk().await?;
        Some((
            Ok(hyper::body::Frame::data(bytes::Bytes::from(chunk))),
            events,
        ))
    })
}

/// One event as an SSE frame.
pub fn frame(event: &DomainEvent) -> String {
    let data = serde_json::to_string(event).unwrap_or_default();
    format!("id: {}\nevent: {}\ndata: {data}\n\n", event.id, event.kind)
}
