//! `POST /v1/webhooks/{id}/deliveries/{delivery_id}/replay`.

use vellocity::lambda::wire;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route_with(
        vellocity::api::handlers::endpoints::ReplayWebhookDelivery,
        &[wire::queues],
    )
    .await
}
