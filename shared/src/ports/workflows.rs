//! The workflow port: AgentCore state machine executions (Step Functions in production, the
//! local interpreter in the local stack).

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
    /// Starts a run named `name` (the execution id). A run with that name that exists already
    /// (a redelivered message) counts as started: the workflow runs once.
    async fn start(&self, name: &str, input: &Value) -> Result<(), WorkflowError>;
    /// Stops a run.
    async fn stop(&self, name: &str, cause: &str) -> Result<(), WorkflowError>;
    /// Resumes a run waiting on `token` with an output.
    async fn succeed_task(&self, token: &str, output: &Value) -> Result<(), WorkflowError>;
    /// Fails a run's task waiting on `token`.
    async fn fail_task(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError>;
}
