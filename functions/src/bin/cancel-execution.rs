//! `POST /v1/executions/{id}/cancel`.

use vellocity::lambda::wire;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route_with(
        vellocity::api::handlers::endpoints::CancelExecution,
        &[wire::queues, wire::state_machine, wire::result_links],
    )
    .await
}
