//! `GET /v1/conversations/{id}/messages`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route(vellocity::api::handlers::endpoints::ListMessages).await
}
