//! `DELETE /v1/api-keys/{id}`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route(vellocity::api::handlers::endpoints::RevokeApiKey).await
}
