//! Glue between Lambda and the Marketplace integration: the public pages (API Gateway, no
//! authorizer), the subscription events queue's consumer, and the hourly metering job.

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, RequestExt};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

use super::customers::{self, EventError};
use super::pages::{self, PageId, PageRequest};
use super::{events, metering, Settings};
use crate::api::lambda::build_app_with_sdk;
use crate::app::App;
use crate::aws::marketplace::AwsMarketplace;
use crate::aws::sqs::batch_item_failure;

/// The app, with the Marketplace clients where the function calls Marketplace, and the
/// Marketplace settings (the pages must share the reference secret).
async fn build(
    calls_marketplace: bool,
    pages: bool,
) -> Result<(App, Settings), lambda_runtime::Error> {
    let (mut app, sdk) = build_app_with_sdk().await?;
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

/// Applies a batch of subscription events; the failed ones are reported by id so SQS
/// redelivers only those, and after the queue's `maxReceiveCount` moves them to the DLQ.
pub async fn apply_batch(app: &App, settings: &Settings, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.unwrap_or_default();
        let body = record.body.as_deref().unwrap_or_default();
        let outcome = match events::parse(body) {
            Ok(event) => customers::apply_event(app, settings, &event).await,
            Err(unreadable) => Err(EventError::Unknown(unreadable.to_string())),
        };
        match outcome {
            Ok(applied) => {
                tracing::info!(message_id = %id, customers = ?applied.customers, stale = applied.stale, "subscription event applied")
            }
            Err(EventError::Unknown(reason)) => {
                tracing::error!(message_id = %id, %reason, "unusable subscription message; it will go to the DLQ");
                response.batch_item_failures.push(batch_item_failure(id));
            }
            Err(EventError::Transient(error)) => {
                tracing::warn!(message_id = %id, %error, "subscription event failed; it will be redelivered");
                response.batch_item_failures.push(batch_item_failure(id));
            }
        }
    }
    response
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
