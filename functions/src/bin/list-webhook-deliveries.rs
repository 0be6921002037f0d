//! `GET /v1/webhooks/{id}/deliveries`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route(vellocity::api::handlers::endpoints::ListWebhookDeliveries)
        .await
}
