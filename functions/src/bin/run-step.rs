//! The AgentCore state machine's `run-step` task.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::agentcore::run_model_task(
        vellocity::agentcore::task::Task::RunStep,
        &[
            vellocity::lambda::wire::bucket,
            vellocity::lambda::wire::memory,
        ],
    )
    .await
}
