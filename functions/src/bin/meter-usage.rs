//! The hourly metering job: usage to AWS Marketplace with `BatchMeterUsage`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::marketplace::lambda::run_metering().await
}
