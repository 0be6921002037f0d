//! The AgentCore state machine's `load-context` task.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::agentcore::run_task(vellocity::agentcore::task::Task::LoadContext, &[]).await
}
