//! The events outbox: each event is an item written in the transaction of the change it tells
//! of, kept 30 days (the table's TTL), read by the consumers in the order they happened.

use time::{Duration, OffsetDateTime};

use super::items::to_item;
use super::keys;
use super::records::Guarded;
use crate::domain::events::{Actor, DomainEvent};
use crate::domain::ids::{EventId, TeamId};
use crate::error::{Conflict, Error};
use crate::ports::rfc3339;
use crate::ports::table::{Condition, Item, Key, Value, WriteOp, TTL};

/// Sort key prefix of a team's events.
pub const EVENT_PREFIX: &str = "EVENT#";
/// How long an event is kept.
pub const RETENTION: Duration = Duration::days(30);

/// A new event and the write that records it.
pub fn record(
    team: &TeamId,
    kind: &str,
    actor: Option<Actor>,
    data: serde_json::Value,
    at: OffsetDateTime,
) -> Result<(DomainEvent, Guarded), Error> {
    let event = DomainEvent {
        id: EventId::at(at).to_string(),
        kind: kind.to_owned(),
        team_id: team.clone(),
        occurred_at: rfc3339(at),
        actor,
        data,
    };
    let key = Key::new(
        keys::team_partition(team),
        format!("{EVENT_PREFIX}{}", event.id),
    );
    // Under `event`: the item's own `type` attribute names the entity, as on every item.
    let mut item = to_item(&serde_json::json!({ "event": &event }), &key, "event")?;
    item.insert(TTL.into(), Value::N((at + RETENTION).unix_timestamp()));
    let write = Guarded::new(
        WriteOp::Put {
            item,
            condition: Some(Condition::item_absent()),
        },
        Error::conflict(Conflict::Changed, "Event ids collided; retry."),
    );
    Ok((event, write))
}

/// The event an outbox item holds.
pub fn read(item: &Item) -> Result<DomainEvent, Error> {
    let event = item
        .get("event")
        .ok_or_else(|| Error::internal("an outbox item without its event"))?;
    serde_json::from_value(super::items::value_to_json(event))
        .map_err(|e| Error::internal(format!("an outbox item's event: {e}")))
}
