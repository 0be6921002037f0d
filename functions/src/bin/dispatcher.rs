//! The executions queue's consumer: starts one state machine run per queued execution.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::agentcore::run_dispatcher().await
}
