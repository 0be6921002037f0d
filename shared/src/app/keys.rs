//! Key builders for the single table. Every tenant item's partition key starts with
//! `TEAM#<team_id>`, so an IAM `dynamodb:LeadingKeys` condition can enforce the tenant
//! boundary too. See `docs/data-model.md`.

use crate::domain::ids::{ApiKeyId, CompanyId, ExecutionId, TeamId, UserId};
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
pub fn idempotency(team: &TeamId, key: &str) -> Key {
    Key::new(format!("{}#IDEMP#{key}", team_partition(team)), "IDEMP")
}

/// A Marketplace customer: one per product and customer reference (see
/// [`crate::domain::marketplace::customer_ref`]). Not a tenant item: Marketplace events name
/// customers, not teams.
pub fn marketplace_customer(product_code: &str, customer_ref: &str) -> Key {
    Key::new(
        format!("{MARKETPLACE_CUSTOMER_PREFIX}{product_code}#{customer_ref}"),
        MARKETPLACE_CUSTOMER_SK,
    )
}

const MARKETPLACE_CUSTOMER_PREFIX: &str = "MPCUST#";
const MARKETPLACE_CUSTOMER_SK: &str = "CUSTOMER";

/// The customer item a registration reference names by its partition key (signed by us);
/// `None` for a partition that is not a Marketplace customer's.
pub fn marketplace_customer_in(partition: String) -> Option<Key> {
    partition
        .starts_with(MARKETPLACE_CUSTOMER_PREFIX)
        .then(|| Key::new(partition, MARKETPLACE_CUSTOMER_SK))
}

/// GSI1 partition of the Marketplace customers in one subscription state: how the metering
/// job finds whom to meter.
pub fn marketplace_state_partition(state: &str) -> String {
    format!("MPSTATE#{state}")
}

/// The customers of one AWS account, one item per product: how agreement events, which name
/// only the buyer's account, find their customer.
pub fn marketplace_account(aws_account_id: &str, product_code: &str) -> Key {
    Key::new(format!("MPACCOUNT#{aws_account_id}"), product_code)
}

/// The partition of [`marketplace_account`] items of one account.
pub fn marketplace_account_partition(aws_account_id: &str) -> String {
    format!("MPACCOUNT#{aws_account_id}")
}

/// Where a legacy customer identifier of a product points to its customer, for notifications
/// that name only the identifier.
pub fn marketplace_customer_identifier(product_code: &str, customer_identifier: &str) -> Key {
    Key::new(
        format!("MPCUSTID#{product_code}#{customer_identifier}"),
        "CUSTOMER",
    )
}

/// The partition of every metering record of one hour.
pub fn metering_hour_partition(hour: &str) -> String {
    format!("METERING#{hour}")
}

/// One metering record: a customer's usage of a dimension in an hour.
pub fn metering_record(hour: &str, product_code: &str, customer_ref: &str, dimension: &str) -> Key {
    Key::new(
        metering_hour_partition(hour),
        format!("{product_code}#{customer_ref}#{dimension}"),
    )
}

/// GSI1 partition of the metering records not yet accepted by Marketplace (a sparse index:
/// a record leaves it when it is reported or fails).
pub const METERING_PENDING: &str = "METERING#PENDING";

/// Executions of a team sort under this prefix, newest last (ULIDs).
pub const EXECUTION_PREFIX: &str = "EXEC#";

/// A brand's memory records sort under this prefix, newest last (execution ULIDs); `none`
/// stands for work without a brand.
pub fn brand_memory_prefix(brand: Option<&CompanyId>) -> String {
    match brand {
        Some(brand) => format!("MEMORY#BRAND#{brand}#"),
        None => "MEMORY#BRAND#none#".to_owned(),
    }
}

/// The memory records every brand of the team may recall sort under this prefix.
pub const SHARED_MEMORY_PREFIX: &str = "MEMORY#SHARED#";

/// Where a memory record is kept: under its brand, and (when its privacy settings share it)
/// again where every brand recalls it; by the ULID of the work (its id without the prefix),
/// so executions and replies sort together by time.
pub fn memory(team: &TeamId, brand: Option<&CompanyId>, work: &str, shared: bool) -> Key {
    let prefix = match shared {
        true => SHARED_MEMORY_PREFIX.to_owned(),
        false => brand_memory_prefix(brand),
    };
    let ulid = work.split_once('_').map_or(work, |(_, ulid)| ulid);
    Key::new(team_partition(team), format!("{prefix}{ulid}"))
}

/// The outputs of an execution's steps sort under this prefix, by step.
pub fn step_outputs_prefix(id: &ExecutionId) -> String {
    format!("OUTPUT#{id}#")
}

/// The output of an execution's step `index`.
pub fn step_output(team: &TeamId, id: &ExecutionId, index: usize) -> Key {
    Key::new(
        team_partition(team),
        format!("{}{index:03}", step_outputs_prefix(id)),
    )
}

/// The entry listing an execution under its agent (on GSI1, see
/// `app::executions::agent_listing_entry`).
pub fn agent_listing_entry(team: &TeamId, id: &ExecutionId) -> Key {
    Key::new(team_partition(team), format!("AGENTEXEC#{id}"))
}

/// The key of an execution.
pub fn execution(team: &TeamId, id: &ExecutionId) -> Key {
    Key::new(team_partition(team), format!("{EXECUTION_PREFIX}{id}"))
}
