//! `GET /marketplace/register`: the registration form.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::marketplace::run_page(
        vellocity::marketplace::pages::PageId::RegistrationForm,
    )
    .await
}
