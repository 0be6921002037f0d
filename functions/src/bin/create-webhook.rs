//! `POST /v1/webhooks`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_webhook_registration_route(
        vellocity::api::handlers::endpoints::CreateWebhook,
    )
    .await
}
