//! `GET /v1/capabilities`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::api::lambda::run_route(vellocity::api::routes::RouteId::ListCapabilities).await
}
