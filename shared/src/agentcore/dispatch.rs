//! The dispatcher: turns a queued execution into a run of the AgentCore state machine, named
//! after the execution id so that a redelivered message cannot start a second run.

use crate::domain::execution::TaskInput;
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
