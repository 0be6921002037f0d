//! The one consumer of the events outbox: what happens to each event once its change is
//! written — it enters the audit log and is handed to the endpoints that want it. DynamoDB Streams invoke it in AWS (the
//! `events-stream` function); the local stack's relay reads the embedded table's feed. Both
//! may hand an event over more than once; everything it does is idempotent.

use super::{audit, webhooks, App};
use crate::domain::events::DomainEvent;
use crate::error::Error;

/// Handles one recorded event: the audit log's entry, and the webhook deliveries.
pub async fn handle(app: &App, event: &DomainEvent) -> Result<(), Error> {
    audit::record(app, event).await?;
    webhooks::fan_out(app, event).await.map(|_| ())
}
