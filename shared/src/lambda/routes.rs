//! Route functions: API Gateway (REST, payload v1) events to the request pipeline, and the
//! authorizer.

use std::convert::Infallible;

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use lambda_runtime::LambdaEvent;

use std::sync::Arc;

use super::{build_app, build_app_with_sdk};
use crate::api::request::ApiRequest;
use crate::api::response::ApiResponse;
use crate::api::routes::RouteId;
use crate::api::service;
use crate::api::{authorizer, openapi};
use crate::app::{App, Caller};
use crate::aws::bedrock::Bedrock;
use crate::domain::access::{Role, Scope};
use crate::domain::ids::{TeamId, UserId};
use crate::error::Error;
use crate::net::NetworkSender;

/// Runs the function of one route. Only the chat route calls a model, so only it builds a
/// Bedrock client; only the webhook registration routes resolve receivers.
pub async fn run_route(route: RouteId) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (mut app, sdk) = build_app_with_sdk().await?;
    match route {
        RouteId::SendMessage => {
            app.llm = Arc::new(Bedrock::new(aws_sdk_bedrockruntime::Client::new(&sdk)));
        }
        // Registering a receiver resolves its host and checks the addresses.
        RouteId::CreateWebhook | RouteId::UpdateWebhook => {
            app.webhook_sender = Arc::new(NetworkSender::default());
        }
        _ => {}
    }
    lambda_http::run(service_fn(move |event: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(handle_event(&app, route, event).await) }
    }))
    .await
}

/// Runs the function of `GET /v1/openapi.json`: the document, to anyone. It needs no table,
/// credentials or AWS client.
pub async fn run_openapi() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    lambda_http::run(service_fn(|_: Request| async {
        Ok::<_, Infallible>(openapi::served().into_http().map(Body::from))
    }))
    .await
}

/// Reads the caller from the authorizer's context, as API Gateway passes it on.
fn caller_from_context(context: &RequestContext) -> Option<Caller> {
    let RequestContext::ApiGatewayV1(context) = context else {
        return None;
    };
    let field = |name: &str| context.authorizer.fields.get(name).and_then(|v| v.as_str());
    Some(Caller {
        team_id: TeamId::parse(field("team_id")?).ok()?,
        user_id: UserId::parse(field("user_id")?).ok()?,
        role: Role::parse(field("role")?)?,
        scopes: field("scopes")?
            .split(',')
            .filter_map(Scope::parse)
            .collect(),
        credential: field("credential")?.to_owned(),
        request_id: None,
    })
}

/// Answers one API Gateway event on `route`.
pub async fn handle_event(app: &App, route: RouteId, event: Request) -> Response<Body> {
    let context = event.request_context();
    let request_id = match &context {
        RequestContext::ApiGatewayV1(c) => c.request_id.clone(),
        _ => None,
    }
    .or_else(|| event.lambda_context_ref().map(|c| c.request_id.clone()))
    .unwrap_or_else(|| format!("unknown-{}", ulid::Ulid::new()));
    let response = match caller_from_context(&context) {
        None => ApiResponse::error(
            &Error::unauthenticated("The request carries no authorizer context."),
            &request_id,
        ),
        Some(caller) => {
            let path_params = event
                .path_parameters()
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let query = event
                .query_string_parameters()
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let (parts, body) = event.into_parts();
            let request = ApiRequest {
                request_id,
                caller,
                path_params,
                query,
                headers: parts.headers,
                body: body.to_vec(),
            };
            service::serve(app, route, request).await
        }
    };
    response.into_http().map(|body| {
        if body.is_empty() {
            Body::Empty
        } else {
            Body::from(body)
        }
    })
}

/// Runs the authorizer function.
pub async fn run_authorizer() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let app = build_app().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| {
            let app = app.clone();
            async move { authorizer::authorize(&app, event.payload).await }
        },
    ))
    .await
}
