//! The webhook queue's consumer: one signed attempt per message.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::events::run_webhook_deliveries().await
}
