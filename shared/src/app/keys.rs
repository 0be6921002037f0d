//! Key builders for the single table. Every tenant item's partition key starts with
//! `TEAM#<team_id>`, so an IAM `dynamodb:LeadingKeys` condition can enforce the tenant
//! boundary too. See `docs/data-model.md`.

use crate::domain::ids::{ApiKeyId, TeamId, UserId};
use crate::ports::table::Key;

/// The partition of everything a team owns.
pub fn team_partition(team: &TeamId) -> String {
    format!("TEAM#{team}")
}

/// The team item.
pub fn team(team: &TeamId) -> Key {
    Key::new(team_partition(team), "TEAM")
}

/// Sort key prefix of members.
pub const MEMBER_PREFIX: &str = "MEMBER#";

/// A member of a team.
pub fn member(team: &TeamId, user: &UserId) -> Key {
    Key::new(team_partition(team), format!("{MEMBER_PREFIX}{user}"))
}

/// GSI1 partition listing the teams of a user.
pub fn user_teams_partition(user: &UserId) -> String {
    format!("USER#{user}")
}

/// Sort key prefix of API key listings.
pub const API_KEY_PREFIX: &str = "APIKEY#";

/// The listing of an API key under its team.
pub fn api_key_listing(team: &TeamId, id: &ApiKeyId) -> Key {
    Key::new(team_partition(team), format!("{API_KEY_PREFIX}{id}"))
}

/// The global lookup item of an API key, by the SHA-256 of its secret. Not a tenant item:
/// the authorizer reads it before it knows the team.
pub fn api_key_lookup(secret_sha256: &str) -> Key {
    Key::new(format!("{API_KEY_PREFIX}{secret_sha256}"), "APIKEY")
}

/// A stored response for an `Idempotency-Key`, in the team's own key space.
pub fn idempotency(team: &TeamId, route: &str, key: &str) -> Key {
    Key::new(
        format!("{}#IDEMP#{route}#{key}", team_partition(team)),
        "IDEMP",
    )
}
