//! AgentCore functions: the state machine's tasks, the executions queue's dispatcher, and the
//! watchdog EventBridge calls when a run ends without settling.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

use super::sqs::{self, Handled};
use super::{build_app_with_sdk, wire};
use crate::agentcore::dispatch::{deliver, Delivery};
use crate::agentcore::task::{Task, TaskError};
use crate::agentcore::watchdog;
use crate::agentcore::workflow;
use crate::app::App;
use crate::aws::bedrock::Bedrock;

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

/// Runs the function of a workflow task that calls no model (loading the context, waiting
/// for approval, settling): the executions queue, to wake the next waiter when a slot is
/// given back, and the clients of `wiring` (the finish task keeps memory); no Bedrock or S3
/// client is linked.
pub async fn run_task(task: Task, wiring: &[super::Wire]) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (app, _, _) =
        build_app_with_sdk(&[&[wire::queues as super::Wire], wiring].concat()).await?;
    serve_task(app, task).await
}

/// Runs the function of a task that calls models (planning, a step), with Bedrock and the
/// clients of `wiring` (a step stores images and large outputs in the results bucket).
pub async fn run_model_task(
    task: Task,
    wiring: &[super::Wire],
) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (mut app, _, sdk) = build_app_with_sdk(wiring).await?;
    let bedrock = Arc::new(Bedrock::new(aws_sdk_bedrockruntime::Client::new(&sdk)));
    app.llm = bedrock.clone();
    app.images = bedrock;
    serve_task(app, task).await
}

async fn serve_task(app: App, task: Task) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { workflow::run_task(&app, task, &event.payload).await }
    }))
    .await
}

/// Dispatches a batch of queue messages. A message received for the last time that still
/// cannot be dispatched ends its execution with a refund instead of leaving it queued forever.
pub async fn dispatch_batch(app: &App, event: SqsEvent) -> SqsBatchResponse {
    sqs::consume("executions", event, |message| dispatch_one(app, message)).await
}

async fn dispatch_one(app: &App, message: SqsMessage) -> Handled {
    let body = message.body.as_deref().unwrap_or_default();
    match deliver(app, body, sqs::receive_count(&message)).await {
        Delivery::Started(started) => {
            Handled::Done(format!("express run of {} started", started.execution_id))
        }
        Delivery::Continued(id) => Handled::Done(format!(
            "execution {id} had not settled after its express run: continued durably"
        )),
        Delivery::Checked(id) => Handled::Done(format!("checked the express run of {id}")),
        Delivery::GaveUp(id) => Handled::Done(format!(
            "dispatch kept failing; execution {id} failed with a refund"
        )),
        Delivery::Retry(why) => Handled::Retry(why),
        Delivery::Waiting(id) => Handled::Done(format!(
            "execution {id} waits for one of its team's running executions to end"
        )),
        Delivery::DeadLetter(why) => Handled::Poison(why),
    }
}

/// Settles the executions of the messages that reached the executions queue's dead-letter
/// queue (the dispatcher's last try could not even settle them): each fails with its refund
/// once the table answers again; a message that names no execution is logged and dropped.
pub async fn settle_dead_letters(app: &App, event: SqsEvent) -> SqsBatchResponse {
    sqs::consume("executions-dead-letters", event, |message| async move {
        let body = message.body.as_deref().unwrap_or_default();
        match watchdog::give_up_dispatch(app, body, "it reached the dead-letter queue").await {
            Some(Ok(ended)) => Handled::Done(format!(
                "execution {} is {} with its credits settled",
                ended.id,
                ended.status.as_str()
            )),
            Some(Err(error)) => Handled::Retry(error.to_string()),
            None => Handled::Done(format!("dropped a message that names no execution: {body}")),
        }
    })
    .await
}

/// Runs the dead-letter queue's consumer.
pub async fn run_dead_letters() -> Result<(), lambda_runtime::Error> {
    sqs::run_consumer(&[wire::queues], |app, event| async move {
        settle_dead_letters(&app, event).await
    })
    .await
}

/// Runs the dispatcher: the executions queue's consumer.
pub async fn run_dispatcher() -> Result<(), lambda_runtime::Error> {
    sqs::run_consumer(
        &[wire::queues, wire::state_machine],
        |app, event| async move { dispatch_batch(&app, event).await },
    )
    .await
}

/// Runs the function EventBridge calls when a run of the state machine ends otherwise than
/// by succeeding: it settles the run's execution if the run could not.
pub async fn run_workflow_ended() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (app, _, _) = build_app_with_sdk(&[wire::queues]).await?;
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
