//! Called by EventBridge when an AgentCore run fails, times out or is aborted: settles its
//! execution if the run could not.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::agentcore::run_workflow_ended().await
}
