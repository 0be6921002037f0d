//! The queue port: work handed from a request to the dispatcher (SQS in production).

use async_trait::async_trait;

/// A message could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue: {0}")]
pub struct QueueError(pub String);

/// Sends messages to the executions queue.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Queues one message body (JSON text).
    async fn send(&self, body: &str) -> Result<(), QueueError>;
}
