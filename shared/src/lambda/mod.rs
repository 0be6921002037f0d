//! The one composition root: what each kind of Lambda function builds once per cold start,
//! and the glue between the Lambda runtime and the one handler it runs. Entry points in
//! `functions/` name that handler; every port a function does not wire stays unconfigured and
//! fails loudly.
//!
//! - [`routes`]: API routes and the authorizer;
//! - [`agentcore`]: the state machine's tasks, the dispatcher and the end-of-run watchdog;
//! - [`marketplace`]: the public pages, the subscription events consumer, metering;
//! - [`events`]: the events outbox's stream consumer and the webhook deliveries;
//! - [`sqs`]: the one queue consumer every queue's function uses.

pub mod agentcore;
pub mod events;
pub mod marketplace;
pub mod routes;
pub mod sqs;

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::app::App;
use crate::aws::dynamodb::DynamoDbTable;
use crate::aws::emf::EmfWriter;
use crate::aws::s3::S3Objects;
use crate::aws::sfn::StepFunctions;
use crate::aws::sqs::SqsQueue;
use crate::config::Config;
use crate::domain::plans::Plans;
use crate::ports::table::{Key, Table};
use crate::ports::SystemClock;

/// Builds the dependencies once per cold start: configuration, the DynamoDB client, and a
/// first (cheap) read so that the TLS connection is open before the first request. The queue,
/// the state machine and the bucket are wired only where the function's configuration names
/// them; the others stay [`Unconfigured`](crate::ports::unconfigured::Unconfigured). The SDK
/// configuration comes too, for the clients only some functions need.
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
        metrics: Arc::new(EmfWriter::Stdout),
        ..App::new(Arc::new(table), Arc::new(SystemClock))
    };
    if let Some(url) = config.executions_queue_url {
        app.queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url));
    }
    if let Some(url) = config.webhook_queue_url {
        app.webhook_queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url));
    }
    if let Some(arn) = config.state_machine_arn {
        app.workflows = Arc::new(StepFunctions::new(aws_sdk_sfn::Client::new(&sdk), arn));
    }
    if let Some(bucket) = config.results_bucket {
        app.objects = Arc::new(S3Objects::new(aws_sdk_s3::Client::new(&sdk), bucket));
    }
    Ok((app, sdk))
}
