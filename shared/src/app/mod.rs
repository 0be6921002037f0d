//! Use cases: each takes the ports it needs (through [`App`]) and the [`Caller`], and returns
//! domain results or an [`Error`](crate::error::Error).

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod budgets;
pub mod conversations;
pub mod credits;
pub mod events;
pub mod execution_view;
pub mod executions;
pub mod idempotency;
pub mod items;
pub mod keys;
pub mod limits;
pub mod members;
pub mod memory;
pub mod outbox;
pub mod records;
pub mod resources;
pub mod run_slots;
pub mod teams;
pub mod usage;
pub mod webhooks;

use std::sync::Arc;

use crate::domain::access::{Role, Scope};
use crate::domain::events::Actor;
use crate::domain::ids::{TeamId, UserId};
use crate::domain::plans::Plans;
use crate::ports::ai::{ImageGen, Llm};
use crate::ports::marketplace::Marketplace;
use crate::ports::memory::Memory;
use crate::ports::metrics::Metrics;
use crate::ports::objects::ObjectStore;
use crate::ports::queue::Queue;
use crate::ports::table::Table;
use crate::ports::unconfigured::Unconfigured;
use crate::ports::usage_keys::UsageKeys;
use crate::ports::webhooks::WebhookSender;
use crate::ports::workflows::Workflows;
use crate::ports::Clock;

/// The dependencies of every use case, built once per cold start and cloned into handlers.
#[derive(Clone)]
pub struct App {
    /// The one table.
    pub table: Arc<dyn Table>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// How JWTs are verified, where this deployment accepts them.
    pub jwt: Option<Arc<auth::JwtVerifier>>,
    /// The plans and their monthly credits.
    pub plans: Arc<Plans>,
    /// The text model (Bedrock, or the offline model locally).
    pub llm: Arc<dyn Llm>,
    /// The image model.
    pub images: Arc<dyn ImageGen>,
    /// Large outputs and images.
    pub objects: Arc<dyn ObjectStore>,
    /// Where new executions wait for the dispatcher (SQS, or the local stack's in-process queue).
    pub queue: Arc<dyn Queue>,
    /// The AgentCore state machine (Step Functions, or the local interpreter).
    pub workflows: Arc<dyn Workflows>,
    /// AWS Marketplace (Metering and Entitlement services, or the local stand-in).
    pub marketplace: Arc<dyn Marketplace>,
    /// Business metrics (CloudWatch Embedded Metric Format).
    pub metrics: Arc<dyn Metrics>,
    /// Where webhook deliveries wait for their next attempt (SQS, or the local stack's).
    pub webhook_queue: Arc<dyn Queue>,
    /// What POSTs webhook messages.
    pub webhook_sender: Arc<dyn WebhookSender>,
    /// Whether webhooks may go to `http://` loopback receivers (the local stack's switch for
    /// trying them out; never in AWS).
    pub allow_loopback_webhooks: bool,
    /// Each team's plan as the request limiter last read it.
    pub team_plans: Arc<limits::TeamPlans>,
    /// API Gateway's usage plans, where the deployed authorizer places teams' keys; none
    /// locally (the table's limiter is the only one).
    pub usage_keys: Option<Arc<dyn UsageKeys>>,
    /// Agent memory: the table's by default, Amazon Bedrock AgentCore Memory where configured.
    pub memory: Arc<dyn Memory>,
}

impl App {
    /// An app over a table and a clock, with the default plans and no JWT sign-in; every other
    /// port is unconfigured and fails loudly, naming what configures it, until the process
    /// wires it (the composition root in [`crate::lambda`], or the local stack, which asks for
    /// the offline stand-ins).
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> App {
        App {
            memory: Arc::new(memory::TableMemory::new(table.clone())),
            table,
            clock,
            jwt: None,
            plans: Arc::new(Plans::default()),
            llm: Arc::new(Unconfigured(
                "a Bedrock client (only the plan and run-step functions have one)",
            )),
            images: Arc::new(Unconfigured(
                "a Bedrock client (only the run-step function has one)",
            )),
            objects: Arc::new(Unconfigured("RESULTS_BUCKET")),
            queue: Arc::new(Unconfigured("EXECUTIONS_QUEUE_URL")),
            workflows: Arc::new(Unconfigured("STATE_MACHINE_ARN")),
            marketplace: Arc::new(Unconfigured("MARKETPLACE")),
            metrics: Arc::new(Unconfigured("a metrics writer (the composition root's)")),
            webhook_queue: Arc::new(Unconfigured("WEBHOOK_QUEUE_URL")),
            webhook_sender: Arc::new(Unconfigured(
                "a webhook sender (only the webhook delivery function has one)",
            )),
            allow_loopback_webhooks: false,
            team_plans: Arc::default(),
            usage_keys: None,
        }
    }
}

/// Who is calling: resolved by the authorizer, never taken from a path or a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The tenant every read and write is confined to.
    pub team_id: TeamId,
    /// The person (for an API key: the member who created it).
    pub user_id: UserId,
    /// Their role in the team.
    pub role: Role,
    /// What the credential may do.
    pub scopes: Vec<Scope>,
    /// The credential: an API key id, or `jwt`.
    pub credential: String,
    /// The API request this caller made, where there is one.
    pub request_id: Option<String>,
}

impl Caller {
    /// Who the caller is, as events and the audit log name them.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.user_id.clone(),
            credential: self.credential.clone(),
            request_id: self.request_id.clone(),
        }
    }
}
