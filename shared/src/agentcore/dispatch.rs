//! The dispatcher: turns a queued execution into a run of the AgentCore state machine, named
//! after the execution id so that a redelivered message cannot start a second run.

use super::watchdog::{self, MAX_RECEIVES};
use crate::app::executions;
use crate::app::run_slots::{self, Admission};
use crate::app::App;
use crate::domain::execution::TaskInput;
use crate::domain::ids::ExecutionId;
use crate::error::Error;
use crate::ports::workflows::{WorkflowError, Workflows};

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

/// Starts the workflow of one queue message body; the run's input is the message itself.
pub async fn dispatch(workflows: &dyn Workflows, body: &str) -> Result<TaskInput, DispatchError> {
    let message: TaskInput =
        serde_json::from_str(body).map_err(|e| DispatchError::Poison(e.to_string()))?;
    let input = serde_json::to_value(&message).map_err(|e| DispatchError::Poison(e.to_string()))?;
    workflows
        .start(message.execution_id.as_str(), &input)
        .await?;
    Ok(message)
}

/// What became of one delivery of a queue message.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The execution's run started (or had started already).
    Started(TaskInput),
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
    if let Ok(message) = serde_json::from_str::<TaskInput>(body) {
        match take_slot(app, &message).await {
            Ok(Admission::Run) => {}
            Ok(Admission::Wait) => return Delivery::Waiting(message.execution_id),
            Err(error) => return retry_or_give_up(app, body, receives, error.to_string()).await,
        }
    }
    match dispatch(app.workflows.as_ref(), body).await {
        Ok(started) => Delivery::Started(started),
        Err(DispatchError::Poison(reason)) => Delivery::DeadLetter(reason),
        Err(error) => retry_or_give_up(app, body, receives, error.to_string()).await,
    }
}

/// A slot of the team's running executions for the execution the message names; one that no
/// longer exists needs none (its run finds that out and ends).
async fn take_slot(app: &App, message: &TaskInput) -> Result<Admission, Error> {
    match executions::find(app, &message.team_id, &message.execution_id).await? {
        Some(execution) => run_slots::admit(app, &message.team_id, &execution).await,
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
