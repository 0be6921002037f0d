//! The AgentCore state machine's `request-approval` task.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::agentcore::run_task(vellocity::agentcore::task::Task::RequestApproval, &[])
        .await
}
