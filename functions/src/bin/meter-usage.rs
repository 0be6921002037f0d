//! The hourly metering job: usage to AWS Marketplace with `BatchMeterUsage`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::marketplace::run_metering().await
}
