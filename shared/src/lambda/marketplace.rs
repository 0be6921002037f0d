//! Marketplace functions: the public pages (API Gateway, no authorizer), the subscription
//! events queue's consumer, and the hourly metering job.

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_http::{Body, Request, RequestExt};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

use super::build_app_with_sdk;
use super::sqs::{self, Handled};
use crate::app::App;
use crate::aws::marketplace::AwsMarketplace;
use crate::marketplace::pages::{self, PageId, PageRequest};
use crate::marketplace::subscriptions::{self, EventError};
use crate::marketplace::{events, metering, Settings};

/// The app, with the Marketplace clients where the function calls Marketplace, and the
/// Marketplace settings (the pages must share the reference secret).
async fn build(
    calls_marketplace: bool,
    pages: bool,
) -> Result<(App, Settings), lambda_runtime::Error> {
    let (mut app, _, sdk) = build_app_with_sdk(&[]).await?;
    if calls_marketplace {
        app.marketplace = Arc::new(AwsMarketplace::new(&sdk));
    }
    let settings = Settings::from_env(&app.plans, pages)?;
    Ok((app, settings))
}

/// Answers one API Gateway event on a public page.
pub async fn handle_page_event(
    app: &App,
    settings: &Settings,
    page: PageId,
    event: Request,
) -> http::Response<Body> {
    let query = event
        .query_string_parameters()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let content_type = event
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = PageRequest {
        query,
        content_type,
        body: event.into_body().to_vec(),
    };
    pages::serve(app, settings, page, request)
        .await
        .into_http()
        .map(Body::from)
}

/// Runs the function of one public page.
pub async fn run_page(page: PageId) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (app, settings) = build(page == PageId::Fulfillment, true).await?;
    let settings = Arc::new(settings);
    lambda_http::run(lambda_http::service_fn(move |event: Request| {
        let (app, settings) = (app.clone(), settings.clone());
        async move { Ok::<_, Infallible>(handle_page_event(&app, &settings, page, event).await) }
    }))
    .await
}

/// Applies a batch of subscription events.
pub async fn apply_batch(app: &App, settings: &Settings, event: SqsEvent) -> SqsBatchResponse {
    sqs::consume("marketplace-events", event, |message| {
        apply_one(app, settings, message)
    })
    .await
}

async fn apply_one(app: &App, settings: &Settings, message: SqsMessage) -> Handled {
    let body = message.body.as_deref().unwrap_or_default();
    let outcome = match events::parse(body) {
        Ok(event) => subscriptions::apply_event(app, settings, &event).await,
        Err(unreadable) => Err(EventError::Unknown(unreadable.to_string())),
    };
    match outcome {
        Ok(applied) => Handled::Done(format!(
            "subscription event applied to {:?} (stale: {})",
            applied.customers, applied.stale
        )),
        Err(EventError::Unknown(reason)) => Handled::Poison(reason),
        Err(EventError::Transient(error)) => Handled::Retry(error.to_string()),
    }
}

/// Runs the subscription events queue's consumer.
pub async fn run_events() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (app, settings) = build(true, false).await?;
    let settings = Arc::new(settings);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (app, settings) = (app.clone(), settings.clone());
        async move { Ok::<_, Diagnostic>(apply_batch(&app, &settings, event.payload).await) }
    }))
    .await
}

/// Runs the hourly metering job (an EventBridge schedule; the event itself carries nothing).
pub async fn run_metering() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let (app, settings) = build(true, false).await?;
    let settings = Arc::new(settings);
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| {
        let (app, settings) = (app.clone(), settings.clone());
        async move {
            metering::run(&app, &settings, metering::Scope::All)
                .await
                .map_err(|error| {
                    tracing::error!(%error, "metering failed");
                    Diagnostic {
                        error_type: "MeteringFailed".into(),
                        error_message: error.to_string(),
                    }
                })
        }
    }))
    .await
}
