//! Credits: exact integer balances on the team item, changed only by conditional writes that
//! also write a ledger entry, so every change is explained and a balance never goes negative.

use serde::{Deserialize, Serialize};

use super::items::{from_item, to_item};
use super::records::{commit, listing, Guarded, Listing, PageRequest};
use super::{budgets, keys, members, App};
use crate::domain::budget::Commitment;
use crate::domain::ids::{LedgerEntryId, TeamId, UserId};
use crate::domain::marketplace::SubscriptionState;
use crate::domain::team::{Team, CREDITS_BALANCE, CREDITS_RESERVED};
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
    /// Held for an execution or a chat reply.
    Reserve,
    /// The unused part of a reservation, given back when the work ended.
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
    /// The chat reply it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// When (RFC 3339).
    pub created_at: String,
}

const LEDGER_PREFIX: &str = "LEDGER#";

fn entry_key(team: &TeamId, id: &LedgerEntryId) -> Key {
    Key::new(keys::team_partition(team), format!("{LEDGER_PREFIX}{id}"))
}

/// What a reservation is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Work {
    /// An execution, by id.
    Execution(String),
    /// A chat reply, by the id of the message it answers.
    Message(String),
}

/// A new ledger entry, and the write that stores it.
pub fn entry(
    app: &App,
    team: &TeamId,
    kind: LedgerKind,
    amount: i64,
    reason: &str,
    work: Option<&Work>,
) -> Result<(LedgerEntry, Guarded), Error> {
    let entry = LedgerEntry {
        id: LedgerEntryId::generate(),
        kind,
        amount,
        reason: reason.to_owned(),
        execution_id: match work {
            Some(Work::Execution(id)) => Some(id.clone()),
            _ => None,
        },
        message_id: match work {
            Some(Work::Message(id)) => Some(id.clone()),
            _ => None,
        },
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

/// The writes that reserve `amount` credits for a piece of work a member starts: moved from
/// the team's available balance to its reserved credits (402 `insufficient_credits` when fewer
/// are available), with a ledger entry, and committed against the month's budget and the
/// member's limit with the work's most cost (402 `budget_exceeded`, `member_limit_exceeded`).
/// They go in the transaction that creates the work, so there is no work without its
/// reservation and no reservation without its work.
pub async fn reserve(
    app: &App,
    team: &Team,
    member: &UserId,
    amount: i64,
    most_micro_usd: i64,
    work: &Work,
    refusal: String,
) -> Result<(Commitment, Vec<Guarded>), Error> {
    let reason = match work {
        Work::Execution(_) => "Reserved for an execution",
        Work::Message(_) => "Reserved for a chat reply",
    };
    let member_limit = members::find(app, &team.id, member)
        .await?
        .and_then(|m| m.monthly_credit_limit);
    let (commitment, budget_writes) =
        budgets::commit_writes(app, team, member, member_limit, amount, most_micro_usd)?;
    let (_, ledger) = entry(
        app,
        &team.id,
        LedgerKind::Reserve,
        -amount,
        reason,
        Some(work),
    )?;
    let mut writes = vec![
        Guarded::new(
            WriteOp::Update(Update {
                key: keys::team(&team.id),
                actions: vec![
                    UpdateAction::Add(CREDITS_BALANCE.into(), -amount),
                    UpdateAction::Add(CREDITS_RESERVED.into(), amount),
                ],
                condition: Some(Condition::compare(CREDITS_BALANCE, CompareOp::Ge, amount)),
            }),
            Error::insufficient_credits(refusal),
        ),
        ledger,
    ];
    writes.extend(budget_writes);
    Ok((commitment, writes))
}

/// The check, added to the transaction that starts paid work, that a team registered through
/// Marketplace still has an active subscription. `None` for direct-plan teams.
pub fn subscription_check(team: &Team) -> Option<Guarded> {
    let link = team.marketplace.as_ref()?;
    Some(Guarded::new(
        WriteOp::Check {
            key: keys::marketplace_customer(&link.product_code, &link.customer_ref),
            condition: Condition::eq("state", SubscriptionState::Active.as_str()),
        },
        Error::SubscriptionInactive,
    ))
}

/// The writes that end a reservation: `used` of the `reserved` credits are charged, the rest
/// goes back to the available balance with a refund entry. They go in the transaction that
/// ends the work, which can commit only once.
pub fn settle(
    app: &App,
    team: &TeamId,
    reserved: i64,
    used: i64,
    spent: Spent<'_>,
    work: &Work,
) -> Result<Vec<Guarded>, Error> {
    let refunded = reserved - used;
    let mut writes = vec![Guarded::new(
        WriteOp::Update(Update {
            key: keys::team(team),
            actions: vec![
                UpdateAction::Add(CREDITS_RESERVED.into(), -reserved),
                UpdateAction::Add(CREDITS_BALANCE.into(), refunded),
            ],
            condition: Some(Condition::compare(
                CREDITS_RESERVED,
                CompareOp::Ge,
                reserved,
            )),
        }),
        Error::internal("a team's reserved credits are below a reservation being settled"),
    )];
    if refunded > 0 {
        let reason = format!("Refund of unused credits ({used} of {reserved} used)");
        let (_, refund) = entry(app, team, LedgerKind::Refund, refunded, &reason, Some(work))?;
        writes.push(refund);
    }
    if let Some(commitment) = spent.commitment {
        writes.extend(budgets::settle_writes(
            team,
            commitment,
            used,
            spent.micro_usd,
            app.clock.now(),
        ));
    }
    Ok(writes)
}

/// What settled work cost, against the commitment it made (work reserved before budgets
/// existed has none).
#[derive(Clone, Copy, Debug)]
pub struct Spent<'a> {
    /// Its cost at the catalog's prices.
    pub micro_usd: i64,
    /// What it committed when it was reserved.
    pub commitment: Option<&'a Commitment>,
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
