//! `GET /marketplace/register`: the registration form.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::marketplace::lambda::run_page(
        vellocity::marketplace::pages::PageId::RegistrationForm,
    )
    .await
}
