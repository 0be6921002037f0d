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
use crate::aws::s3::{S3Links, S3Objects};
use crate::aws::sfn::StepFunctions;
use crate::aws::sqs::SqsQueue;
use crate::config::Config;
use crate::domain::plans::Plans;
use crate::ports::table::{Key, Table};
use crate::ports::SystemClock;

/// An AWS client a function wires besides the table, from its setting in the configuration.
/// Entry points name the ones their function uses ([`wire`]), so a binary links no client it
/// does not use; the template sets each setting only for the functions that use it (a test
/// holds the two together).
pub type Wire = fn(&mut App, &SdkConfig, &Config);

/// The clients a function may wire.
pub mod wire {
    use super::*;

    /// The executions queue and the webhook queue, whichever the configuration names (one
    /// SQS client for both).
    pub fn queues(app: &mut App, sdk: &SdkConfig, config: &Config) {
        let mut sqs = None;
        let mut client = || {
            sqs.get_or_insert_with(|| aws_sdk_sqs::Client::new(sdk))
                .clone()
        };
        if let Some(url) = &config.executions_queue_url {
            app.queue = Arc::new(SqsQueue::new(client(), url.clone()));
        }
        if let Some(url) = &config.webhook_queue_url {
            app.webhook_queue = Arc::new(SqsQueue::new(client(), url.clone()));
        }
    }

    /// The AgentCore state machines (task tokens, stopping runs, starting and continuing them).
    pub fn state_machine(app: &mut App, sdk: &SdkConfig, config: &Config) {
        if let Some(arn) = &config.state_machine_arn {
            let client = aws_sdk_sfn::Client::new(sdk);
            let mut machines = StepFunctions::new(client, arn.clone());
            if let Some(express) = &config.express_state_machine_arn {
                machines = machines.with_express(express.clone());
            }
            app.workflows = Arc::new(machines);
        }
    }

    /// Links to the results bucket's objects, signed here: for the routes that show results and
    /// store none, so they do not link the S3 client.
    pub fn result_links(app: &mut App, sdk: &SdkConfig, config: &Config) {
        if let Some(bucket) = &config.results_bucket {
            app.objects = Arc::new(S3Links::new(sdk, bucket.clone()));
        }
    }

    /// Agent memory on Amazon Bedrock AgentCore Memory, where the configuration names one (the
    /// table keeps it otherwise).
    pub fn memory(app: &mut App, sdk: &SdkConfig, config: &Config) {
        if let Some(memory_id) = &config.agentcore_memory_id {
            app.memory = Arc::new(crate::aws::agentcore_memory::AgentCoreMemory::new(
                sdk,
                memory_id.clone(),
                config.agentcore_memory_role_arn.clone(),
            ));
        }
    }

    /// The results bucket, to store results in.
    pub fn bucket(app: &mut App, sdk: &SdkConfig, config: &Config) {
        if let Some(bucket) = &config.results_bucket {
            let client = aws_sdk_s3::Client::new(sdk);
            app.objects = Arc::new(S3Objects::new(client, S3Links::new(sdk, bucket.clone())));
        }
    }
}

/// Builds the dependencies once per cold start: configuration, the DynamoDB client, a first
/// (cheap) read so that the connection is open before the first request, and the clients of
/// `wiring`. Every port not wired stays
/// [`Unconfigured`](crate::ports::unconfigured::Unconfigured). The SDK configuration comes too,
/// for the clients only some functions need.
pub async fn build_app_with_sdk(
    wiring: &[Wire],
) -> Result<(App, Config, SdkConfig), lambda_runtime::Error> {
    let config = Config::from_env()?;
    let sdk = crate::aws::lambda_sdk_config();
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = DynamoDbTable::new(client, config.table_name.clone());
    if let Err(error) = table.get(&Key::new("WARMUP", "WARMUP")).await {
        tracing::warn!(%error, "warm-up read failed");
    }
    let mut app = App {
        plans: Arc::new(Plans::from_env()?),
        metrics: Arc::new(EmfWriter::Stdout),
        ..App::new(Arc::new(table), Arc::new(SystemClock))
    };
    for wire in wiring {
        wire(&mut app, &sdk, &config);
    }
    Ok((app, config, sdk))
}
