//! `POST /v1/conversations/{id}/messages`: the reply as JSON, or with `Accept:
//! text/event-stream` as the model writes it (API Gateway response streaming).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vellocity::lambda::routes::run_chat_route(vellocity::api::handlers::endpoints::SendMessage)
        .await
}
