//! `GET /v1/openapi.json`: the API's OpenAPI document, without credentials.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_openapi().await
}
