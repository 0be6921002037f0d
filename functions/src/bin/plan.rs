//! The AgentCore state machine's `plan` task.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::agentcore::run_model_task(
        vellocity::agentcore::task::Task::Plan,
        &[vellocity::lambda::wire::memory],
    )
    .await
}
