//! The AgentCore state machine's `fail` task.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::agentcore::run_task(vellocity::agentcore::task::Task::Fail, &[]).await
}
