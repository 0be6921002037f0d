//! Usage: what every ended execution consumed, kept three ways in the transaction that
//! settles it — once per execution (the audit trail), added to the team's total for the hour
//! it ended in (what Marketplace metering reads, one item per team and hour), and added to the
//! day's aggregates per report dimension (what `GET /v1/usage` reads, so a report's cost
//! grows with the days and keys it covers, never with the executions and messages behind it).
//! Chat replies add to the same aggregates when they settle.

use schemars::JsonSchema;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::items::{from_item, to_item};
use super::records::{query_all, Guarded};
use super::{keys, App};
use crate::domain::execution::{Execution, ExecutionStatus};
use crate::domain::ids::TeamId;
use crate::domain::step::StepStatus;
use crate::error::{BadRequest, Conflict, Error};
use crate::ports::rfc3339;
use crate::ports::table::{
    Condition, Index, Key, Query, SortKey, Update, UpdateAction, WriteOp, GSI1PK, GSI1SK,
};

use crate::domain::usage::{self as measures, Attribution, Dimension, Figures, Line};
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
    let who = Attribution {
        day: day(at),
        agent: Some(execution.agent_id.to_string()),
        member: execution.created_by.to_string(),
        source: measures::EXECUTION,
    };
    let mut writes = vec![
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
    ];
    writes.extend(aggregate_writes(
        team,
        &who,
        &measures::execution_lines(execution),
    ));
    Ok(writes)
}

/// The day an instant falls in (UTC): `2026-11-22`.
pub fn day(at: OffsetDateTime) -> String {
    rfc3339(at)[..10].to_owned()
}

const AGGREGATE_PREFIX: &str = "USAGE#";

/// The aggregate of one dimension, day and key: `USAGE#<dimension>#<day>#<key>`, so one query
/// per report reads a dimension's days in order. (Dimension names are lower case; the
/// per-execution records' `USAGE#<ULID>` keys never fall in these ranges.)
fn aggregate_key(team: &TeamId, dimension: Dimension, day: &str, key: &str) -> Key {
    Key::new(
        keys::team_partition(team),
        format!("{AGGREGATE_PREFIX}{}#{day}#{key}", dimension.as_str()),
    )
}

/// The additions of one settlement's lines to the day's aggregates, one write per dimension
/// and key.
pub fn aggregate_writes(team: &TeamId, who: &Attribution, lines: &[Line]) -> Vec<Guarded> {
    measures::aggregate(who, lines)
        .into_iter()
        .map(|((dimension, key), figures)| {
            let update = Update {
                key: aggregate_key(team, dimension, &who.day, &key),
                actions: vec![
                    UpdateAction::Set("type".into(), "usage_aggregate".into()),
                    UpdateAction::Set("key".into(), key.into()),
                    UpdateAction::Add("requests".into(), figures.requests),
                    UpdateAction::Add("input_tokens".into(), figures.input_tokens),
                    UpdateAction::Add("output_tokens".into(), figures.output_tokens),
                    UpdateAction::Add("cache_read_tokens".into(), figures.cache_read_tokens),
                    UpdateAction::Add("cache_write_tokens".into(), figures.cache_write_tokens),
                    UpdateAction::Add("cost_micro_usd".into(), figures.cost_micro_usd),
                    UpdateAction::Add("credits".into(), figures.credits),
                ],
                condition: None,
            };
            Guarded::new(
                WriteOp::Update(update),
                Error::internal("an unconditional usage update failed its condition"),
            )
        })
        .collect()
}

/// The longest period one report covers, in days.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// What a usage report covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageQuery {
    /// First day, included.
    pub from: Date,
    /// Last day, included.
    pub to: Date,
    /// The dimension of the rows.
    pub group_by: Dimension,
}

impl UsageQuery {
    /// Reads a report's parameters: `from` and `to` as `YYYY-MM-DD` (default: this month up to
    /// today), `group_by` (default `day`). A malformed value is a 400; a reversed or too long
    /// period a 422.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        group_by: Option<&str>,
        today: Date,
    ) -> Result<UsageQuery, Error> {
        let date = |name: &str, text: Option<&str>, default: Date| match text {
            None => Ok(default),
            Some(text) => Date::parse(text, DAY_FORMAT).map_err(|_| {
                Error::bad_request(
                    BadRequest::InvalidQuery,
                    format!("`{name}` must be a date as YYYY-MM-DD, such as 2026-11-30."),
                )
            }),
        };
        let from = date("from", from, today.replace_day(1).map_err(Error::internal)?)?;
        let to = date("to", to, today)?;
        let group_by = match group_by {
            None => Dimension::Day,
            Some(text) => Dimension::parse(text).ok_or_else(|| {
                let names: Vec<_> = Dimension::ALL.iter().map(|d| d.as_str()).collect();
                Error::bad_request(
                    BadRequest::InvalidQuery,
                    format!("`group_by` must be one of {}.", names.join(", ")),
                )
            })?,
        };
        if to < from {
            return Err(Error::invalid_field("to", "must not be before `from`"));
        }
        if (to - from).whole_days() + 1 > MAX_PERIOD_DAYS {
            return Err(Error::invalid_field(
                "to",
                format!("a report covers at most {MAX_PERIOD_DAYS} days"),
            ));
        }
        Ok(UsageQuery { from, to, group_by })
    }
}

const DAY_FORMAT: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// One row of a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct UsageRow {
    /// The key in the report's dimension.
    pub key: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// A usage report: rows in one dimension, which add up to the totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct UsageReport {
    /// First day, included.
    pub from: String,
    /// Last day, included.
    pub to: String,
    /// The rows' dimension.
    pub group_by: &'static str,
    /// One row per key, in key order.
    pub rows: Vec<UsageRow>,
    /// The sum of the rows.
    pub totals: Figures,
}

/// A team's usage over a period, from the day aggregates of the report's dimension.
pub async fn report(app: &App, team: &TeamId, query: &UsageQuery) -> Result<UsageReport, Error> {
    let prefix = format!("{AGGREGATE_PREFIX}{}#", query.group_by.as_str());
    let from = query.from.format(DAY_FORMAT).map_err(Error::internal)?;
    let to = query.to.format(DAY_FORMAT).map_err(Error::internal)?;
    let range = Query {
        index: Index::Table,
        partition: keys::team_partition(team),
        // `~` sorts after every character of a day or a key.
        sort_key: SortKey::Between(format!("{prefix}{from}#"), format!("{prefix}{to}#~")),
        descending: false,
        limit: 1_000,
        cursor: None,
    };
    let mut rows: BTreeMap<String, Figures> = BTreeMap::new();
    // A day's aggregate is keyed by its day, so the rows of every dimension are the keys.
    for item in query_all(app.table.as_ref(), range).await? {
        let stored: StoredAggregate = from_item(&item)?;
        rows.entry(stored.key).or_default().add(&stored.figures);
    }
    let mut totals = Figures::default();
    let rows = rows
        .into_iter()
        .map(|(key, figures)| {
            totals.add(&figures);
            UsageRow { key, figures }
        })
        .collect();
    Ok(UsageReport {
        from,
        to,
        group_by: query.group_by.as_str(),
        rows,
        totals,
    })
}

/// An aggregate as stored.
#[derive(Deserialize)]
struct StoredAggregate {
    key: String,
    #[serde(flatten)]
    figures: Figures,
}
