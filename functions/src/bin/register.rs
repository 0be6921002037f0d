//! `POST /marketplace/register`: creates the buyer's team.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::marketplace::run_page(vellocity::marketplace::pages::PageId::Register).await
}
