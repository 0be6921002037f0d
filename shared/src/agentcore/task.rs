//! The task protocol: the state machine's Task states (one Lambda function each) and the
//! errors they end with, by the names the state machine's Retry and Catch match.

use crate::error::Error;
use crate::ports::ai::AiError;

/// A task failure with a stable name for the state machine's Retry and Catch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The planner produced no valid plan.
    #[error("{0}")]
    InvalidPlan(String),
    /// A model or the table is throttling; retry with backoff.
    #[error("{0}")]
    Throttled(String),
    /// A model is temporarily unavailable; retry with backoff.
    #[error("{0}")]
    Unavailable(String),
    /// A step cannot run (a refused model call, a missing product, …).
    #[error("{0}")]
    StepFailed(String),
    /// The team's guardrail blocked the request.
    #[error("{0}")]
    GuardrailIntervened(String),
    /// The execution has been cancelled; stop quietly.
    #[error("{0}")]
    Cancelled(String),
    /// Another express run of the execution claimed it; this one stops quietly.
    #[error("{0}")]
    DuplicateRun(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl TaskError {
    /// The error name the state machine matches (Lambda's `errorType`).
    pub fn name(&self) -> &'static str {
        match self {
            TaskError::InvalidPlan(_) => "InvalidPlan",
            TaskError::Throttled(_) => "Throttled",
            TaskError::Unavailable(_) => "Unavailable",
            TaskError::StepFailed(_) => "StepFailed",
            TaskError::GuardrailIntervened(_) => "GuardrailIntervened",
            TaskError::Cancelled(_) => "Cancelled",
            TaskError::DuplicateRun(_) => "DuplicateRun",
            TaskError::Internal(_) => "Internal",
        }
    }
}

impl From<Error> for TaskError {
    fn from(error: Error) -> Self {
        match error {
            Error::Throttled => TaskError::Throttled(error.to_string()),
            Error::Unavailable { .. } => TaskError::Unavailable(error.to_string()),
            _ => TaskError::Internal(error.to_string()),
        }
    }
}

impl From<AiError> for TaskError {
    fn from(error: AiError) -> Self {
        match error {
            AiError::Throttled(m) => TaskError::Throttled(m),
            AiError::Unavailable(m) => TaskError::Unavailable(m),
            AiError::Rejected(m) => TaskError::StepFailed(m),
        }
    }
}

/// The state machine's Task states, each one Lambda function (one binary) in production.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Marks the execution running; says whether approval is needed.
    LoadContext,
    /// Plans the steps.
    Plan,
    /// Parks the execution with its task token until a person decides.
    RequestApproval,
    /// Runs one step.
    RunStep,
    /// Settles a successful execution.
    Finish,
    /// Records a failure and settles.
    Fail,
}

impl Task {
    /// Every task.
    pub const ALL: [Task; 6] = [
        Task::LoadContext,
        Task::Plan,
        Task::RequestApproval,
        Task::RunStep,
        Task::Finish,
        Task::Fail,
    ];

    /// The binary in `functions/` and the local stack's function name.
    pub fn binary(self) -> &'static str {
        match self {
            Task::LoadContext => "load-context",
            Task::Plan => "plan",
            Task::RequestApproval => "request-approval",
            Task::RunStep => "run-step",
            Task::Finish => "finish",
            Task::Fail => "fail",
        }
    }

    /// The `${Placeholder}` of its ARN in `statemachines/agentcore.asl.json`, also the key of
    /// its `DefinitionSubstitutions` entry in `template.yaml`.
    pub fn placeholder(self) -> &'static str {
        match self {
            Task::LoadContext => "LoadContextFunctionArn",
            Task::Plan => "PlanFunctionArn",
            Task::RequestApproval => "RequestApprovalFunctionArn",
            Task::RunStep => "RunStepFunctionArn",
            Task::Finish => "FinishFunctionArn",
            Task::Fail => "FailFunctionArn",
        }
    }

    /// The function's logical id in `template.yaml`.
    pub fn function(self) -> &'static str {
        match self {
            Task::LoadContext => "LoadContextFunction",
            Task::Plan => "PlanFunction",
            Task::RequestApproval => "RequestApprovalFunction",
            Task::RunStep => "RunStepFunction",
            Task::Finish => "FinishFunction",
            Task::Fail => "FailFunction",
        }
    }

    /// The task whose binary is `name`.
    pub fn named(name: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.binary() == name)
    }
}
