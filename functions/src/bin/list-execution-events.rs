//! `GET /v1/executions/{id}/events`: JSON, or with `Accept: text/event-stream` the execution's
//! events as they happen (API Gateway response streaming).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_streaming_route(
        vellocity::api::handlers::endpoints::ListExecutionEvents,
    )
    .await
}
