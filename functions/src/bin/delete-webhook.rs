//! `DELETE /v1/webhooks/{id}`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route(vellocity::api::handlers::endpoints::DeleteWebhook).await
}
