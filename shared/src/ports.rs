//! The ports: what the use cases need from the outside world, as narrow traits.

pub mod ai;
pub mod marketplace;
pub mod memory;
pub mod metrics;
pub mod objects;
pub mod queue;
pub mod table;
pub mod unconfigured;
pub mod usage_keys;
pub mod webhooks;
pub mod workflows;

use time::OffsetDateTime;

/// The current time. A port so that tests can move time (key expiry, idempotency TTLs).
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Formats a time as RFC 3339 in UTC, the one time format of the API and the table.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Parses an RFC 3339 time written by [`rfc3339`].
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}
