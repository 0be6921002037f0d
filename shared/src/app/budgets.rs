//! Budgets and member limits, checked in the transaction that reserves credits for new work.
//!
//! Each month has a spending item per team (`SPEND#<month>`) and per member
//! (`SPEND#<month>#MEMBER#<user>`). Reserving work adds its credits and its most cost to the
//! month's `committed` figures, on the condition that they stay within the limit — a
//! condition DynamoDB evaluates atomically, so concurrent reservations never pass it together.
//! Settling replaces the commitment with what was used and spent (in the month it settles),
//! and records each threshold the month's spending has crossed as a domain event, once.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::items::{from_item, value_of};
use super::records::{commit, Guarded};
use super::{events, keys, App, Caller};
use crate::domain::budget::{Budget, BudgetRequest, Commitment};
use crate::domain::events::{BUDGET_CHANGED, BUDGET_EXCEEDED, BUDGET_THRESHOLD_CROSSED};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::team::Team;
use crate::error::{Conflict, Error};
use crate::ports::rfc3339;
use crate::ports::table::{CompareOp, Condition, Item, Key, Update, UpdateAction, WriteOp};

const SPEND_PREFIX: &str = "SPEND#";
/// Credits reserved and not yet settled, plus credits used.
const CREDITS_COMMITTED: &str = "credits_committed";
/// The most in-flight work may cost, plus what settled work cost.
const MICRO_USD_COMMITTED: &str = "micro_usd_committed";
const CREDITS_USED: &str = "credits_used";
const SPENT_MICRO_USD: &str = "spent_micro_usd";

/// The month an instant falls in (UTC): `2026-11`.
pub fn month_of(at: OffsetDateTime) -> String {
    rfc3339(at)[..7].to_owned()
}

fn month_key(team: &TeamId, month: &str) -> Key {
    Key::new(keys::team_partition(team), format!("{SPEND_PREFIX}{month}"))
}

fn member_month_key(team: &TeamId, month: &str, member: &UserId) -> Key {
    Key::new(
        keys::team_partition(team),
        format!("{SPEND_PREFIX}{month}#MEMBER#{member}"),
    )
}

/// `committed + amount <= limit`, as a condition DynamoDB can check: `committed <= limit -
/// amount` (an absent figure is zero).
fn stays_within(attribute: &str, limit: i64, amount: i64) -> Condition {
    Condition::Or(vec![
        Condition::NotExists(attribute.into()),
        Condition::compare(attribute, CompareOp::Le, limit - amount),
    ])
}

/// The writes that commit new work against the team's month and the member's limit: 402
/// `budget_exceeded` (hard stop) or `member_limit_exceeded` when it would pass them, before
/// anything is written.
pub fn commit_writes(
    app: &App,
    team: &Team,
    member: &UserId,
    member_limit: Option<i64>,
    credits: i64,
    micro_usd: i64,
) -> Result<(Commitment, Vec<Guarded>), Error> {
    let commitment = Commitment {
        month: month_of(app.clock.now()),
        member: member.clone(),
        credits,
        micro_usd,
    };
    let budget = team.budget.clone().unwrap_or_default();
    let mut conditions = Vec::new();
    if budget.hard_stop {
        if let Some(limit) = budget.credit_limit {
            conditions.push(stays_within(CREDITS_COMMITTED, limit, credits));
        }
        if let Some(limit) = budget.limit_micro_usd {
            conditions.push(stays_within(MICRO_USD_COMMITTED, limit, micro_usd));
        }
    }
    let over_budget = Error::BudgetExceeded(format!(
        "This would pass your team's budget for {}: it reserves up to {credits} credits (and may cost up to {micro_usd} micro-dollars). Ask an admin to raise the budget.",
        commitment.month
    ));
    if budget.hard_stop
        && (budget.credit_limit.is_some_and(|l| credits > l)
            || budget.limit_micro_usd.is_some_and(|l| micro_usd > l))
    {
        return Err(over_budget);
    }
    let mut writes = vec![Guarded::new(
        WriteOp::Update(Update {
            key: month_key(&team.id, &commitment.month),
            actions: vec![
                UpdateAction::Add(CREDITS_COMMITTED.into(), credits),
                UpdateAction::Add(MICRO_USD_COMMITTED.into(), micro_usd),
            ],
            condition: (!conditions.is_empty()).then_some(Condition::And(conditions)),
        }),
        over_budget,
    )];
    let limit = member_limit;
    let over_limit = Error::MemberLimitExceeded(format!(
        "This reserves up to {credits} credits, which would pass your monthly credit limit ({}); ask an admin to raise it.",
        limit.unwrap_or_default()
    ));
    if limit.is_some_and(|l| credits > l) {
        return Err(over_limit);
    }
    writes.push(Guarded::new(
        WriteOp::Update(Update {
            key: member_month_key(&team.id, &commitment.month, member),
            actions: vec![UpdateAction::Add(CREDITS_COMMITTED.into(), credits)],
            condition: limit.map(|l| stays_within(CREDITS_COMMITTED, l, credits)),
        }),
        over_limit,
    ));
    Ok((commitment, writes))
}

/// The writes that settle a commitment: it leaves the month it was made in, and what was used
/// and spent counts in the month `at` falls in (usually the same; then one write each).
pub fn settle_writes(
    team: &TeamId,
    commitment: &Commitment,
    used_credits: i64,
    spent_micro_usd: i64,
    at: OffsetDateTime,
) -> Vec<Guarded> {
    let now = month_of(at);
    let unconditional = |key: Key, actions: Vec<UpdateAction>| {
        Guarded::new(
            WriteOp::Update(Update {
                key,
                actions,
                condition: None,
            }),
            Error::internal("an unconditional spending update failed its condition"),
        )
    };
    let release = |credits: i64, micro_usd: i64| {
        vec![
            UpdateAction::Add(CREDITS_COMMITTED.into(), -credits),
            UpdateAction::Add(MICRO_USD_COMMITTED.into(), -micro_usd),
        ]
    };
    let spend = vec![
        UpdateAction::Add(CREDITS_COMMITTED.into(), used_credits),
        UpdateAction::Add(CREDITS_USED.into(), used_credits),
        UpdateAction::Add(MICRO_USD_COMMITTED.into(), spent_micro_usd),
        UpdateAction::Add(SPENT_MICRO_USD.into(), spent_micro_usd),
    ];
    let member_release = vec![UpdateAction::Add(
        CREDITS_COMMITTED.into(),
        -commitment.credits,
    )];
    let member_spend = vec![
        UpdateAction::Add(CREDITS_COMMITTED.into(), used_credits),
        UpdateAction::Add(CREDITS_USED.into(), used_credits),
    ];
    let member = &commitment.member;
    if now == commitment.month {
        // One update per item: the commitment is replaced by what was used.
        let net = vec![
            UpdateAction::Add(CREDITS_COMMITTED.into(), used_credits - commitment.credits),
            UpdateAction::Add(CREDITS_USED.into(), used_credits),
            UpdateAction::Add(
                MICRO_USD_COMMITTED.into(),
                spent_micro_usd - commitment.micro_usd,
            ),
            UpdateAction::Add(SPENT_MICRO_USD.into(), spent_micro_usd),
        ];
        let member_net = vec![
            UpdateAction::Add(CREDITS_COMMITTED.into(), used_credits - commitment.credits),
            UpdateAction::Add(CREDITS_USED.into(), used_credits),
        ];
        return vec![
            unconditional(month_key(team, &now), net),
            unconditional(member_month_key(team, &now, member), member_net),
        ];
    }
    vec![
        unconditional(
            month_key(team, &commitment.month),
            release(commitment.credits, commitment.micro_usd),
        ),
        unconditional(month_key(team, &now), spend),
        unconditional(
            member_month_key(team, &commitment.month, member),
            member_release,
        ),
        unconditional(member_month_key(team, &now, member), member_spend),
    ]
}

/// A month's spending as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Spending {
    credits_used: i64,
    spent_micro_usd: i64,
    crossed: Vec<u32>,
    exceeded: bool,
}

fn crossed_marker(threshold: u32) -> String {
    format!("crossed_{threshold}")
}

const EXCEEDED_MARKER: &str = "exceeded_at";

fn spending(item: Option<&Item>, budget: &Budget) -> Spending {
    let Some(item) = item else {
        return Spending::default();
    };
    let figure = |name: &str| item.get(name).and_then(|v| v.as_i64()).unwrap_or(0);
    Spending {
        credits_used: figure(CREDITS_USED),
        spent_micro_usd: figure(SPENT_MICRO_USD),
        crossed: budget
            .thresholds
            .iter()
            .copied()
            .filter(|t| item.contains_key(&crossed_marker(*t)))
            .collect(),
        exceeded: item.contains_key(EXCEEDED_MARKER),
    }
}

/// Records, once per month each, the thresholds the current month's spending has crossed
/// (and reaching the limit), as domain events written with their markers. Run after every
/// settlement; one that did not run (a crash) is made up for by the next.
pub async fn record_crossings(app: &App, team_id: &TeamId) -> Result<(), Error> {
    let Some(budget) = team(app, team_id).await?.budget else {
        return Ok(());
    };
    let now = app.clock.now();
    let month = month_of(now);
    let key = month_key(team_id, &month);
    let current = spending(app.table.get(&key).await?.as_ref(), &budget);
    let Some(percent) = budget.percent_used(current.spent_micro_usd, current.credits_used) else {
        return Ok(());
    };
    let data = |extra: serde_json::Value| {
        let mut data = json!({
            "period": month,
            "percent_used": percent,
            "limit_micro_usd": budget.limit_micro_usd,
            "credit_limit": budget.credit_limit,
            "spent_micro_usd": current.spent_micro_usd,
            "credits_used": current.credits_used,
        });
        if let (Some(map), serde_json::Value::Object(more)) = (data.as_object_mut(), extra) {
            map.extend(more);
        }
        data
    };
    let mut crossings: Vec<(String, String, serde_json::Value)> = budget
        .thresholds
        .iter()
        .filter(|t| i64::from(**t) <= percent && !current.crossed.contains(t))
        .map(|t| {
            (
                crossed_marker(*t),
                BUDGET_THRESHOLD_CROSSED.to_owned(),
                data(json!({ "threshold": t })),
            )
        })
        .collect();
    if percent >= 100 && !current.exceeded {
        crossings.push((
            EXCEEDED_MARKER.into(),
            BUDGET_EXCEEDED.into(),
            data(json!({})),
        ));
    }
    for (marker, kind, data) in crossings {
        let (_, event) = events::record(team_id, &kind, None, data, now)?;
        let mark = Guarded::new(
            WriteOp::Update(Update {
                key: key.clone(),
                actions: vec![UpdateAction::Set(marker.clone(), rfc3339(now).into())],
                condition: Some(Condition::NotExists(marker)),
            }),
            Error::conflict(Conflict::Changed, "recorded by another settlement"),
        );
        match commit(app.table.as_ref(), vec![mark, event]).await {
            Ok(()) | Err(Error::Conflict { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// `GET /v1/budget`: the budget and this month's spending against it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct BudgetView {
    /// This month (`YYYY-MM`).
    pub period: String,
    /// The money limit.
    pub limit_micro_usd: Option<i64>,
    /// The credit limit.
    pub credit_limit: Option<i64>,
    /// Threshold percentages.
    pub thresholds: Vec<u32>,
    /// Whether work that would pass a limit is refused.
    pub hard_stop: bool,
    /// Spent this month, at the catalog's prices.
    pub spent_micro_usd: i64,
    /// Credits used this month.
    pub credits_used: i64,
    /// Credits reserved by work still running.
    pub credits_reserved: i64,
    /// Thresholds crossed this month.
    pub crossed: Vec<u32>,
}

/// The caller's team's budget and this month's spending.
pub async fn get(app: &App, caller: &Caller) -> Result<BudgetView, Error> {
    view(app, &team(app, &caller.team_id).await?).await
}

async fn team(app: &App, team: &TeamId) -> Result<Team, Error> {
    let item = app.table.get(&keys::team(team)).await?;
    from_item(&item.ok_or_else(|| Error::not_found("team"))?)
}

async fn view(app: &App, team: &Team) -> Result<BudgetView, Error> {
    let budget = team.budget.clone().unwrap_or_default();
    let period = month_of(app.clock.now());
    let item = app.table.get(&month_key(&team.id, &period)).await?;
    let current = spending(item.as_ref(), &budget);
    let committed = item
        .as_ref()
        .and_then(|i| i.get(CREDITS_COMMITTED))
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    Ok(BudgetView {
        period,
        limit_micro_usd: budget.limit_micro_usd,
        credit_limit: budget.credit_limit,
        thresholds: budget.thresholds,
        hard_stop: budget.hard_stop,
        spent_micro_usd: current.spent_micro_usd,
        credits_used: current.credits_used,
        credits_reserved: committed - current.credits_used,
        crossed: current.crossed,
    })
}

/// `PUT /v1/budget` (admins): sets the whole budget. A lower limit applies to the next
/// reservation; work already running finishes.
pub async fn put(app: &App, caller: &Caller, request: BudgetRequest) -> Result<BudgetView, Error> {
    let budget = request.validate().map_err(Error::validation)?;
    let update = Update {
        key: keys::team(&caller.team_id),
        actions: vec![UpdateAction::Set("budget".into(), value_of(&budget)?)],
        condition: Some(Condition::item_exists()),
    };
    let data = json!({
        "limit_micro_usd": budget.limit_micro_usd,
        "credit_limit": budget.credit_limit,
        "thresholds": budget.thresholds,
        "hard_stop": budget.hard_stop,
    });
    let (_, changed) = events::record(
        &caller.team_id,
        BUDGET_CHANGED,
        Some(caller.actor()),
        data,
        app.clock.now(),
    )?;
    commit(
        app.table.as_ref(),
        vec![
            Guarded::new(WriteOp::Update(update), Error::not_found("team")),
            changed,
        ],
    )
    .await?;
    view(app, &team(app, &caller.team_id).await?).await
}

/// What one member's work used this month.
pub async fn member_used(app: &App, team: &TeamId, member: &UserId) -> Result<i64, Error> {
    let key = member_month_key(team, &month_of(app.clock.now()), member);
    let item = app.table.get(&key).await?;
    Ok(item
        .and_then(|i| i.get(CREDITS_USED).and_then(|v| v.as_i64()))
        .unwrap_or(0))
}

/// What each member used this month, by member.
pub async fn members_used(
    app: &App,
    team: &TeamId,
) -> Result<std::collections::HashMap<String, i64>, Error> {
    let month = month_of(app.clock.now());
    let prefix = format!("{SPEND_PREFIX}{month}#MEMBER#");
    let query = crate::ports::table::Query::prefix(
        crate::ports::table::Index::Table,
        keys::team_partition(team),
        &prefix,
    );
    let mut used = std::collections::HashMap::new();
    for item in super::records::query_all(app.table.as_ref(), query).await? {
        let sk = item
            .get(crate::ports::table::SK)
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let figure = item.get(CREDITS_USED).and_then(|v| v.as_i64()).unwrap_or(0);
        used.insert(sk.trim_start_matches(&prefix).to_owned(), figure);
    }
    Ok(used)
}
