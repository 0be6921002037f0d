//! `POST /marketplace/fulfillment`: Marketplace's fulfillment URL.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::marketplace::run_page(vellocity::marketplace::pages::PageId::Fulfillment)
        .await
}
