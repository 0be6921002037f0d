//! The executions queue's consumer: starts one state machine run per queued execution.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::agentcore::lambda::run_dispatcher().await
}
