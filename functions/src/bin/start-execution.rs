//! `POST /v1/agents/{id}/executions`.

use vellocity::lambda::wire;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route_with(
        vellocity::api::handlers::endpoints::StartExecution,
        &[wire::queues, wire::result_links],
    )
    .await
}
