//! Glue between API Gateway (REST, payload v1) and the pipeline: what every route function's
//! `main` calls.

use std::convert::Infallible;
use std::sync::Arc;

use aws_config::SdkConfig;
use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};

use crate::app::{App, Caller};
use crate::aws::dynamodb::DynamoDbTable;
use crate::aws::s3::S3Objects;
use crate::aws::sfn::StepFunctions;
use crate::aws::sqs::SqsQueue;
use crate::config::Config;
use crate::domain::access::{Role, Scope};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::plans::Plans;
use crate::error::Error;
use crate::ports::table::{Key, Table};
use crate::ports::SystemClock;

use super::request::ApiRequest;
use super::response::ApiResponse;
use super::routes::RouteId;
use super::service;

/// Builds the dependencies once per cold start: configuration, the DynamoDB client, and a
/// first (cheap) read so that the TLS connection is open before the first request. The queue,
/// the state machine and the bucket are wired only where the function's configuration names
/// them; the others stay [`Unconfigured`](crate::ports::unconfigured::Unconfigured).
pub async fn build_app() -> Result<App, lambda_runtime::Error> {
    let (app, _) = build_app_with_sdk().await?;
    Ok(app)
}

/// [`build_app`], also returning the SDK configuration for clients only some functions need.
pub async fn build_app_with_sdk() -> Result<(App, SdkConfig), lambda_runtime::Error> {
    let config = Config::from_env()?;
    let sdk = crate::aws::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = DynamoDbTable::new(client, config.table_name);
    if let Err(error) = table.get(&Key::new("WARMUP", "WARMUP")).await {
        tracing::warn!(%error, "warm-up read failed");
    }
    let jwt = match config.jwt {
        Some(jwt) => Some(Arc::new(jwt.verifier()?)),
        None => None,
    };
    let mut app = App {
        jwt,
        plans: Arc::new(Plans::from_env()?),
        ..App::new(Arc::new(table), Arc::new(SystemClock))
    };
    if let Some(url) = config.executions_queue_url {
        app.queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url));
    }
    if let Some(arn) = config.state_machine_arn {
        app.workflows = Arc::new(StepFunctions::new(aws_sdk_sfn::Client::new(&sdk), arn));
    }
    if let Some(bucket) = config.results_bucket {
        app.objects = Arc::new(S3Objects::new(aws_sdk_s3::Client::new(&sdk), bucket));
    }
    Ok((app, sdk))
}

/// Runs the function of one route.
pub async fn run_route(route: RouteId) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let app = build_app().await?;
    lambda_http::run(service_fn(move |event: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(handle_event(&app, route, event).await) }
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
