//! The executions dead-letter queue's consumer: settles what the dispatcher could not.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::agentcore::run_dead_letters().await
}
