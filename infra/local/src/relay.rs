//! The local stack's events relay: what DynamoDB Streams, the `events-stream` function, the
//! webhook queue and the `webhook-deliveries` function do in AWS. It reads the embedded
//! table's events feed (kept in the transaction of each change) and hands every event to the
//! outbox consumer, then makes the webhook attempts that are due; each is forgotten only once
//! handled, so a restart loses none.

use std::sync::Arc;
use std::time::Duration;

use vellocity::app::webhooks::{self, AttemptMessage};
use vellocity::app::{events, outbox, App};

use crate::engine::LocalDelayQueue;

/// How often the relay looks for new events and due attempts.
const TICK: Duration = Duration::from_millis(20);
/// How long a message whose handling failed waits before it is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// Runs the relay on its own task for as long as the process lives.
pub fn spawn(app: App, webhooks: Arc<LocalDelayQueue>) {
    tokio::spawn(async move {
        loop {
            relay_events(&app).await;
            attempt_due(&app, &webhooks).await;
            tokio::time::sleep(TICK).await;
        }
    });
}

/// Hands every new event to the outbox consumer, in order; stops at one that fails (it is
/// tried again on the next tick, and the ones after it wait, as a stream shard does).
async fn relay_events(app: &App) {
    let Some(feed) = app.table.events_feed() else {
        return;
    };
    let pending = match feed.pending(100).await {
        Ok(pending) => pending,
        Err(error) => return tracing::warn!(%error, "reading the events feed failed"),
    };
    for (sequence, item) in pending {
        let handled = match events::read(&item) {
            Ok(event) => outbox::handle(app, &event).await,
            // Not an event this consumer can read: nothing will ever make it one.
            Err(error) => {
                tracing::error!(%error, "an unreadable outbox item was skipped");
                Ok(())
            }
        };
        if let Err(error) = handled {
            return tracing::warn!(%error, "handling an event failed; it is tried again");
        }
        if let Err(error) = feed.acknowledge(sequence).await {
            return tracing::warn!(%error, "acknowledging an event failed; it comes again");
        }
    }
}

/// Makes the webhook attempts that are due.
async fn attempt_due(app: &App, queue: &LocalDelayQueue) {
    let due = match queue.due(100) {
        Ok(due) => due,
        Err(error) => return tracing::warn!(%error, "reading the webhook queue failed"),
    };
    for (id, body) in due {
        let outcome = match serde_json::from_str::<AttemptMessage>(&body) {
            Ok(message) => webhooks::attempt(app, &message)
                .await
                .map_err(|e| e.to_string()),
            Err(error) => {
                tracing::error!(%error, "an unreadable webhook message was dropped");
                Ok(())
            }
        };
        let kept = match outcome {
            Ok(()) => queue.handled(id),
            Err(error) => {
                tracing::warn!(%error, "a webhook attempt could not be made; it is tried again");
                queue.retry_after(id, RETRY)
            }
        };
        if let Err(error) = kept {
            tracing::warn!(%error, "recording a webhook message failed");
        }
    }
}
