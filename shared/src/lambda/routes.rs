//! Route functions: API Gateway (REST, payload v1) events to the request pipeline, and the
//! authorizer.

use std::convert::Infallible;

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use lambda_runtime::LambdaEvent;

use std::sync::Arc;

use super::build_app_with_sdk;
use crate::api::request::ApiRequest;
use crate::api::response::ApiResponse;
use crate::api::routes::RouteId;
use crate::api::service;
use crate::api::stream::{self, wants_stream, EVENT_STREAM};
use crate::api::{authorizer, openapi};
use crate::app::{App, Caller};
use crate::aws::apigateway::ApiGatewayUsageKeys;
use crate::aws::bedrock::Bedrock;
use crate::domain::access::{Role, Scope};
use crate::domain::ids::{TeamId, UserId};
use crate::error::Error;
use crate::net::NetworkSender;

/// Runs the function of one route. Only the chat route calls a model, so only it builds a
/// Bedrock client; only the webhook registration routes resolve receivers.
pub async fn run_route(route: RouteId) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let app = route_app(route).await?;
    lambda_http::run(service_fn(move |event: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(handle_event(&app, route, event).await) }
    }))
    .await
}

/// Runs the function of a route that can stream ([`stream::STREAMING`]), behind API Gateway's
/// response streaming: a request for `text/event-stream` is answered as the stream is made,
/// any other whole (in one piece of the same response stream).
pub async fn run_streaming_route(route: RouteId) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let app = route_app(route).await?;
    lambda_http::run_with_streaming_response(service_fn(move |event: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(stream_event(&app, route, event).await) }
    }))
    .await
}

/// A response body for the streaming runtime.
type StreamedBody = UnsyncBoxBody<Bytes, Infallible>;

/// Answers one API Gateway event on a streaming route.
pub async fn stream_event(app: &App, route: RouteId, event: Request) -> Response<StreamedBody> {
    let wanted = wants_stream(event.headers().get("accept").and_then(|v| v.to_str().ok()));
    let request = match api_request(event) {
        Ok(request) if wanted && stream::streams(route, &request) => request,
        Ok(request) => return whole(service::serve(app, route, request).await),
        Err(refused) => return whole(refused),
    };
    match service::open_stream(app, route, request).await {
        Ok(streaming) => {
            let mut response = Response::new(
                StreamBody::new(stream::into_frames(streaming.stream)).boxed_unsync(),
            );
            let headers = response.headers_mut();
            headers.insert("content-type", HeaderValue::from_static(EVENT_STREAM));
            headers.insert("cache-control", HeaderValue::from_static("no-cache"));
            for (name, value) in streaming.headers {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            response
        }
        Err(refused) => whole(refused),
    }
}

fn whole(response: ApiResponse) -> Response<StreamedBody> {
    response
        .into_http()
        .map(|body| Full::new(Bytes::from(body)).boxed_unsync())
}

/// The dependencies of one route's function.
async fn route_app(route: RouteId) -> Result<App, lambda_runtime::Error> {
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
    Ok(app)
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
    let response = match api_request(event) {
        Ok(request) => service::serve(app, route, request).await,
        Err(refused) => refused,
    };
    response.into_http().map(|body| {
        if body.is_empty() {
            Body::Empty
        } else {
            Body::from(body)
        }
    })
}

/// The request of an API Gateway event, with the caller its authorizer resolved; an answer
/// when the event carries no authorizer context.
fn api_request(event: Request) -> Result<ApiRequest, ApiResponse> {
    let context = event.request_context();
    let request_id = match &context {
        RequestContext::ApiGatewayV1(c) => c.request_id.clone(),
        _ => None,
    }
    .or_else(|| event.lambda_context_ref().map(|c| c.request_id.clone()))
    .unwrap_or_else(|| format!("unknown-{}", ulid::Ulid::new()));
    let Some(caller) = caller_from_context(&context) else {
        return Err(ApiResponse::error(
            &Error::unauthenticated("The request carries no authorizer context."),
            &request_id,
        ));
    };
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
    Ok(ApiRequest {
        request_id,
        caller,
        path_params,
        query,
        headers: parts.headers,
        body: body.to_vec(),
    })
}

/// Runs the authorizer function.
pub async fn run_authorizer() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (mut app, sdk) = build_app_with_sdk().await?;
    if let Some(plans) = crate::config::usage_plans_from_env()? {
        let client = aws_sdk_apigateway::Client::new(&sdk);
        let keys =
            ApiGatewayUsageKeys::new(client, plans.by_plan, "enterprise", plans.fallback_key)?;
        app.usage_keys = Some(Arc::new(keys));
    }
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| {
            let app = app.clone();
            async move { authorizer::authorize(&app, event.payload).await }
        },
    ))
    .await
}
