//! Glue between Lambda and the AgentCore workflow: the dispatcher's SQS handler and the
//! state machine's task functions (what their binaries' `main` calls).

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

use super::dispatch::{dispatch, DispatchError};
use super::watchdog;
use super::workflow::{self, Task, TaskError};
use crate::api::lambda::build_app_with_sdk;
use crate::app::App;
use crate::aws::bedrock::Bedrock;
use crate::aws::sqs::batch_item_failure;

impl From<TaskError> for Diagnostic {
    /// The error's name becomes Lambda's `errorType`, which the state machine's Retry and
    /// Catch match.
    fn from(error: TaskError) -> Self {
        Diagnostic {
            error_type: error.name().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Runs the function of one workflow task. Only planning and steps call models, so only
/// those build a Bedrock client.
pub async fn run_task(task: Task) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (mut app, sdk) = build_app_with_sdk().await?;
    if matches!(task, Task::Plan | Task::RunStep) {
        let bedrock = Arc::new(Bedrock::new(aws_sdk_bedrockruntime::Client::new(&sdk)));
        app.llm = bedrock.clone();
        app.images = bedrock;
    }
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { workflow::run_task(&app, task, &event.payload).await }
    }))
    .await
}

/// Dispatches a batch of queue messages; the failed ones are reported by id so that SQS
/// redelivers only those. A message received for the last time that still cannot be
/// dispatched ends its execution with a refund instead of leaving it queued forever.
pub async fn dispatch_batch(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.unwrap_or_default();
        let body = record.body.as_deref().unwrap_or_default();
        let receives: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        match dispatch(app.workflows.as_ref(), body).await {
            Ok(started) => {
                tracing::info!(message_id = %id, execution_id = %started.execution_id, "workflow started")
            }
            Err(DispatchError::Poison(reason)) => {
                tracing::error!(message_id = %id, %reason, "poison message; it will go to the DLQ");
                response.batch_item_failures.push(batch_item_failure(id));
            }
            Err(error) if receives >= watchdog::MAX_RECEIVES => {
                match watchdog::give_up_dispatch(app, body, &error.to_string()).await {
                    Some(Ok(_)) => {
                        tracing::error!(message_id = %id, %error, "dispatch kept failing; the execution failed with a refund")
                    }
                    _ => {
                        tracing::error!(message_id = %id, %error, "dispatch kept failing; it will go to the DLQ");
                        response.batch_item_failures.push(batch_item_failure(id));
                    }
                }
            }
            Err(error) => {
                tracing::warn!(message_id = %id, %error, "dispatch failed; the message will be redelivered");
                response.batch_item_failures.push(batch_item_failure(id));
            }
        }
    }
    response
}

/// Runs the dispatcher: the executions queue's consumer.
pub async fn run_dispatcher() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (app, _) = build_app_with_sdk().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move { Ok::<_, Diagnostic>(dispatch_batch(&app, event.payload).await) }
    }))
    .await
}

/// Runs the function EventBridge calls when a run of the state machine ends otherwise than
/// by succeeding: it settles the run's execution if the run could not.
pub async fn run_workflow_ended() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (app, _) = build_app_with_sdk().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<watchdog::RunEnded>| {
        let app = app.clone();
        async move {
            watchdog::on_run_ended(&app, event.payload)
                .await
                .map(|_| ())
                .map_err(|error| {
                    tracing::error!(%error, "settling the execution of an ended run failed");
                    TaskError::from(error)
                })
        }
    }))
    .await
}
