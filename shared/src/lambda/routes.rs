//! Route functions: API Gateway (REST, payload v1) events to the request pipeline, and the
//! authorizer.

use std::convert::Infallible;

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use lambda_runtime::LambdaEvent;

use std::sync::Arc;

use super::{build_app, build_app_with_sdk};
use crate::api::authorizer;
use crate::api::request::ApiRequest;
use crate::api::response::ApiResponse;
use crate::api::routes::RouteId;
use crate::api::service;
use crate::api::stream;
use crate::app::{App, Caller};
use crate::aws::bedrock::Bedrock;
use crate::domain::access::{Role, Scope};
use crate::domain::ids::{TeamId, UserId};
use crate::error::Error;
use crate::net::NetworkSender;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};

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
            app.webhook_sender = Arc::new(NetworkSender::new()?);
        }
        _ => {}
    }
    lambda_http::run(service_fn(move |event: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(handle_event(&app, route, event).await) }
    }))
    .await
}

/// Runs the function of a route that may answer with a stream (Lambda response streaming):
/// `GET /v1/executions/{id}/events` with `Accept: text/event-stream` streams the execution's
/// events until its terminal one; any other request is answered whole, as every route is.
pub async fn run_streaming_route(route: RouteId) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let app = build_app().await?;
    lambda_http::run_with_streaming_response(service_fn(move |event: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(streamed(&app, route, event).await) }
    }))
    .await
}

type StreamedBody = UnsyncBoxBody<Bytes, Infallible>;

async fn streamed(app: &App, route: RouteId, event: Request) -> Response<StreamedBody> {
    let header = |name: &str| {
        event
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let caller = caller_from_context(&event.request_context());
    if let (true, Some(caller)) = (stream::wants_stream(header("accept").as_deref()), caller) {
        let id = event
            .path_parameters()
            .first("id")
            .unwrap_or_default()
            .to_owned();
        let request_id = event
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default();
        let last = header("last-event-id");
        return match stream::ExecutionEvents::open(app, &caller, &id, last.as_deref()).await {
            Ok(events) => {
                let body = StreamBody::new(stream::into_frames(events)).boxed_unsync();
                let mut response = Response::new(body);
                response.headers_mut().insert(
                    "content-type",
                    http::HeaderValue::from_static(stream::EVENT_STREAM),
                );
                response
            }
            Err(error) => whole(
                ApiResponse::error(&error, &request_id)
                    .into_http()
                    .map(Body::from),
            ),
        };
    }
    whole(handle_event(app, route, event).await)
}

fn whole(response: Response<Body>) -> Response<StreamedBody> {
    response.map(|body| {
        let bytes = match body {
            Body::Empty => Bytes::new(),
            Body::Text(text) => Bytes::from(text),
            Body::Binary(data) => Bytes::from(data),
            _ => Bytes::new(),
        };
        Full::new(bytes).boxed_unsync()
    })
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
