//! The gate on how many executions of a team run at once (its plan's `concurrent_executions`).
//!
//! A slot is taken when the dispatcher would start an execution's run, and given back when the
//! execution ends or parks waiting for approval (it uses no compute while it waits; its
//! approval takes a slot again, even over the limit, since that work was admitted before).
//! The team's count of taken slots is one item, `LIMIT#RUNNING`; the execution item says
//! whether it holds one (`holds_slot`), so taking and giving back each happen once, in the
//! same transaction as the change of status.
//!
//! An execution that finds no slot waits in `queued`, listed as `WAITING#<execution id>`
//! (ULIDs: oldest first). Whatever gives a slot back wakes the oldest waiter by queueing its
//! dispatch again; every waiter also checks again after [`RECHECK`], in case a wake-up was
//! lost. A waiter starts only when it is the oldest, and a newcomer only when nobody waits.

use std::time::Duration;

use crate::domain::execution::{Execution, ExecutionStatus, TaskInput};
use crate::domain::ids::{ExecutionId, TeamId};
use crate::error::{Conflict, Error};
use crate::ports::table::{
    CancelReason, CompareOp, Condition, Index, Key, Query, TableError, Update, UpdateAction,
    WriteOp, SK,
};

use super::records::Guarded;
use super::{keys, App};

/// The execution item's attribute saying it holds a slot.
pub const HOLDS_SLOT: &str = "holds_slot";
const RUNNING_SK: &str = "LIMIT#RUNNING";
const RUNNING: &str = "running";
const WAITING_PREFIX: &str = "WAITING#";
/// When a waiting execution's own check is due (epoch seconds).
const RECHECK_AT: &str = "recheck_at";

/// How long a waiter waits before checking again by itself.
pub const RECHECK: Duration = Duration::from_secs(30);
/// Tries at taking a slot when other dispatches of the team collide with it.
const TAKE_ATTEMPTS: usize = 5;

/// What the dispatcher may do with a queued execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Start its run: it holds a slot (or is not queued any more, and its run will see that).
    Run,
    /// Leave it queued: the team's slots are taken, or older executions wait first.
    Wait,
}

fn running_key(team: &TeamId) -> Key {
    Key::new(keys::team_partition(team), RUNNING_SK)
}

fn waiting_key(team: &TeamId, id: &ExecutionId) -> Key {
    Key::new(keys::team_partition(team), format!("{WAITING_PREFIX}{id}"))
}

/// Takes a slot for an execution of `team` the dispatcher would start (as read just now), if
/// its turn has come.
pub async fn admit(app: &App, team: &TeamId, execution: &Execution) -> Result<Admission, Error> {
    let id = &execution.id;
    if execution.holds_slot || execution.status != ExecutionStatus::Queued {
        return Ok(Admission::Run);
    }
    let limit = plan_limit(app, team).await?;
    if let Some(oldest) = oldest_waiter(app, team).await? {
        if oldest != *id {
            return wait(app, team, id).await;
        }
    }
    // Taken in one transaction with the execution's mark and the end of its wait; tried
    // again when it collides with another dispatch of the team.
    for _ in 0..TAKE_ATTEMPTS {
        let take = vec![
            WriteOp::Update(Update {
                key: running_key(team),
                actions: vec![UpdateAction::Add(RUNNING.into(), 1)],
                condition: Some(Condition::Or(vec![
                    Condition::NotExists(RUNNING.into()),
                    Condition::compare(RUNNING, CompareOp::Lt, i64::from(limit)),
                ])),
            }),
            WriteOp::Update(Update {
                key: keys::execution(team, id),
                actions: vec![UpdateAction::Set(HOLDS_SLOT.into(), true.into())],
                condition: Some(Condition::And(vec![
                    Condition::eq("status", ExecutionStatus::Queued.as_str()),
                    Condition::NotExists(HOLDS_SLOT.into()),
                ])),
            }),
            WriteOp::Delete {
                key: waiting_key(team, id),
                condition: None,
            },
        ];
        match app.table.transact(take).await {
            Ok(()) => return Ok(Admission::Run),
            Err(TableError::TransactionCanceled { reasons }) => {
                match (reasons.first(), reasons.get(1)) {
                    (Some(CancelReason::ConditionFailed), _) => return wait(app, team, id).await,
                    // Dispatched twice at once, or cancelled meanwhile: its run sees which.
                    (_, Some(CancelReason::ConditionFailed)) => return Ok(Admission::Run),
                    _ => continue,
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(Error::conflict(
        Conflict::Changed,
        "The team's running executions kept changing; the dispatch is retried.",
    ))
}

/// Lists the execution as waiting and, unless one is pending, asks for a check after
/// [`RECHECK`]: each waiter has at most one check under way, however often it is woken.
async fn wait(app: &App, team: &TeamId, id: &ExecutionId) -> Result<Admission, Error> {
    let now = app.clock.now().unix_timestamp();
    let listed = Update {
        key: waiting_key(team, id),
        actions: vec![UpdateAction::Set(
            RECHECK_AT.into(),
            (now + RECHECK.as_secs() as i64).into(),
        )],
        condition: Some(Condition::Or(vec![
            Condition::NotExists(RECHECK_AT.into()),
            Condition::compare(RECHECK_AT, CompareOp::Le, now),
        ])),
    };
    match app.table.update(listed).await {
        Ok(_) => {}
        Err(TableError::ConditionFailed) => return Ok(Admission::Wait),
        Err(error) => return Err(error.into()),
    }
    let message = dispatch_message(team, id)?;
    if let Err(error) = app.queue.send_after(&message, RECHECK).await {
        tracing::warn!(%error, execution_id = %id, "scheduling a waiting execution's check failed; the next slot given back wakes it");
    }
    Ok(Admission::Wait)
}

/// The oldest waiting execution of the team.
async fn oldest_waiter(app: &App, team: &TeamId) -> Result<Option<ExecutionId>, Error> {
    let mut query = Query::prefix(Index::Table, keys::team_partition(team), WAITING_PREFIX);
    query.limit = 1;
    let page = app.table.query(query).await?;
    Ok(page
        .items
        .first()
        .and_then(|item| item.get(SK))
        .and_then(|sk| sk.as_str())
        .and_then(|sk| sk.strip_prefix(WAITING_PREFIX))
        .and_then(|id| ExecutionId::parse(id).ok()))
}

/// Queues the dispatch of the team's oldest waiting execution, after a slot was given back.
/// A wake-up that cannot be sent is made up for by the waiter's own check.
pub async fn wake(app: &App, team: &TeamId) {
    let woken = async {
        let Some(oldest) = oldest_waiter(app, team).await? else {
            return Ok(());
        };
        app.queue
            .send(&dispatch_message(team, &oldest)?)
            .await
            .map_err(|e| Error::unavailable_because("the executions queue", e.0))
    };
    if let Err(error) = woken.await {
        tracing::warn!(%error, team_id = %team, "waking a waiting execution failed; it checks again by itself");
    }
}

fn dispatch_message(team: &TeamId, id: &ExecutionId) -> Result<String, Error> {
    serde_json::to_string(&TaskInput {
        team_id: team.clone(),
        execution_id: id.clone(),
    })
    .map_err(Error::internal)
}

/// The writes that give back the slot `execution` holds, beside the update of the execution
/// item that changes its status (which must also remove [`HOLDS_SLOT`]); none if it holds
/// none. A queued execution's waiting entry goes too.
pub fn give_back(team: &TeamId, execution: &Execution) -> Vec<Guarded> {
    let mut writes = Vec::new();
    if execution.holds_slot {
        writes.push(Guarded::new(
            WriteOp::Update(Update {
                key: running_key(team),
                actions: vec![UpdateAction::Add(RUNNING.into(), -1)],
                condition: Some(Condition::compare(RUNNING, CompareOp::Gt, 0)),
            }),
            Error::internal("a team's running count would go below zero"),
        ));
    }
    if execution.status == ExecutionStatus::Queued {
        writes.push(Guarded::new(
            WriteOp::Delete {
                key: waiting_key(team, &execution.id),
                condition: None,
            },
            Error::internal("an unconditional delete cannot fail its condition"),
        ));
    }
    writes
}

/// The write that takes a slot again for an approved execution (with the limit or over it),
/// beside the update that sets [`HOLDS_SLOT`] on it.
pub fn take_for_approval(team: &TeamId) -> Guarded {
    Guarded::new(
        WriteOp::Update(Update {
            key: running_key(team),
            actions: vec![UpdateAction::Add(RUNNING.into(), 1)],
            condition: None,
        }),
        Error::internal("an unconditional update cannot fail its condition"),
    )
}

async fn plan_limit(app: &App, team: &TeamId) -> Result<u32, Error> {
    Ok(super::limits::plan_limits(app, team)
        .await?
        .concurrent_executions)
}
