//! The AgentCore state machine's `fail` task.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::agentcore::lambda::run_task(vellocity::agentcore::workflow::Task::Fail).await
}
