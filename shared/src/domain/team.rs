//! Teams (the tenants), their members and their API keys.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::access::{Role, Scope};
use super::budget::Budget;
use super::ids::{ApiKeyId, TeamId, UserId};
use super::privacy::PrivacySettings;
use super::resources::{Draft, NAME_MAX};
use super::validation::{Email, FieldErrors};

/// A team's credit balances. Credits are whole numbers; `reserved` is held by running work.
/// Stored as the team item's top-level `credits_balance` and `credits_reserved`, so credit
/// operations are atomic additions guarded by conditions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credits {
    /// Credits available to reserve.
    #[serde(rename = "credits_balance")]
    pub balance: i64,
    /// Credits reserved by executions that have not settled yet.
    #[serde(rename = "credits_reserved")]
    pub reserved: i64,
}

/// The team attribute holding the available credits.
pub const CREDITS_BALANCE: &str = "credits_balance";
/// The team attribute holding the reserved credits.
pub const CREDITS_RESERVED: &str = "credits_reserved";

/// A team as stored and shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// The team's id.
    pub id: TeamId,
    /// Display name.
    pub name: String,
    /// The plan the team is on.
    pub plan: String,
    /// Credit balances; changed only by credit operations, never by PATCH.
    #[serde(flatten)]
    pub credits: Credits,
    /// Team-level privacy settings.
    pub privacy_defaults: PrivacySettings,
    /// How many members are owners; the last owner cannot leave or be demoted.
    pub owner_count: i64,
    /// The AWS Marketplace customer the team was registered for; `None` for teams on a direct
    /// plan. Such a team may start executions only while the subscription is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketplace: Option<MarketplaceLink>,
    /// The monthly budget, once an admin sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// The team's Amazon Bedrock guardrail, once an admin sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<Guardrail>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl Team {
    /// The team as clients see it, with its balances under `credits`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut json {
            map.remove(CREDITS_BALANCE);
            map.remove(CREDITS_RESERVED);
            map.insert("credits".into(), serde_json::json!({"balance": self.credits.balance, "reserved": self.credits.reserved}));
        }
        json
    }
}

/// A team's AWS Marketplace customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketplaceLink {
    /// The product bought.
    pub product_code: String,
    /// The customer within the product.
    pub customer_ref: String,
}

/// An Amazon Bedrock guardrail, applied to every prompt the team's work sends a Bedrock model
/// and to every text it generates; an intervention is recorded on the step or the reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guardrail {
    /// The guardrail's id or ARN.
    pub id: String,
    /// Its version: a number, or `DRAFT`.
    pub version: String,
}

impl Guardrail {
    /// Checks the id and version as Bedrock's `GuardrailConfiguration` constrains them.
    fn check(&self, errors: &mut FieldErrors) {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 2048
            && (self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                || (self.id.starts_with("arn:aws")
                    && self.id.contains(":bedrock:")
                    && self.id.contains(":guardrail/")));
        if !id_ok {
            errors.add(
                "guardrail.id",
                "must be a Bedrock guardrail id (lower-case letters and digits) or its ARN",
            );
        }
        let numbered = !self.version.is_empty()
            && self.version.len() <= 8
            && !self.version.starts_with('0')
            && self.version.chars().all(|c| c.is_ascii_digit());
        if !(numbered || self.version == "DRAFT") {
            errors.add(
                "guardrail.version",
                "must be a version number (1, 2, …) or DRAFT",
            );
        }
    }
}

/// What a team's admins may change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamDraft {
    /// Display name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Team-level privacy settings.
    #[serde(default)]
    pub privacy_defaults: PrivacySettings,
    /// The Bedrock guardrail for the team's work; `null` removes it.
    #[serde(default)]
    pub guardrail: Option<Guardrail>,
}

impl Draft for TeamDraft {
    fn validate(self) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        if let Some(guardrail) = &self.guardrail {
            guardrail.check(&mut errors);
        }
        let draft = TeamDraft {
            name: errors.text("name", &self.name, 1, NAME_MAX),
            privacy_defaults: self.privacy_defaults,
            guardrail: self.guardrail,
        };
        errors.finish(draft)
    }
}

/// Whether a member has signed in yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Invited by email, not signed in yet.
    Invited,
    /// Has signed in.
    Active,
}

/// A person's membership in a team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    /// The person.
    pub user_id: UserId,
    /// Their email address.
    pub email: Email,
    /// Their role in this team.
    pub role: Role,
    /// Invited or active.
    pub status: MemberStatus,
    /// User-level privacy settings: the first level of the cascade.
    #[serde(default)]
    pub privacy: PrivacySettings,
    /// The most credits the member's work may use in a month; `None` for no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_credit_limit: Option<i64>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// An invitation: `POST /v1/members`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    /// Whom to invite.
    pub email: String,
    /// With which role.
    pub role: Role,
}

impl Invitation {
    /// The invited address, checked.
    pub fn validate(self) -> Result<(Email, Role), FieldErrors> {
        let mut errors = FieldErrors::default();
        let email = Email::parse(&self.email)
            .map_err(|m| errors.add("email", m))
            .ok();
        match email {
            Some(email) => errors.finish((email, self.role)),
            None => Err(errors),
        }
    }
}

/// A role change: `PATCH /v1/members/{user_id}`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberChange {
    /// The new role.
    #[serde(default)]
    pub role: Option<Role>,
    /// The new monthly credit limit; null removes it.
    #[serde(default, deserialize_with = "super::budget::present")]
    pub monthly_credit_limit: Option<Option<i64>>,
}

/// An API key as listed: everything but the secret, which is shown once at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKey {
    /// Public id.
    pub id: ApiKeyId,
    /// The team it acts for.
    pub team_id: TeamId,
    /// What it is for.
    #[schemars(length(min = 1))]
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    /// The member it acts on behalf of; it never has more rights than they do.
    pub created_by: UserId,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// When it stops working (RFC 3339), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When it was last used (RFC 3339, to the minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// When it was revoked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Why it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
}

/// A request for a new key: `POST /v1/api-keys`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    /// What it is for.
    #[schemars(length(min = 1))]
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// When it stops working (RFC 3339).
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A validated key request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApiKey {
    /// What it is for.
    pub name: String,
    /// What it may do, sorted, without duplicates.
    pub scopes: Vec<Scope>,
    /// When it stops working.
    pub expires_at: Option<time::OffsetDateTime>,
}

impl ApiKeyRequest {
    /// Checks the request at time `now`: a name, at least one scope, an expiry in the future.
    pub fn validate(self, now: time::OffsetDateTime) -> Result<NewApiKey, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = errors.text("name", &self.name, 1, NAME_MAX);
        let mut scopes = self.scopes;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            errors.add("scopes", "must name at least one of read, write, admin");
        }
        let expires_at = self.expires_at.and_then(|text| {
            match time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            {
                Ok(at) if at <= now => {
                    errors.add("expires_at", "must be in the future");
                    None
                }
                Ok(at) => Some(at),
                Err(_) => {
                    errors.add(
                        "expires_at",
                        "must be an RFC 3339 time like 2027-01-31T00:00:00Z",
                    );
                    None
                }
            }
        });
        errors.finish(NewApiKey {
            name,
            scopes,
            expires_at,
        })
    }
}
