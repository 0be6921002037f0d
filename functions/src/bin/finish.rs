//! The AgentCore state machine's `finish` task.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::agentcore::run_task(
        vellocity::agentcore::task::Task::Finish,
        &[vellocity::lambda::wire::memory],
    )
    .await
}
