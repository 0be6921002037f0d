//! The gate on how many executions of a team run at once (its plan's `concurrent_executions`).
//!
//! A slot is taken when the dispatcher would start an execution's run, and given back when the
//! execution ends or parks waiting for approval (it uses no compute while it waits; its
//! approval takes a slot again, even over the limit, since that work was admitted before).
//! The team's count of taken slots is one item, `LIMIT#RUNNING`; the execution item says
//! whether it holds one (`holds_slot`), so taking and giving back each happen once, in the
//! same transaction as the change of status.
//!
//! Every execution is listed as waiting from its creation, as `WAITING#<execution id>` (ULIDs:
//! the order of creation), until it takes a slot or ends; only the oldest listed may take one,
//! so executions start in the order they were created, whatever order their dispatch messages
//! arrive in. One that finds no slot (or an older one still waiting) stays `queued`. Whatever
//! gives a slot back, and whatever takes one, wakes the oldest waiter by queueing its dispatch
//! again; every waiter also checks again after [`RECHECK`], in case a wake-up was lost.

use std::time::Duration;

use crate::domain::execution::{Execution, ExecutionStatus, TaskInput};
use crate::domain::ids::{ExecutionId, TeamId};
use crate::error::{Conflict, Error};
use crate::ports::table::{
    CancelReason, CompareOp, Condition, Index, Item, Key, Query, TableError, Update, UpdateAction,
    WriteOp, PK, SK,
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
/// The most stale waiting entries one look for the oldest waiter removes.
const STALE_ENTRIES: usize = 10;

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
        // Not waiting (any more): a list entry of it would hold up every later execution.
        stop_waiting(app, team, id).await?;
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
                condition: Some(still_waiting()),
            }),
            WriteOp::Delete {
                key: waiting_key(team, id),
                condition: None,
            },
        ];
        match app.table.transact(take).await {
            Ok(()) => {
                // A slot may be left for the next in line, whose dispatch may have come first.
                wake(app, team).await;
                return Ok(Admission::Run);
            }
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

/// Lists the execution as waiting, while it is queued without a slot, and unless one is
/// pending asks for a check after [`RECHECK`]: each waiter has at most one check under way,
/// however often it is woken. An execution that left the queue meanwhile is not listed.
async fn wait(app: &App, team: &TeamId, id: &ExecutionId) -> Result<Admission, Error> {
    let now = app.clock.now().unix_timestamp();
    for _ in 0..TAKE_ATTEMPTS {
        let listed = vec![
            WriteOp::Update(Update {
                key: waiting_key(team, id),
                actions: vec![UpdateAction::Set(
                    RECHECK_AT.into(),
                    (now + RECHECK.as_secs() as i64).into(),
                )],
                // A second's margin: the clock of whoever checks may lag a little.
                condition: Some(Condition::Or(vec![
                    Condition::NotExists(RECHECK_AT.into()),
                    Condition::compare(RECHECK_AT, CompareOp::Le, now + 1),
                ])),
            }),
            WriteOp::Check {
                key: keys::execution(team, id),
                condition: still_waiting(),
            },
        ];
        match app.table.transact(listed).await {
            Ok(()) => break,
            Err(TableError::TransactionCanceled { reasons }) => {
                match (reasons.first(), reasons.get(1)) {
                    (_, Some(CancelReason::ConditionFailed)) => {
                        stop_waiting(app, team, id).await?;
                        return Ok(Admission::Run);
                    }
                    // Listed, with its check under way.
                    (Some(CancelReason::ConditionFailed), _) => return Ok(Admission::Wait),
                    _ => continue,
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    let message = dispatch_message(team, id)?;
    if let Err(error) = app.queue.send_after(&message, RECHECK).await {
        tracing::warn!(%error, execution_id = %id, "scheduling a waiting execution's check failed; the next slot given back wakes it");
    }
    Ok(Admission::Wait)
}

/// An execution that waits for a slot: queued, holding none.
fn still_waiting() -> Condition {
    Condition::And(vec![
        Condition::eq("status", ExecutionStatus::Queued.as_str()),
        Condition::NotExists(HOLDS_SLOT.into()),
    ])
}

async fn stop_waiting(app: &App, team: &TeamId, id: &ExecutionId) -> Result<(), Error> {
    app.table.delete(&waiting_key(team, id), None).await?;
    Ok(())
}

/// The oldest execution of the team that still waits. An entry whose execution has left the
/// queue (it should not outlive it, but would hold up every later one) is removed on the way.
async fn oldest_waiter(app: &App, team: &TeamId) -> Result<Option<ExecutionId>, Error> {
    for _ in 0..STALE_ENTRIES {
        let mut query = Query::prefix(Index::Table, keys::team_partition(team), WAITING_PREFIX);
        query.limit = 1;
        let page = app.table.query(query).await?;
        let Some(id) = page
            .items
            .first()
            .and_then(|item| item.get(SK))
            .and_then(|sk| sk.as_str())
            .and_then(|sk| sk.strip_prefix(WAITING_PREFIX))
            .and_then(|id| ExecutionId::parse(id).ok())
        else {
            return Ok(None);
        };
        let execution = app.table.get(&keys::execution(team, &id)).await?;
        let waits = execution.as_ref().is_some_and(|item| {
            item.get("status").and_then(|s| s.as_str()) == Some(ExecutionStatus::Queued.as_str())
                && !item.contains_key(HOLDS_SLOT)
        });
        if waits {
            return Ok(Some(id));
        }
        stop_waiting(app, team, &id).await?;
    }
    Ok(None)
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

/// The write that lists a new execution as waiting, in the transaction that creates it.
pub fn listing(team: &TeamId, id: &ExecutionId) -> Guarded {
    let key = waiting_key(team, id);
    let mut item = Item::new();
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    Guarded::new(
        WriteOp::Put {
            item,
            condition: None,
        },
        Error::internal("an unconditional put cannot fail its condition"),
    )
}

/// The writes that give back the slot `execution` holds, beside the update of the execution
/// item that changes its status (which must also remove [`HOLDS_SLOT`] and hold only while
/// the item holds a slot as `execution` says: see [`slot_as_read`]), and end any wait of it.
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
    writes.push(Guarded::new(
        WriteOp::Delete {
            key: waiting_key(team, &execution.id),
            condition: None,
        },
        Error::internal("an unconditional delete cannot fail its condition"),
    ));
    writes
}

/// The condition that the execution item holds a slot exactly when `execution` (as read)
/// does: a write giving back what was read holds only if no slot was taken meanwhile.
pub fn slot_as_read(execution: &Execution) -> Condition {
    match execution.holds_slot {
        true => Condition::Exists(HOLDS_SLOT.into()),
        false => Condition::NotExists(HOLDS_SLOT.into()),
    }
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
