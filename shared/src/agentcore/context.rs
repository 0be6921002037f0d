//! What a task knows about its execution: the execution with its agent, company, product and
//! partner (each read through its repository), the team's recent results as memory, and the
//! context text the planner and the writers are given.

use std::collections::BTreeMap;

use serde_json::Value;

use super::task::TaskError;
use crate::app::executions::{self, Progress};
use crate::app::resources::{self, Resource};
use crate::app::App;
use crate::domain::agent::AgentDraft;
use crate::domain::execution::{Execution, ExecutionStatus, TaskInput};
use crate::domain::ids::TeamId;
use crate::domain::resources::{CompanyDraft, PartnerDraft, ProductDraft};
use crate::domain::tokens::TokenUsage;
use crate::error::Error;
use crate::ports::ai::TextResponse;
use crate::ports::memory::RecallQuery;

/// Everything a task needs about an execution.
pub(super) struct Loaded {
    /// The execution.
    pub execution: Execution,
    /// The team's latest successful executions, as memory for the planner and the writers.
    pub memory: Vec<String>,
    /// Its agent.
    pub agent: AgentDraft,
    /// The company it is for, if any.
    pub company: Option<CompanyDraft>,
    /// The product it is for, if any.
    pub product: Option<ProductDraft>,
    /// The partner it is for, if any.
    pub partner: Option<PartnerDraft>,
}

/// A resource of the team by id, as its data; `None` without an id or when it is gone. Read
/// eventually consistently: the execution was created with it, moments to days before.
async fn data<R: Resource>(app: &App, team: &TeamId, id: Option<&str>) -> Result<Option<R>, Error> {
    let Some(id) = id else { return Ok(None) };
    Ok(resources::find_eventually::<R>(app, team, id)
        .await?
        .map(|r| r.data))
}

pub(super) async fn load(app: &App, input: &TaskInput) -> Result<Loaded, TaskError> {
    let execution = executions::find(app, &input.team_id, &input.execution_id)
        .await?
        .ok_or_else(|| {
            TaskError::Internal(format!("execution {} not found", input.execution_id))
        })?;
    let team = &input.team_id;
    let agent = data::<AgentDraft>(app, team, Some(execution.agent_id.as_str()))
        .await?
        .ok_or_else(|| TaskError::StepFailed("the execution's agent has been deleted".into()))?;
    let company = data(app, team, execution.company_id.as_ref().map(|c| c.as_str())).await?;
    let product = data(app, team, execution.product_id.as_ref().map(|p| p.as_str())).await?;
    let partner = data(app, team, execution.partner_id.as_ref().map(|p| p.as_str())).await?;
    Ok(Loaded {
        execution,
        memory: Vec::new(),
        agent,
        company,
        product,
        partner,
    })
}

/// How many earlier results the planner and the writers are reminded of.
const MEMORY_RESULTS: usize = 3;

/// What the team's latest successful work for this brand (and work other brands share)
/// produced, one line each, from the team's memory: a bounded read, however long the history.
pub(super) async fn memory(
    app: &App,
    input: &TaskInput,
    execution: &Execution,
) -> Result<Vec<String>, TaskError> {
    let query = RecallQuery {
        team: input.team_id.clone(),
        brand: execution.company_id.clone(),
        about: execution.request.clone(),
        limit: MEMORY_RESULTS,
    };
    app.memory
        .recall(&query)
        .await
        .map_err(|e| TaskError::Unavailable(e.to_string()))
}

/// What the planner and the writers know, in two parts: the facts about the brand, product
/// and partner, the same from one execution to the next (a prompt's cacheable prefix), and
/// what this execution adds: its inputs and the team's recent results.
pub(super) struct Context {
    /// The brand, product and partner.
    pub facts: String,
    /// The execution's inputs and the recalled results.
    pub this_run: String,
}

pub(super) fn context(loaded: &Loaded) -> Context {
    let mut lines = facts(loaded.company.as_ref(), loaded.product.as_ref());
    if let Some(partner) = &loaded.partner {
        lines.push(format!(
            "Partner: {} (industries: {}; regions: {})",
            partner.name,
            partner.industries.join(", "),
            partner.regions.join(", ")
        ));
    }
    let mut this_run = Vec::new();
    if !loaded.execution.inputs.is_empty() {
        this_run.push(format!(
            "Inputs: {}",
            Value::Object(loaded.execution.inputs.clone())
        ));
    }
    if !loaded.memory.is_empty() {
        this_run.push("Recent results of this team:".into());
        this_run.extend(loaded.memory.iter().cloned());
    }
    Context {
        facts: lines.join("\n"),
        this_run: this_run.join("\n"),
    }
}

/// What the brand and the product are, as context lines: the same for a plan, a step and a
/// chat reply.
pub(super) fn facts(company: Option<&CompanyDraft>, product: Option<&ProductDraft>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(company) = company {
        lines.push(format!(
            "Company: {}{}",
            company.name,
            company
                .description
                .as_ref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        ));
    }
    if let Some(product) = product {
        lines.push(format!(
            "Product: {}{}",
            product.name,
            product
                .description
                .as_ref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        ));
        if !product.use_cases.is_empty() {
            lines.push(format!("Use cases: {}", product.use_cases.join("; ")));
        }
    }
    lines
}

/// Adds a model call's tokens to an execution's, by model.
pub(super) fn add_tokens(tokens: &mut BTreeMap<String, TokenUsage>, response: &TextResponse) {
    tokens
        .entry(response.model.clone())
        .or_default()
        .add(&response.tokens());
}

/// Writes the execution's progress if it is still `from`; a cancelled or ended execution
/// stops the task quietly.
pub(super) async fn save(
    app: &App,
    input: &TaskInput,
    execution: &Execution,
    from: ExecutionStatus,
    progress: Progress,
) -> Result<(), TaskError> {
    match executions::save_progress(app, &input.team_id, execution, from, progress).await? {
        true => Ok(()),
        false => Err(TaskError::Cancelled(
            "the execution was cancelled or has ended".into(),
        )),
    }
}
