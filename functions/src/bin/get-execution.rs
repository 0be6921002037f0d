//! `GET /v1/executions/{id}`.

use vellocity::lambda::wire;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route_with(
        vellocity::api::handlers::endpoints::GetExecution,
        &[wire::result_links],
    )
    .await
}
