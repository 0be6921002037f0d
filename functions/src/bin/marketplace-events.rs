//! The Marketplace subscription events queue's consumer (SNS notifications, EventBridge events).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::marketplace::run_events().await
}
