//! The dispatcher: turns a queued execution into an express run of the AgentCore workflow,
//! named after the execution id, and queues the check that follows it
//! ([`watchdog::check_express_run`]). A redelivered message may start a second express run:
//! the first task of each run lets only the one that claimed the execution go on.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::watchdog::{self, MAX_RECEIVES};
use crate::app::executions;
use crate::app::run_slots::{self, Admission};
use crate::app::App;
use crate::domain::execution::TaskInput;
use crate::domain::ids::ExecutionId;
use crate::error::Error;
use crate::ports::workflows::WorkflowError;

/// Why a message was not dispatched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// The message can never be dispatched (not an execution message); it belongs in the DLQ.
    #[error("poison message: {0}")]
    Poison(String),
    /// The workflow service failed; the message is retried.
    #[error("workflow start failed: {0}")]
    Retry(#[from] WorkflowError),
}

/// When the check after an express run looks: past the run's five minutes and the time its
/// last task may still be running after that (the run-step function's 300 s timeout), and a
/// minute more. A test holds it to the template's timeouts.
pub const EXPRESS_RUN_CHECK_DELAY: Duration = Duration::from_secs(300 + 300 + 60);

/// A message of the executions queue: an execution to start, or (with `check_at`) the check
/// that follows its express run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// The execution.
    #[serde(flatten)]
    pub input: TaskInput,
    /// When the express run is surely over (Unix seconds): set on checks only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_at: Option<i64>,
}

/// Queues the check that follows an express run of `input`'s execution, due at `at` (Unix
/// seconds): from the dispatcher as it starts the run, and again from a check that came early.
async fn queue_check(app: &App, input: &TaskInput, at: i64) -> Result<(), DispatchError> {
    let check = Message {
        input: input.clone(),
        check_at: Some(at),
    };
    let body = serde_json::to_string(&check).map_err(|e| DispatchError::Poison(e.to_string()))?;
    let delay = Duration::from_secs((at - app.clock.now().unix_timestamp()).max(0) as u64);
    app.queue.send_after(&body, delay).await.map_err(|e| {
        DispatchError::Retry(WorkflowError::Failed(format!(
            "queueing the run's check: {e}"
        )))
    })
}

/// Starts the express run of one execution, its check queued first (a check of a run that
/// never started finds the execution queued, settled, or continued, and acts on that).
async fn dispatch(app: &App, input: &TaskInput) -> Result<(), DispatchError> {
    let payload = serde_json::to_value(input).map_err(|e| DispatchError::Poison(e.to_string()))?;
    let due = app.clock.now().unix_timestamp() + EXPRESS_RUN_CHECK_DELAY.as_secs() as i64;
    queue_check(app, input, due).await?;
    app.workflows
        .start(input.execution_id.as_str(), &payload)
        .await?;
    Ok(())
}

/// What became of one delivery of a queue message.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The execution's express run started.
    Started(TaskInput),
    /// The check after an express run found the execution unsettled and continued it on the
    /// durable workflow (or found it there already).
    Continued(ExecutionId),
    /// The check after an express run found nothing to do, or came early and waits again.
    Checked(ExecutionId),
    /// Its last delivery could not start it: this execution failed with its refund.
    GaveUp(ExecutionId),
    /// It may start later: deliver it again.
    Retry(String),
    /// The team's slots for running executions are taken: it waits in `queued` and is
    /// dispatched again when a slot is given back.
    Waiting(ExecutionId),
    /// It never will, or its execution could not even be failed: for the dead letters.
    DeadLetter(String),
}

/// Delivers a message, received `receives` times so far, to the dispatcher; on the queue's
/// last receive ([`MAX_RECEIVES`]) an execution it cannot start is failed with its refund
/// instead of waiting forever. The deployed dispatcher and the local queue both deliver so.
pub async fn deliver(app: &App, body: &str, receives: u32) -> Delivery {
    let message: Message = match serde_json::from_str(body) {
        Ok(message) => message,
        Err(error) => return Delivery::DeadLetter(format!("not an execution message: {error}")),
    };
    let outcome = match message.check_at {
        Some(at) => check(app, &message.input, at).await,
        None => start(app, &message.input).await,
    };
    match outcome {
        Ok(delivery) => delivery,
        Err(DispatchError::Poison(reason)) => Delivery::DeadLetter(reason),
        Err(DispatchError::Retry(error)) => {
            retry_or_give_up(app, body, receives, error.to_string()).await
        }
    }
}

async fn start(app: &App, input: &TaskInput) -> Result<Delivery, DispatchError> {
    match take_slot(app, input).await {
        Ok(Admission::Run) => {}
        Ok(Admission::Wait) => return Ok(Delivery::Waiting(input.execution_id.clone())),
        Err(error) => {
            return Err(DispatchError::Retry(WorkflowError::Failed(
                error.to_string(),
            )))
        }
    }
    dispatch(app, input).await?;
    Ok(Delivery::Started(input.clone()))
}

/// The check after an express run: early (a restarted local queue delivers at once), it waits
/// again for the rest of its delay.
async fn check(app: &App, input: &TaskInput, at: i64) -> Result<Delivery, DispatchError> {
    if at > app.clock.now().unix_timestamp() {
        queue_check(app, input, at).await?;
        return Ok(Delivery::Checked(input.execution_id.clone()));
    }
    let continued = watchdog::check_express_run(app, input)
        .await
        .map_err(DispatchError::Retry)?;
    Ok(match continued {
        true => Delivery::Continued(input.execution_id.clone()),
        false => Delivery::Checked(input.execution_id.clone()),
    })
}

/// A slot of the team's running executions for the execution the message names; one that no
/// longer exists needs none (its run finds that out and ends).
async fn take_slot(app: &App, input: &TaskInput) -> Result<Admission, Error> {
    match executions::find(app, &input.team_id, &input.execution_id).await? {
        Some(execution) => run_slots::admit(app, &input.team_id, &execution).await,
        None => Ok(Admission::Run),
    }
}

/// A delivery that failed: received again, or on its last receive its execution failed with
/// its refund.
async fn retry_or_give_up(app: &App, body: &str, receives: u32, error: String) -> Delivery {
    if receives < MAX_RECEIVES {
        return Delivery::Retry(error);
    }
    match watchdog::give_up_dispatch(app, body, &error).await {
        Some(Ok(ended)) => Delivery::GaveUp(ended.id),
        Some(Err(settling)) => {
            Delivery::DeadLetter(format!("dispatch kept failing ({error}); {settling}"))
        }
        None => Delivery::DeadLetter(error),
    }
}
