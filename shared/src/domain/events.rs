//! Domain events: facts worth telling (a budget threshold crossed, …), written in the same
//! transaction as the change they tell of, for the consumers (webhooks, audit) to read.

use serde::{Deserialize, Serialize};

use super::ids::{TeamId, UserId};

/// A budget threshold was crossed this month.
pub const BUDGET_THRESHOLD_CROSSED: &str = "budget.threshold_crossed";
/// Spending reached the budget's limit this month.
pub const BUDGET_EXCEEDED: &str = "budget.exceeded";

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
    pub actor: Option<UserId>,
    /// The facts.
    pub data: serde_json::Value,
}
