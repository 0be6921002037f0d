//! Executions: one run of an agent on a request. The record carries ids and progress, never
//! large outputs (those live in S3 or their own items).

use schemars::JsonSchema;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::{AgentId, CompanyId, ExecutionId, PartnerId, ProductId, TeamId, UserId};
use super::step::Step;
use super::tokens::TokenUsage;
use super::validation::FieldErrors;

/// Where an execution is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Credits reserved, waiting for the workflow to start.
    Queued,
    /// The workflow is planning or running steps.
    Running,
    /// The plan waits for a person's approval.
    AwaitingApproval,
    /// Every step ran.
    Succeeded,
    /// A step or the plan failed.
    Failed,
    /// Stopped by a person.
    Cancelled,
}

impl ExecutionStatus {
    /// Whether the execution has ended (its credits are settled).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Succeeded | ExecutionStatus::Failed | ExecutionStatus::Cancelled
        )
    }

    /// The status's name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Queued => "queued",
            ExecutionStatus::Running => "running",
            ExecutionStatus::AwaitingApproval => "awaiting_approval",
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
        }
    }
}

/// An execution's credits. Once it has ended, `reserved = used + refunded`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionCredits {
    /// Held when the execution was created.
    pub reserved: i64,
    /// Charged for planning and the steps that ran.
    pub used: i64,
    /// Given back when it ended.
    pub refunded: i64,
}

/// Why an execution failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionError {
    /// Stable error name (`InvalidPlan`, `Throttled`, …).
    pub code: String,
    /// What happened.
    pub message: String,
}

/// An execution as stored and shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// Its id (also the Step Functions execution name).
    pub id: ExecutionId,
    /// The agent that runs it.
    pub agent_id: AgentId,
    /// What was asked.
    pub request: String,
    /// Whose brand voice applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<CompanyId>,
    /// The product it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
    /// The partner it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<PartnerId>,
    /// Extra inputs for the planner, stored as JSON text: clients may send any JSON
    /// (fractions, big numbers) and the table keeps only exact integers.
    #[serde(
        default,
        with = "super::json_text",
        skip_serializing_if = "serde_json::Map::is_empty"
    )]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// Where it is.
    pub status: ExecutionStatus,
    /// Credits reserved, used and refunded.
    pub credits: ExecutionCredits,
    /// The plan's steps as they run (stored as JSON text: model-written inputs may hold any
    /// JSON, the table keeps only exact integers).
    #[serde(default, with = "super::json_text")]
    pub steps: Vec<Step>,
    /// Tokens by model.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenUsage>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ExecutionError>,
    /// Who started it.
    pub created_by: UserId,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The workflow's task token while the plan waits for approval; never shown to clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_token: Option<String>,
    /// The person's decision on the plan, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// What it committed against the month's budget and its member's limit until it settles
    /// (none for executions started before budgets existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<super::budget::Commitment>,
    /// The express run that claimed it when it started ([`run_claim`] of its execution ARN):
    /// another express run of the same execution — the express service starts runs at least
    /// once — stops at its first task. Durable runs and executions started before express runs
    /// have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Whether it holds one of the team's slots for running executions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub holds_slot: bool,
    /// The team's Bedrock guardrail when it started: its model calls are held to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<super::team::Guardrail>,
    /// How it is stored: its steps' outputs in items of their own, so each progress write
    /// rewrites a small item (every execution created since; older ones keep them inline).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outputs_apart: bool,
}

/// What an execution keeps of the express run that claimed it: 16 hex digits of the SHA-256
/// of the run's id (an execution ARN of ~150 bytes would grow an item every progress write
/// rewrites, on the table and its index).
pub fn run_claim(run_id: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(run_id.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Execution {
    /// Credits earned so far: planning once a plan exists, plus every step that succeeded.
    pub fn used_credits(&self, planning_credits: i64) -> i64 {
        let planning = if self.steps.is_empty() {
            0
        } else {
            planning_credits
        };
        planning
            + self
                .steps
                .iter()
                .filter(|s| s.status == super::step::StepStatus::Succeeded)
                .map(|s| s.credits)
                .sum::<i64>()
    }
}

/// A person's decision on a plan that waited for approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Whether the plan may run.
    pub approved: bool,
    /// Why, in their words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Who decided.
    pub by: UserId,
    /// When (RFC 3339).
    pub at: String,
}

/// `POST /v1/executions/{id}/approval`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// Run the plan (`true`) or end the execution (`false`).
    pub approved: bool,
    /// Why.
    #[serde(default)]
    pub comment: Option<String>,
}

/// The longest approval comment.
pub const COMMENT_MAX: usize = 1_000;

impl ApprovalRequest {
    /// Trims and checks the comment.
    pub fn validate(self) -> Result<ApprovalRequest, FieldErrors> {
        let mut errors = FieldErrors::default();
        let comment = self
            .comment
            .as_deref()
            .map(|c| errors.text("comment", c, 0, COMMENT_MAX))
            .filter(|c| !c.is_empty());
        errors.finish(ApprovalRequest { comment, ..self })
    }
}

/// `POST /v1/agents/{id}/executions`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionRequest {
    /// What to do, in words.
    #[schemars(length(min = 1))]
    pub request: String,
    /// Whose brand voice applies (default: the agent's default company).
    #[serde(default)]
    pub company_id: Option<CompanyId>,
    /// The product it is about (default: the agent's default product).
    #[serde(default)]
    pub product_id: Option<ProductId>,
    /// The partner it is about.
    #[serde(default)]
    pub partner_id: Option<PartnerId>,
    /// Extra inputs for the planner.
    #[serde(default)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
}

/// The longest request.
pub const REQUEST_MAX: usize = 4_000;
/// The largest `inputs` object, as JSON.
pub const INPUTS_MAX_BYTES: usize = 16 * 1024;

impl ExecutionRequest {
    /// Trims and checks the request.
    pub fn validate(self) -> Result<ExecutionRequest, FieldErrors> {
        let mut errors = FieldErrors::default();
        let request = errors.text("request", &self.request, 1, REQUEST_MAX);
        let size = serde_json::to_vec(&self.inputs)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > INPUTS_MAX_BYTES {
            errors.add(
                "inputs",
                format!(
                    "must be at most {} KB as JSON (got {} bytes)",
                    INPUTS_MAX_BYTES / 1024,
                    size
                ),
            );
        }
        errors.finish(ExecutionRequest { request, ..self })
    }
}

/// What runs of an execution carry, from the queue message to every task of the state
/// machine: ids only, so the workflow state stays tiny.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInput {
    /// The team.
    pub team_id: TeamId,
    /// The execution.
    pub execution_id: ExecutionId,
}
