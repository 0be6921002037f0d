//! Executions and their credits. Creating one reserves the most it could cost in the same
//! transaction that writes it; settling it charges what was used and refunds the rest in
//! another. So for every ended execution `reserved = used + refunded`, and a team's balance
//! never goes negative.

use std::collections::BTreeMap;

use super::credits::{self, LedgerKind};
use super::items::{from_item, to_item, value_of};
use super::records::{commit, Guarded};
use super::resources::{self, Resource};
use super::{keys, App, Caller};
use crate::agentcore::capabilities::capability;
use crate::domain::agent::AgentDraft;
use crate::domain::execution::{
    Execution, ExecutionCredits, ExecutionError, ExecutionRequest, ExecutionStatus,
};
use crate::domain::ids::{ExecutionId, TeamId};
use crate::domain::resources::{CompanyDraft, PartnerDraft, ProductDraft};
use crate::domain::team::{CREDITS_BALANCE, CREDITS_RESERVED};
use crate::error::Error;
use crate::ports::rfc3339;
use crate::ports::table::{CompareOp, Condition, Key, Update, UpdateAction, WriteOp};

/// Credits charged for planning an execution.
pub const PLANNING_CREDITS: i64 = 2;
/// The most steps a plan may have.
pub const MAX_STEPS: usize = 5;

const EXECUTION_PREFIX: &str = "EXEC#";

/// The key of an execution.
pub fn execution_key(team: &TeamId, id: &ExecutionId) -> Key {
    Key::new(
        keys::team_partition(team),
        format!("{EXECUTION_PREFIX}{id}"),
    )
}

/// The most an execution of `agent` can cost: planning plus the dearest allowed capability
/// for every step.
pub fn reservation(agent: &AgentDraft) -> i64 {
    let dearest = agent
        .allowed_capabilities
        .iter()
        .filter_map(|id| capability(id))
        .map(|c| c.credits.reserve())
        .max()
        .unwrap_or(0);
    PLANNING_CREDITS + dearest * MAX_STEPS as i64
}

/// A check that a referenced record of the caller's team exists.
fn exists<R: Resource>(caller: &Caller, id: &impl std::fmt::Display, field: &str) -> Guarded {
    Guarded::new(
        WriteOp::Check {
            key: Key::new(
                keys::team_partition(&caller.team_id),
                format!("{}{id}", R::SK_PREFIX),
            ),
            condition: Condition::item_exists(),
        },
        Error::invalid_field(
            field,
            format!("No {} with this id exists in your team.", R::KIND),
        ),
    )
}

/// Creates an execution of an agent and reserves its credits; too few credits → 402 and
/// nothing written.
pub async fn create(
    app: &App,
    caller: &Caller,
    agent_id: &str,
    request: ExecutionRequest,
) -> Result<Execution, Error> {
    let request = request.validate()?;
    let agent = resources::get::<AgentDraft>(app, caller, agent_id).await?;
    let reserved = reservation(&agent.data);
    let execution = Execution {
        id: ExecutionId::generate(),
        agent_id: crate::domain::ids::AgentId::parse(&agent.id).map_err(Error::internal)?,
        request: request.request,
        company_id: request.company_id.or(agent.data.default_company_id),
        product_id: request.product_id.or(agent.data.default_product_id),
        partner_id: request.partner_id,
        inputs: request.inputs,
        status: ExecutionStatus::Queued,
        credits: ExecutionCredits {
            reserved,
            used: 0,
            refunded: 0,
        },
        steps: Vec::new(),
        tokens: BTreeMap::new(),
        error: None,
        created_by: caller.user_id.clone(),
        created_at: rfc3339(app.clock.now()),
        finished_at: None,
    };
    let key = execution_key(&caller.team_id, &execution.id);
    let (_, ledger) = credits::entry(
        app,
        &caller.team_id,
        LedgerKind::Reserve,
        -reserved,
        "Reserved for an execution",
        Some(execution.id.to_string()),
    )?;
    let mut writes = vec![
        Guarded::new(
            WriteOp::Put { item: to_item(&execution, &key, "execution")?, condition: Some(Condition::item_absent()) },
            Error::conflict("conflict", "Execution ids collided; retry."),
        ),
        Guarded::new(
            WriteOp::Update(Update {
                key: keys::team(&caller.team_id),
                actions: vec![UpdateAction::Add(CREDITS_BALANCE.into(), -reserved), UpdateAction::Add(CREDITS_RESERVED.into(), reserved)],
                condition: Some(Condition::compare(CREDITS_BALANCE, CompareOp::Ge, reserved)),
            }),
            Error::insufficient_credits(format!(
                "This agent's executions reserve up to {reserved} credits and your team has fewer available; ask an admin for more credits."
            )),
        ),
        ledger,
    ];
    if let Some(id) = &execution.company_id {
        writes.push(exists::<CompanyDraft>(caller, id, "company_id"));
    }
    if let Some(id) = &execution.product_id {
        writes.push(exists::<ProductDraft>(caller, id, "product_id"));
    }
    if let Some(id) = &execution.partner_id {
        writes.push(exists::<PartnerDraft>(caller, id, "partner_id"));
    }
    commit(app.table.as_ref(), writes).await?;
    Ok(execution)
}

/// Reads an execution of a team.
pub async fn find(app: &App, team: &TeamId, id: &ExecutionId) -> Result<Option<Execution>, Error> {
    app.table
        .get(&execution_key(team, id))
        .await?
        .as_ref()
        .map(from_item)
        .transpose()
}

/// How an execution ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// Succeeded, failed or cancelled.
    pub status: ExecutionStatus,
    /// Credits to charge (capped at the reservation).
    pub used: i64,
    /// Why it failed, if it did.
    pub error: Option<ExecutionError>,
}

/// Ends an execution: charges `used`, refunds the rest of the reservation and releases it
/// from the team's reserved credits, all in one transaction. Settling an execution that has
/// already ended changes nothing (a redelivered message or a retried task).
pub async fn settle(
    app: &App,
    team: &TeamId,
    id: &ExecutionId,
    settlement: Settlement,
) -> Result<Execution, Error> {
    if !settlement.status.is_final() {
        return Err(Error::internal(format!(
            "cannot settle an execution as {}",
            settlement.status.as_str()
        )));
    }
    let current = find(app, team, id)
        .await?
        .ok_or_else(|| Error::not_found("execution"))?;
    if current.status.is_final() {
        return Ok(current);
    }
    let reserved = current.credits.reserved;
    let used = settlement.used.clamp(0, reserved);
    let credits = ExecutionCredits {
        reserved,
        used,
        refunded: reserved - used,
    };
    let finished_at = rfc3339(app.clock.now());
    let mut actions = vec![
        UpdateAction::Set("status".into(), settlement.status.as_str().into()),
        UpdateAction::Set("credits".into(), value_of(&credits)?),
        UpdateAction::Set("finished_at".into(), finished_at.clone().into()),
    ];
    if let Some(error) = &settlement.error {
        actions.push(UpdateAction::Set("error".into(), value_of(error)?));
    }
    let mut writes = vec![
        Guarded::new(
            WriteOp::Update(Update {
                key: execution_key(team, id),
                actions,
                condition: Some(Condition::eq("status", current.status.as_str())),
            }),
            Error::conflict(
                "execution_changed",
                "The execution changed while it was being settled; retry.",
            ),
        ),
        Guarded::new(
            WriteOp::Update(Update {
                key: keys::team(team),
                actions: vec![
                    UpdateAction::Add(CREDITS_RESERVED.into(), -reserved),
                    UpdateAction::Add(CREDITS_BALANCE.into(), credits.refunded),
                ],
                condition: Some(Condition::compare(
                    CREDITS_RESERVED,
                    CompareOp::Ge,
                    reserved,
                )),
            }),
            Error::internal("a team's reserved credits are below an execution's reservation"),
        ),
    ];
    if credits.refunded > 0 {
        let reason = format!("Refund of unused credits ({used} of {reserved} used)");
        let (_, refund) = credits::entry(
            app,
            team,
            LedgerKind::Refund,
            credits.refunded,
            &reason,
            Some(id.to_string()),
        )?;
        writes.push(refund);
    }
    match commit(app.table.as_ref(), writes).await {
        Ok(()) => Ok(Execution {
            status: settlement.status,
            credits,
            error: settlement.error,
            finished_at: Some(finished_at),
            ..current
        }),
        // Another worker settled it first: the stored outcome stands.
        Err(error) if error.code == "execution_changed" => match find(app, team, id).await? {
            Some(stored) if stored.status.is_final() => Ok(stored),
            _ => Err(error),
        },
        Err(error) => Err(error),
    }
}
