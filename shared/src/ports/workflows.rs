//! The workflow port: AgentCore state machine runs (Step Functions in production, the local
//! interpreter in the local stack).
//!
//! An execution runs first on the express workflow: cheap (priced per run, not per state),
//! at most five minutes, and started at least once. What needs more — waiting for a person's
//! approval, a plan too long for one express run, a run that ended without settling —
//! continues on the durable workflow, which runs once per execution and may wait a week.

use async_trait::async_trait;
use serde_json::Value;

/// What can go wrong with a workflow call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The service is throttling; retry later.
    #[error("workflow service throttling: {0}")]
    Throttled(String),
    /// The task token is unknown, used or timed out.
    #[error("the task token is no longer valid: {0}")]
    InvalidToken(String),
    /// Anything else.
    #[error("workflow service: {0}")]
    Failed(String),
}

/// Starts, stops and resumes workflow runs.
#[async_trait]
pub trait Workflows: Send + Sync {
    /// Starts an express run of the execution `name`. The express service does not
    /// deduplicate: a second start is a second run, which the run's first task refuses (only
    /// the run that claimed the execution goes on).
    async fn start(&self, name: &str, input: &Value) -> Result<(), WorkflowError>;
    /// Continues the execution `name` on the durable workflow. A durable run of that name that
    /// exists already counts as started: it runs once per execution.
    async fn continue_durably(&self, name: &str, input: &Value) -> Result<(), WorkflowError>;
    /// Stops the execution's durable run, if it has one (an express run cannot be stopped: its
    /// next task finds the execution cancelled and ends).
    async fn stop(&self, name: &str, cause: &str) -> Result<(), WorkflowError>;
    /// Resumes a run waiting on `token` with an output.
    async fn succeed_task(&self, token: &str, output: &Value) -> Result<(), WorkflowError>;
    /// Fails a run's task waiting on `token`.
    async fn fail_task(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError>;
}
