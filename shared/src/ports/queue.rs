//! The queue port: work handed on to a consumer (SQS in production): executions to the
//! dispatcher, webhook deliveries to their sender.

use async_trait::async_trait;

/// A message could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue: {0}")]
pub struct QueueError(pub String);

/// The longest delay a queue holds a message back (SQS's `DelaySeconds` limit); longer waits
/// are made of several.
pub const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(900);

/// Sends messages to a queue.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Queues one message body (JSON text).
    async fn send(&self, body: &str) -> Result<(), QueueError>;

    /// Queues one message body, delivered no sooner than `delay` (at most [`MAX_DELAY`]).
    async fn send_after(&self, body: &str, delay: std::time::Duration) -> Result<(), QueueError> {
        let _ = (body, delay);
        Err(QueueError("this queue does not hold messages back".into()))
    }
}
