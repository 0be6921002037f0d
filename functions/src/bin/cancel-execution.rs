//! `POST /v1/executions/{id}/cancel`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route(vellocity::api::routes::RouteId::CancelExecution).await
}
