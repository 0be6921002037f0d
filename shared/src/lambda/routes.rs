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

use super::{build_app_with_sdk, Wire};
use crate::api::handlers::Endpoint;
use crate::api::request::ApiRequest;
use crate::api::response::ApiResponse;
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

/// Runs the function of one route that needs the table only.
pub async fn run_route(endpoint: Endpoint) -> Result<(), lambda_runtime::Error> {
    run_route_with(endpoint, &[]).await
}

/// Runs the function of one route that needs the clients of `wiring` besides the table.
pub async fn run_route_with(
    endpoint: Endpoint,
    wiring: &[Wire],
) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (app, _, _) = build_app_with_sdk(wiring).await?;
    serve_whole(app, endpoint).await
}

/// Runs the function of a route that registers webhook receivers: it resolves their hosts and
/// checks the addresses.
pub async fn run_webhook_registration_route(
    endpoint: Endpoint,
) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (mut app, _, _) = build_app_with_sdk(&[]).await?;
    app.webhook_sender = Arc::new(NetworkSender::default());
    serve_whole(app, endpoint).await
}

/// Runs the function of a route that can stream and calls no model.
pub async fn run_streaming_route(endpoint: Endpoint) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (app, _, _) = build_app_with_sdk(&[]).await?;
    serve_streams(app, endpoint).await
}

/// Runs the function of the chat route: it streams, and it is the only route that calls a
/// model, so the only one with a Bedrock client.
pub async fn run_chat_route(endpoint: Endpoint) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (mut app, _, sdk) = build_app_with_sdk(&[]).await?;
    app.llm = Arc::new(Bedrock::new(aws_sdk_bedrockruntime::Client::new(&sdk)));
    serve_streams(app, endpoint).await
}

async fn serve_whole(app: App, endpoint: Endpoint) -> Result<(), lambda_runtime::Error> {
    lambda_http::run(service_fn(move |event: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(handle_event(&app, endpoint, event).await) }
    }))
    .await
}

/// Serves a route that can stream ([`stream::STREAMING`]), behind API Gateway's response
/// streaming: a request for `text/event-stream` is answered as the stream is made, any other
/// whole (in one piece of the same response stream).
async fn serve_streams(app: App, endpoint: Endpoint) -> Result<(), lambda_runtime::Error> {
    lambda_http::run_with_streaming_response(service_fn(move |event: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(stream_event(&app, endpoint, event).await) }
    }))
    .await
}

/// A response body for the streaming runtime.
type StreamedBody = UnsyncBoxBody<Bytes, Infallible>;

/// Answers one API Gateway event on a streaming route.
pub async fn stream_event(app: &App, endpoint: Endpoint, event: Request) -> Response<StreamedBody> {
    let route = endpoint.route;
    let wanted = wants_stream(event.headers().get("accept").and_then(|v| v.to_str().ok()));
    let request = match api_request(event) {
        Ok(request) if wanted && stream::streams(route, &request) => request,
        Ok(request) => return whole(service::serve(app, endpoint, request).await),
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
pub async fn handle_event(app: &App, endpoint: Endpoint, event: Request) -> Response<Body> {
    let response = match api_request(event) {
        Ok(request) => service::serve(app, endpoint, request).await,
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
    let (mut app, config, sdk) = build_app_with_sdk(&[]).await?;
    // Only the authorizer checks sign-in tokens; the routes trust what it resolved.
    if let Some(jwt) = config.jwt {
        app.jwt = Some(Arc::new(jwt.verifier()?));
    }
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
