//! Credits: exact integer balances on the team item, changed only by conditional writes that
//! also write a ledger entry, so every change is explained and a balance never goes negative.

use serde::{Deserialize, Serialize};

use super::items::{from_item, to_item};
use super::records::{commit, listing, Guarded, Listing, PageRequest};
use super::{keys, App};
use crate::domain::ids::{LedgerEntryId, TeamId};
use crate::domain::team::{Team, CREDITS_BALANCE};
use crate::error::{Conflict, Error};
use crate::ports::rfc3339;
use crate::ports::table::{CompareOp, Condition, Index, Key, Query, Update, UpdateAction, WriteOp};

/// Why a balance changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// A plan's credits (a new team's trial, a renewal).
    PlanGrant,
    /// Credits granted by an operator.
    Grant,
    /// Credits taken back by an operator.
    Revoke,
    /// Held for an execution.
    Reserve,
    /// The unused part of a reservation, given back when the execution ended.
    Refund,
}

/// One change of a team's credits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The entry's id.
    pub id: LedgerEntryId,
    /// What happened.
    pub kind: LedgerKind,
    /// The change of the available balance (negative when credits leave it).
    pub amount: i64,
    /// Why, in words.
    pub reason: String,
    /// The execution it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// When (RFC 3339).
    pub created_at: String,
}

const LEDGER_PREFIX: &str = "LEDGER#";

fn entry_key(team: &TeamId, id: &LedgerEntryId) -> Key {
    Key::new(keys::team_partition(team), format!("{LEDGER_PREFIX}{id}"))
}

/// A new ledger entry, and the write that stores it.
pub fn entry(
    app: &App,
    team: &TeamId,
    kind: LedgerKind,
    amount: i64,
    reason: &str,
    execution_id: Option<String>,
) -> Result<(LedgerEntry, Guarded), Error> {
    let entry = LedgerEntry {
        id: LedgerEntryId::generate(),
        kind,
        amount,
        reason: reason.to_owned(),
        execution_id,
        created_at: rfc3339(app.clock.now()),
    };
    let write = Guarded::new(
        WriteOp::Put {
            item: to_item(&entry, &entry_key(team, &entry.id), "ledger_entry")?,
            condition: Some(Condition::item_absent()),
        },
        Error::conflict(Conflict::Changed, "Ledger entry ids collided; retry."),
    );
    Ok((entry, write))
}

/// Grants (positive) or revokes (negative) credits, with a ledger entry; a revocation larger
/// than the available balance is refused. Returns the team afterwards.
pub async fn adjust(app: &App, team: &TeamId, amount: i64, reason: &str) -> Result<Team, Error> {
    if amount == 0 {
        return Err(Error::invalid_field("amount", "must not be zero"));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::invalid_field(
            "reason",
            "must be 1 to 500 characters",
        ));
    }
    let kind = if amount > 0 {
        LedgerKind::Grant
    } else {
        LedgerKind::Revoke
    };
    let (_, ledger_write) = entry(app, team, kind, amount, reason, None)?;
    let mut condition = vec![Condition::item_exists()];
    if amount < 0 {
        condition.push(Condition::compare(CREDITS_BALANCE, CompareOp::Ge, -amount));
    }
    let balance_write = Guarded::new(
        WriteOp::Update(Update {
            key: keys::team(team),
            actions: vec![UpdateAction::Add(CREDITS_BALANCE.into(), amount)],
            condition: Some(Condition::And(condition)),
        }),
        Error::insufficient_credits(format!(
            "The team has fewer than {} credits available to revoke.",
            -amount
        )),
    );
    let result = commit(app.table.as_ref(), vec![balance_write, ledger_write]).await;
    let current = app.table.get(&keys::team(team)).await?;
    match (result, current) {
        (_, None) => Err(Error::not_found("team")),
        (Err(error), Some(_)) => Err(error),
        (Ok(()), Some(item)) => from_item(&item),
    }
}

/// A team's ledger, newest first.
pub async fn ledger(
    app: &App,
    team: &TeamId,
    page: PageRequest,
) -> Result<Listing<LedgerEntry>, Error> {
    let mut query = Query::prefix(Index::Table, keys::team_partition(team), LEDGER_PREFIX);
    query.descending = true;
    query.limit = page.limit;
    query.cursor = page.cursor;
    listing(app.table.query(query).await?)
}
