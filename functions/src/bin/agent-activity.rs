//! `GET /v1/agents/{id}/activity`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_route(vellocity::api::handlers::endpoints::AgentActivity).await
}
