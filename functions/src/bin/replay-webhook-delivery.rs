//! `POST /v1/webhooks/{id}/deliveries/{delivery_id}/replay`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route(vellocity::api::routes::RouteId::ReplayWebhookDelivery)
        .await
}
