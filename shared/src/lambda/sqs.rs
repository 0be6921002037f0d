//! The one SQS consumer: each message of a batch is handled in its own span, and the batch
//! response names only the messages to redeliver (the event source mapping has
//! `ReportBatchItemFailures`), so one bad message never fails the others; SQS moves a message
//! redelivered `maxReceiveCount` times to the queue's DLQ.

use std::future::Future;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use tracing::Instrument;

use crate::app::App;

/// How handling one message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Done; what happened, for the log.
    Done(String),
    /// It may work later: redeliver it.
    Retry(String),
    /// It never will (unreadable, or names nothing): redeliver it, so it ends in the DLQ.
    Poison(String),
}

/// How often SQS has delivered `message`, this delivery included.
pub fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// Handles every message of `event` with `handle`, one after another.
pub async fn consume<F, Fut>(queue: &'static str, event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Handled>,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("message", queue, message_id = %id, receives = receive_count(&message));
        let handled = handle(message).instrument(span.clone()).await;
        let _entered = span.enter();
        let redeliver = match handled {
            Handled::Done(what) => {
                tracing::info!(%what, "message handled");
                false
            }
            Handled::Retry(why) => {
                tracing::warn!(%why, "message failed; it will be redelivered");
                true
            }
            Handled::Poison(why) => {
                tracing::error!(%why, "unusable message; it will end in the DLQ");
                true
            }
        };
        if redeliver {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Runs a queue's consumer function: the app (with the clients of `wiring`) is built once per
/// cold start, and `handle` answers each batch with it.
pub async fn run_consumer<F, Fut>(
    wiring: &[super::Wire],
    handle: F,
) -> Result<(), lambda_runtime::Error>
where
    F: Fn(App, SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    crate::telemetry::init_lambda();
    let (app, _, _) = super::build_app_with_sdk(wiring).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let batch = handle(app.clone(), event.payload);
        async move { Ok::<_, Diagnostic>(batch.await) }
    }))
    .await
}
