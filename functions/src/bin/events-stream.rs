//! DynamoDB Streams → the events outbox's consumer (webhook deliveries).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::events::run_events_stream().await
}
