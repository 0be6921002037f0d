//! The audit log: who did what, when, from which request — one entry for every event a person
//! (through a member's API key or sign-in) or AWS Marketplace caused, written by the outbox's
//! consumer, so nothing told is missing from it. Entries are kept a year (the table's TTL) and
//! cannot be changed or deleted through the API.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use time::{Date, Duration, OffsetDateTime, Time};

use super::items::to_item;
use super::records::{filtered, Listing, PageRequest};
use super::{keys, App, Caller};
use crate::domain::events::{Actor, DomainEvent, RECORD_KINDS, SUBSCRIPTION_CHANGED};
use crate::error::{BadRequest, Error};
use crate::ports::table::{Condition, Index, Query, SortKey, TableError, Value, TTL};

const AUDIT_PREFIX: &str = "AUDIT#";
/// How long an entry is kept.
pub const RETENTION: Duration = Duration::days(365);

/// What an entry is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    /// Its kind (`execution`, `member`, `api_key`, `company`, …).
    pub kind: String,
    /// Its id.
    pub id: String,
}

/// One audited action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    /// The event it records (entries sort as events do, by time).
    pub id: String,
    /// When.
    pub at: String,
    /// Who: the member, their credential and request; `None` for AWS Marketplace.
    pub actor: Option<Actor>,
    /// Who, in a word: the member's id, or `aws-marketplace`.
    pub actor_id: String,
    /// What, as the event's type (`member.changed`, `execution.cancelled`, …).
    pub action: String,
    /// On what.
    pub target: Target,
}

/// The target an event names: its first `<kind>_id` field (or the team, for its budget; or a
/// Marketplace product).
fn target_of(event: &DomainEvent) -> Target {
    let data = event.data.as_object();
    // The execution first (its events name the agent too), then whom or what else it names.
    let named = data.and_then(|d| {
        ["execution", "user", "api_key"]
            .iter()
            .chain(RECORD_KINDS.iter())
            .find_map(|kind| {
                let id = d.get(&format!("{kind}_id"))?.as_str()?;
                Some(Target {
                    kind: (*kind).to_owned(),
                    id: id.to_owned(),
                })
            })
    });
    named.unwrap_or_else(|| {
        let (kind, id) = match event.data.get("product_code").and_then(Json::as_str) {
            Some(code) => ("marketplace_product", code.to_owned()),
            None => ("team", event.team_id.to_string()),
        };
        Target {
            kind: kind.into(),
            id,
        }
    })
}

/// Records an event in the audit log if a person or AWS Marketplace caused it; once, however
/// often the event comes.
pub async fn record(app: &App, event: &DomainEvent) -> Result<(), Error> {
    let actor_id = match &event.actor {
        Some(actor) => actor.user_id.to_string(),
        None if event.kind == SUBSCRIPTION_CHANGED => "aws-marketplace".to_owned(),
        None => return Ok(()),
    };
    let entry = AuditEntry {
        id: event.id.clone(),
        at: event.occurred_at.clone(),
        actor: event.actor.clone(),
        actor_id,
        action: event.kind.clone(),
        target: target_of(event),
    };
    let key = crate::ports::table::Key::new(
        keys::team_partition(&event.team_id),
        format!("{AUDIT_PREFIX}{}", event.id),
    );
    let mut item = to_item(&entry, &key, "audit_entry")?;
    let expires =
        crate::ports::parse_rfc3339(&event.occurred_at).unwrap_or(app.clock.now()) + RETENTION;
    item.insert(TTL.into(), Value::N(expires.unix_timestamp()));
    match app.table.put(item, Some(Condition::item_absent())).await {
        Ok(()) | Err(TableError::ConditionFailed) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// What a listing of the audit log keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this member's actions (or `aws-marketplace`).
    pub actor: Option<String>,
    /// Only this action (an event type), or a family of them (`member.`).
    pub action: Option<String>,
    /// From this day (UTC), included.
    pub from: Option<Date>,
    /// To this day (UTC), included.
    pub to: Option<Date>,
}

impl AuditFilter {
    /// Reads `?actor=&action=&from=&to=`; dates as `YYYY-MM-DD`.
    pub fn parse(
        actor: Option<&str>,
        action: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<AuditFilter, Error> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let day = |name: &str, text: Option<&str>| {
            text.map(|t| {
                Date::parse(t, format).map_err(|_| {
                    Error::bad_request(
                        BadRequest::InvalidQuery,
                        format!("`{name}` must be a date as YYYY-MM-DD."),
                    )
                })
            })
            .transpose()
        };
        let filter = AuditFilter {
            actor: actor.map(str::to_owned),
            action: action.map(str::to_owned),
            from: day("from", from)?,
            to: day("to", to)?,
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if to < from {
                return Err(Error::invalid_field("to", "must not be before `from`"));
            }
        }
        Ok(filter)
    }

    fn keeps(&self, entry: &AuditEntry) -> bool {
        let action = self
            .action
            .as_deref()
            .is_none_or(|a| match a.strip_suffix('.') {
                Some(family) => entry.action.starts_with(&format!("{family}.")),
                None => entry.action == a,
            });
        action && self.actor.as_deref().is_none_or(|a| entry.actor_id == a)
    }
}

/// The sort key bound of an instant: entries are keyed by event ids, ULIDs of their time.
fn bound(at: OffsetDateTime) -> String {
    let ms = (at.unix_timestamp_nanos() / 1_000_000) as u64;
    format!("{AUDIT_PREFIX}evt_{}", ulid::Ulid::from_parts(ms, 0))
}

/// The team's audit log, newest first.
pub async fn list(
    app: &App,
    caller: &Caller,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Listing<AuditEntry>, Error> {
    let start = filter
        .from
        .map(|d| bound(d.with_time(Time::MIDNIGHT).assume_utc()))
        .unwrap_or_else(|| AUDIT_PREFIX.to_owned());
    let end = filter
        .to
        .map(|d| bound(d.with_time(Time::MIDNIGHT).assume_utc() + Duration::days(1)))
        .unwrap_or_else(|| format!("{AUDIT_PREFIX}~"));
    let query = Query {
        index: Index::Table,
        partition: keys::team_partition(&caller.team_id),
        sort_key: SortKey::Between(start, end),
        descending: true,
        limit: page.limit,
        cursor: page.cursor,
    };
    filtered(app.table.as_ref(), query, page.limit, |e| filter.keeps(e)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_bounds_the_ulids_of_its_events() {
        let day = time::macros::datetime!(2026-12-02 00:00 UTC);
        let inside = format!(
            "{AUDIT_PREFIX}evt_{}",
            ulid::Ulid::from_parts((day.unix_timestamp() * 1000 + 5) as u64, 7,)
        );
        assert!(bound(day) < inside);
        assert!(inside < bound(day + Duration::days(1)));
    }
}
