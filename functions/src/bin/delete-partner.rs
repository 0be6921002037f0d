//! `DELETE /v1/partners/{id}`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route(vellocity::api::handlers::endpoints::DeletePartner).await
}
