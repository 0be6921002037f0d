//! `GET /v1/executions/{id}/events` (as JSON; the Server-Sent Events stream is served by the
//! local stack until the API's response-streaming integration is in the template).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route(vellocity::api::routes::RouteId::ListExecutionEvents).await
}
