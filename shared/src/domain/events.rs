//! Domain events: facts worth telling (a budget threshold crossed, …), written in the same
//! transaction as the change they tell of, for the consumers (webhooks, audit) to read.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ids::{TeamId, UserId};

/// An execution was created with its credits reserved and waits for its workflow.
pub const EXECUTION_QUEUED: &str = "execution.queued";
/// The workflow picked the execution up.
pub const EXECUTION_STARTED: &str = "execution.started";
/// The planner made the execution's plan.
pub const EXECUTION_PLANNED: &str = "execution.planned";
/// The plan waits for a person's approval.
pub const EXECUTION_AWAITING_APPROVAL: &str = "execution.awaiting_approval";
/// A step of the plan finished with its output.
pub const EXECUTION_STEP_SUCCEEDED: &str = "execution.step_succeeded";
/// A step of the plan failed (the execution fails with it).
pub const EXECUTION_STEP_FAILED: &str = "execution.step_failed";
/// Every step ran; the credits are settled.
pub const EXECUTION_SUCCEEDED: &str = "execution.succeeded";
/// The plan or a step failed; the credits are settled.
pub const EXECUTION_FAILED: &str = "execution.failed";
/// A person cancelled the execution or rejected its plan; the credits are settled.
pub const EXECUTION_CANCELLED: &str = "execution.cancelled";
/// A person was invited.
pub const MEMBER_INVITED: &str = "member.invited";
/// A member's role or monthly credit limit changed.
pub const MEMBER_CHANGED: &str = "member.changed";
/// A member was removed.
pub const MEMBER_REMOVED: &str = "member.removed";
/// An API key was created.
pub const API_KEY_CREATED: &str = "api_key.created";
/// An API key was revoked.
pub const API_KEY_REVOKED: &str = "api_key.revoked";
/// The team's AWS Marketplace subscription changed state.
pub const SUBSCRIPTION_CHANGED: &str = "subscription.changed";
/// A budget threshold was crossed this month.
pub const BUDGET_THRESHOLD_CROSSED: &str = "budget.threshold_crossed";
/// Spending reached the budget's limit this month.
pub const BUDGET_EXCEEDED: &str = "budget.exceeded";

/// A test event an admin sent to an endpoint.
pub const WEBHOOK_TEST: &str = "webhook.test";
/// An endpoint was disabled: it answered 410, or failed every attempt for five days.
pub const WEBHOOK_DISABLED: &str = "webhook.disabled";

/// An execution's plan was approved (rejection cancels it: `execution.cancelled`).
pub const EXECUTION_APPROVED: &str = "execution.approved";
/// The team's budget was set.
pub const BUDGET_CHANGED: &str = "budget.changed";
/// An endpoint's signing secret was rotated.
pub const WEBHOOK_SECRET_ROTATED: &str = "webhook.secret_rotated";

/// The kinds of record whose creation, change and deletion are told as `<kind>.created`,
/// `<kind>.changed` and `<kind>.deleted`.
pub const RECORD_KINDS: [&str; 6] = [
    "company",
    "product",
    "partner",
    "agent",
    "conversation",
    "webhook",
];

/// Every event type, as endpoints subscribe to them.
pub fn event_types() -> Vec<String> {
    let told = [
        EXECUTION_QUEUED,
        EXECUTION_STARTED,
        EXECUTION_PLANNED,
        EXECUTION_AWAITING_APPROVAL,
        EXECUTION_APPROVED,
        EXECUTION_STEP_SUCCEEDED,
        EXECUTION_STEP_FAILED,
        EXECUTION_SUCCEEDED,
        EXECUTION_FAILED,
        EXECUTION_CANCELLED,
        MEMBER_INVITED,
        MEMBER_CHANGED,
        MEMBER_REMOVED,
        API_KEY_CREATED,
        API_KEY_REVOKED,
        SUBSCRIPTION_CHANGED,
        BUDGET_CHANGED,
        BUDGET_THRESHOLD_CROSSED,
        BUDGET_EXCEEDED,
        WEBHOOK_TEST,
        WEBHOOK_DISABLED,
        WEBHOOK_SECRET_ROTATED,
    ];
    let records = RECORD_KINDS
        .iter()
        .flat_map(|kind| ["created", "changed", "deleted"].map(|what| format!("{kind}.{what}")));
    told.iter().map(|t| t.to_string()).chain(records).collect()
}

/// The JSON Schema (2020-12) of an event as webhooks deliver it, with every event type;
/// published as `docs/events.schema.json` (a test holds the two together).
pub fn json_schema() -> serde_json::Value {
    let id = |prefix: &str| serde_json::json!({"type": "string", "pattern": format!("^{prefix}_[0-9A-Z]{{26}}$")});
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Vellocity event",
        "description": "A change worth telling, recorded with the change itself. `data` is thin: ids, statuses and figures, never generated content.",
        "type": "object",
        "required": ["id", "type", "team_id", "occurred_at", "data"],
        "additionalProperties": false,
        "properties": {
            "id": id("evt"),
            "type": {"enum": event_types()},
            "team_id": id("team"),
            "occurred_at": {"type": "string", "format": "date-time"},
            "actor": {
                "description": "Who made the change; absent for the workflow and AWS Marketplace.",
                "type": "object",
                "required": ["user_id", "credential"],
                "additionalProperties": false,
                "properties": {
                    "user_id": id("usr"),
                    "credential": {"type": "string", "description": "The API key id, or `jwt`."},
                    "request_id": {"type": "string"}
                }
            },
            "data": {"type": "object"}
        }
    })
}

/// Who made a change: the member, the credential they used (an API key id, or `jwt`) and the
/// API request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    /// The member.
    pub user_id: UserId,
    /// The API key id, or `jwt`.
    pub credential: String,
    /// The API request, where the change came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One event: thin data (ids, figures), never generated content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// `evt_<ULID>`: events sort in the order they happened.
    pub id: String,
    /// What happened, e.g. `budget.threshold_crossed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The team it happened in.
    pub team_id: TeamId,
    /// When (RFC 3339).
    pub occurred_at: String,
    /// Who did it, when a person did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The facts.
    pub data: serde_json::Value,
}
