//! `GET /v1/executions/{id}/events`: the events as JSON, or streamed as Server-Sent Events.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_streaming_route(
        vellocity::api::routes::RouteId::ListExecutionEvents,
    )
    .await
}
