//! `PATCH /v1/webhooks/{id}`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_webhook_registration_route(
        vellocity::api::handlers::endpoints::UpdateWebhook,
    )
    .await
}
