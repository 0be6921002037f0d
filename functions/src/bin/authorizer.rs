//! The API Gateway REQUEST authorizer: API keys and JWTs to a team context.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_authorizer().await
}
