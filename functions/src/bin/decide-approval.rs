//! `POST /v1/executions/{id}/approval`.

use vellocity::lambda::wire;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route_with(
        vellocity::api::handlers::endpoints::DecideApproval,
        &[wire::queues, wire::state_machine, wire::result_links],
    )
    .await
}
