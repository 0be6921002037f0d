//! Usage: what every ended execution consumed, by dimension, kept twice in the transaction
//! that settles it — once per execution (the audit trail) and added to the team's total for
//! the hour it ended in (what Marketplace metering reads, one item per team and hour).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::items::to_item;
use super::keys;
use super::records::Guarded;
use crate::domain::execution::{Execution, ExecutionStatus};
use crate::domain::ids::TeamId;
use crate::domain::step::StepStatus;
use crate::error::{Conflict, Error};
use crate::ports::rfc3339;
use crate::ports::table::{Condition, Key, Update, UpdateAction, WriteOp, GSI1PK, GSI1SK};

pub use crate::domain::usage::{CREDITS, EXECUTIONS, IMAGES, MEASURES, WORDS};

/// An execution's usage by measure.
pub type Quantities = BTreeMap<String, i64>;

/// What an ended execution used: one execution if it succeeded, the credits charged, the
/// words of its text outputs and the images it generated.
pub fn of(execution: &Execution) -> Quantities {
    let succeeded = execution
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Succeeded);
    let (mut words, mut images) = (0, 0);
    for step in succeeded {
        let output = step.output.as_ref();
        if let Some(text) = output.and_then(|o| o["text"].as_str()) {
            words += text.split_whitespace().count() as i64;
        }
        if output.is_some_and(|o| o.get("image_key").is_some()) {
            images += 1;
        }
    }
    let executions = i64::from(execution.status == ExecutionStatus::Succeeded);
    [
        (EXECUTIONS, executions),
        (CREDITS, execution.credits.used),
        (WORDS, words),
        (IMAGES, images),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The hour an instant falls in, as the meter's sort key writes it: `2026-11-22T13`.
pub fn hour(at: OffsetDateTime) -> String {
    rfc3339(at)[..13].to_owned()
}

/// Sort key prefix of a team's hourly usage totals.
pub const METER_PREFIX: &str = "METER#";

/// A team's usage total for one hour. Also on GSI1 under `METER#<hour>`, so the metering job
/// finds every team with usage in an hour with one query.
pub fn meter_key(team: &TeamId, hour: &str) -> Key {
    Key::new(keys::team_partition(team), format!("{METER_PREFIX}{hour}"))
}

/// GSI1 partition of every team's usage in one hour.
pub fn meter_hour_partition(hour: &str) -> String {
    format!("{METER_PREFIX}{hour}")
}

/// One execution's usage record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The execution.
    pub execution_id: String,
    /// How it ended.
    pub status: ExecutionStatus,
    /// The hour it counts in.
    pub hour: String,
    /// What it used.
    pub quantities: Quantities,
    /// When it was recorded (RFC 3339).
    pub recorded_at: String,
}

/// The writes that record an ended execution's usage: its own record (written once: a second
/// settlement of the same execution fails the transaction instead of counting twice) and the
/// additions to the team's hour.
pub fn writes(
    team: &TeamId,
    execution: &Execution,
    at: OffsetDateTime,
) -> Result<Vec<Guarded>, Error> {
    let hour = hour(at);
    let quantities = of(execution);
    let record = UsageRecord {
        execution_id: execution.id.to_string(),
        status: execution.status,
        hour: hour.clone(),
        quantities: quantities.clone(),
        recorded_at: rfc3339(at),
    };
    let key = Key::new(
        keys::team_partition(team),
        format!("USAGE#{}", execution.id),
    );
    let mut actions = vec![
        UpdateAction::Set(GSI1PK.into(), meter_hour_partition(&hour).into()),
        UpdateAction::Set(GSI1SK.into(), keys::team_partition(team).into()),
        UpdateAction::Set("type".into(), "meter".into()),
        UpdateAction::Set("hour".into(), hour.clone().into()),
        UpdateAction::Set("team_id".into(), team.to_string().into()),
    ];
    actions.extend(
        quantities
            .iter()
            .map(|(measure, quantity)| UpdateAction::Add(measure.clone(), *quantity)),
    );
    Ok(vec![
        Guarded::new(
            WriteOp::Put {
                item: to_item(&record, &key, "usage")?,
                condition: Some(Condition::item_absent()),
            },
            Error::conflict(
                Conflict::UsageRecorded,
                "This execution's usage is recorded already.",
            ),
        ),
        Guarded::new(
            WriteOp::Update(Update {
                key: meter_key(team, &hour),
                actions,
                condition: None,
            }),
            Error::internal("an unconditional meter update failed its condition"),
        ),
    ])
}
