//! No execution waits forever with its credits reserved. Three things can strand one outside
//! the state machines' own Catch: a queue message the dispatcher could not start however often
//! it was received, an express run that ended (timed out after its five minutes, failed)
//! without settling or continuing durably, and a durable run that ended (failed, timed out,
//! aborted) without reaching the task that settles. The first and the last end the execution
//! as failed with its refund; the express run's check continues the execution on the durable
//! workflow, which picks up where it stopped (its tasks skip what is done). Settling is
//! idempotent, so an execution the workflow did settle, or a cancel did, stays as it is.

use serde::Deserialize;

use crate::app::executions::{self, Settlement};
use crate::app::App;
use crate::domain::execution::TaskInput;
use crate::domain::execution::{Execution, ExecutionError};
use crate::error::Error;
use crate::ports::workflows::WorkflowError;

/// How often the executions queue delivers a message before it moves it to the dead-letter
/// queue: the template's `maxReceiveCount`, and the local queue's.
pub const MAX_RECEIVES: u32 = 5;

/// Ends the execution of a queue message that is being received for the last time and still
/// cannot be dispatched. `None` when the body names no execution (a poison message).
pub async fn give_up_dispatch(
    app: &App,
    body: &str,
    why: &str,
) -> Option<Result<Execution, Error>> {
    let input: TaskInput = serde_json::from_str(body).ok()?;
    let error = ExecutionError {
        code: "DispatchFailed".into(),
        message: format!("The workflow could not be started ({why}); the credits were refunded."),
    };
    Some(end(app, &input, error).await)
}

/// The check after an express run, once the run and its last task are surely over: an
/// execution that is not settled by then continues on the durable workflow (a no-op when the
/// run continued it there itself). Says whether it continued it.
pub async fn check_express_run(app: &App, input: &TaskInput) -> Result<bool, WorkflowError> {
    let execution = executions::find(app, &input.team_id, &input.execution_id)
        .await
        .map_err(|e| WorkflowError::Failed(e.to_string()))?;
    match execution {
        Some(execution) if !execution.status.is_final() => {
            let payload =
                serde_json::to_value(input).map_err(|e| WorkflowError::Failed(e.to_string()))?;
            app.workflows
                .continue_durably(input.execution_id.as_str(), &payload)
                .await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// How a run of the state machine ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// It ended in a Succeed state.
    Succeeded,
    /// It ended in a Fail state or an uncaught error.
    Failed,
    /// It ran past its time limit.
    TimedOut,
    /// Someone stopped it.
    Aborted,
}

/// Step Functions' "Execution Status Change" event, as EventBridge delivers it.
#[derive(Clone, Debug, Deserialize)]
pub struct RunEnded {
    /// What ended and how.
    pub detail: RunEndedDetail,
}

/// The part of the event the watchdog reads.
#[derive(Clone, Debug, Deserialize)]
pub struct RunEndedDetail {
    /// How the run ended.
    pub status: RunStatus,
    /// The run's input, as JSON text: the execution's ids.
    pub input: String,
}

/// Settles the execution of a run that ended otherwise than by succeeding, in case the run
/// could not settle it itself.
pub async fn run_ended(
    app: &App,
    input: &TaskInput,
    status: RunStatus,
) -> Result<Option<Execution>, Error> {
    let (code, message) = match status {
        RunStatus::Succeeded => return Ok(None),
        RunStatus::Failed => (
            "WorkflowFailed",
            "The workflow failed before it could settle",
        ),
        RunStatus::TimedOut => ("WorkflowTimedOut", "The workflow ran out of time"),
        RunStatus::Aborted => ("WorkflowAborted", "The workflow was stopped"),
    };
    let error = ExecutionError {
        code: code.into(),
        message: format!("{message}; the credits it had not used were refunded."),
    };
    end(app, input, error).await.map(Some)
}

/// Handles one "Execution Status Change" event.
pub async fn on_run_ended(app: &App, event: RunEnded) -> Result<Option<Execution>, Error> {
    let input: TaskInput = serde_json::from_str(&event.detail.input)
        .map_err(|e| Error::internal(format!("a run's input names no execution: {e}")))?;
    run_ended(app, &input, event.detail.status).await
}

async fn end(app: &App, input: &TaskInput, error: ExecutionError) -> Result<Execution, Error> {
    executions::settle(
        app,
        &input.team_id,
        &input.execution_id,
        Settlement::failed(error),
    )
    .await
}
