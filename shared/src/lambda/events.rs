//! The outbox's functions in AWS: `events-stream`, which DynamoDB Streams invoke with the
//! table's new event items, and `webhook-deliveries`, the webhook queue's consumer.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value as Json;

use super::sqs::{self, Handled};
use super::{build_app_with_sdk, wire};
use crate::app::webhooks::{self, AttemptMessage};
use crate::app::{events, outbox, App};
use crate::net::NetworkSender;
use crate::ports::table::{Item, Value};

/// The stream batch's answer: the first record to deliver again (and every one after it),
/// as Lambda's `ReportBatchItemFailures` for streams reads it.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamResponse {
    /// At most one: the record handling stopped at.
    pub batch_item_failures: Vec<StreamFailure>,
}

/// A record to deliver again, by its sequence number.
#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamFailure {
    /// The record's sequence number.
    pub item_identifier: String,
}

/// Handles a batch of stream records in order: each new event item goes to the outbox
/// consumer; the first that fails stops the batch, so it and the ones after it come again
/// (the event source mapping retries, then sends them to its on-failure queue).
pub async fn handle_stream(app: &App, event: StreamEvent) -> StreamResponse {
    for record in event.records {
        let sequence = record.change.sequence_number.clone().unwrap_or_default();
        if record.event_name != "INSERT" {
            continue;
        }
        let image = serde_json::to_value(&record.change.new_image).unwrap_or(Json::Null);
        let handled =
            match item_of(&image).and_then(|item| events::read(&item).map_err(|e| e.to_string())) {
                Ok(event) => outbox::handle(app, &event).await.map_err(|e| e.to_string()),
                // Not an outbox item (the mapping's filter lets only those through).
                Err(why) => {
                    tracing::warn!(%why, sequence, "a stream record that is no event was skipped");
                    Ok(())
                }
            };
        if let Err(error) = handled {
            tracing::error!(%error, sequence, "handling an event failed; the stream delivers it again");
            return StreamResponse {
                batch_item_failures: vec![StreamFailure {
                    item_identifier: sequence,
                }],
            };
        }
    }
    StreamResponse::default()
}

/// An item from a stream record's image (DynamoDB JSON, numbers as strings).
fn item_of(image: &Json) -> Result<Item, String> {
    let Json::Object(map) = image else {
        return Err("the image is not a map".into());
    };
    map.iter()
        .map(|(name, value)| Ok((name.clone(), value_of(value)?)))
        .collect()
}

fn value_of(json: &Json) -> Result<Value, String> {
    let Some((kind, inner)) = json.as_object().and_then(|m| m.iter().next()) else {
        return Err(format!("not an attribute value: {json}"));
    };
    Ok(match (kind.as_str(), inner) {
        ("S", Json::String(s)) => Value::S(s.clone()),
        ("N", Json::String(n)) => Value::N(n.parse().map_err(|_| format!("not an integer: {n}"))?),
        ("BOOL", Json::Bool(b)) => Value::Bool(*b),
        ("NULL", _) => Value::Null,
        ("L", Json::Array(items)) => {
            Value::L(items.iter().map(value_of).collect::<Result<_, _>>()?)
        }
        ("M", Json::Object(map)) => Value::M(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), value_of(v)?)))
                .collect::<Result<BTreeMap<_, _>, String>>()?,
        ),
        (other, _) => return Err(format!("an attribute of type {other}")),
    })
}

/// Runs `events-stream`.
pub async fn run_events_stream() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (app, _, _) = build_app_with_sdk(&[wire::queues]).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| {
        let app = app.clone();
        async move { Ok::<_, Diagnostic>(handle_stream(&app, event.payload).await) }
    }))
    .await
}

/// Makes the attempts of a batch of webhook messages.
pub async fn attempt_batch(app: &App, event: SqsEvent) -> SqsBatchResponse {
    sqs::consume("webhook-deliveries", event, |message| async move {
        let body = message.body.as_deref().unwrap_or_default();
        let Ok(attempt) = serde_json::from_str::<AttemptMessage>(body) else {
            return Handled::Poison(format!("not a webhook attempt: {body}"));
        };
        match webhooks::attempt(app, &attempt).await {
            Ok(()) => Handled::Done(format!(
                "attempt {} of event {} to webhook {}",
                attempt.attempt, attempt.event_id, attempt.webhook_id
            )),
            Err(error) => Handled::Retry(error.to_string()),
        }
    })
    .await
}

/// Runs `webhook-deliveries`: the only function that sends webhooks.
pub async fn run_webhook_deliveries() -> Result<(), lambda_runtime::Error> {
    let sender = Arc::new(NetworkSender::default());
    sqs::run_consumer(&[wire::queues], move |app, event| {
        let app = App {
            webhook_sender: sender.clone(),
            ..app
        };
        async move { attempt_batch(&app, event).await }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_image_reads_as_the_item_it_was() {
        let image = serde_json::json!({
            "PK": {"S": "TEAM#t"}, "n": {"N": "42"}, "ok": {"BOOL": true}, "none": {"NULL": true},
            "m": {"M": {"l": {"L": [{"S": "a"}, {"N": "-1"}]}}}
        });
        let item = item_of(&image).unwrap();
        assert_eq!(item["n"], Value::N(42));
        assert_eq!(item["none"], Value::Null);
        let Value::M(m) = &item["m"] else { panic!() };
        assert_eq!(m["l"], Value::L(vec![Value::S("a".into()), Value::N(-1)]));
    }
}
