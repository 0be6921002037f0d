//! The Marketplace subscription events queue's consumer (SNS notifications, EventBridge events).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::marketplace::lambda::run_events().await
}
