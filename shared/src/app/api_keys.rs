//! API keys: `vk_` secrets shown once, stored only as their SHA-256. Each key has a listing
//! item under its team (what admins see) and a global lookup item by hash (what the
//! authorizer reads); both are written and revoked together.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::items::{from_item, to_item};
use super::records::{commit, listing, query_all, Guarded, Listing, PageRequest};
use super::{events, keys, App, Caller};
use crate::domain::access::Scope;
use crate::domain::events::{Actor, API_KEY_CREATED, API_KEY_REVOKED};
use crate::domain::ids::{ApiKeyId, TeamId, UserId};
use crate::domain::team::{ApiKey, ApiKeyRequest, NewApiKey};
use crate::error::{Conflict, Error};
use crate::ports::rfc3339;
use crate::ports::table::{Condition, Index, Item, Query, Update, UpdateAction, WriteOp};

/// Every API key secret starts with this.
pub const SECRET_PREFIX: &str = "vk_";

/// A key just created, with its secret: the only time the secret is ever returned.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct IssuedKey {
    /// The key as listed.
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret to send as `Authorization: Bearer …`.
    pub secret: String,
}

/// What the authorizer reads: the lookup item, by hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyLookup {
    /// The key's public id.
    pub key_id: ApiKeyId,
    /// The team it acts for.
    pub team_id: TeamId,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The member it acts for.
    pub created_by: UserId,
    /// When it stops working (RFC 3339).
    #[serde(default)]
    pub expires_at: Option<String>,
    /// When it was last used (RFC 3339).
    #[serde(default)]
    pub last_used_at: Option<String>,
}

/// The SHA-256 of a secret, hex-encoded: the only form in which secrets are stored.
pub fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_secret() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    Ok(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Makes a new key for the caller's team and the writes that store it.
pub fn issue(
    caller: &Caller,
    request: NewApiKey,
    now: OffsetDateTime,
) -> Result<(IssuedKey, Vec<Guarded>), Error> {
    let secret = new_secret()?;
    let hash = secret_hash(&secret);
    let key = ApiKey {
        id: ApiKeyId::generate(),
        team_id: caller.team_id.clone(),
        name: request.name,
        scopes: request.scopes,
        prefix: secret.chars().take(10).collect(),
        created_by: caller.user_id.clone(),
        created_at: rfc3339(now),
        expires_at: request.expires_at.map(rfc3339),
        last_used_at: None,
        revoked_at: None,
        revoked_reason: None,
    };
    let lookup = KeyLookup {
        key_id: key.id.clone(),
        team_id: key.team_id.clone(),
        scopes: key.scopes.clone(),
        created_by: key.created_by.clone(),
        expires_at: key.expires_at.clone(),
        last_used_at: None,
    };
    let mut listing_item = to_item(
        &key,
        &keys::api_key_listing(&key.team_id, &key.id),
        "api_key",
    )?;
    listing_item.insert("secret_sha256".into(), hash.clone().into());
    let clash = || Error::conflict(Conflict::Changed, "Key generation collided; retry.");
    let writes = vec![
        Guarded::new(
            WriteOp::Put {
                item: listing_item,
                condition: Some(Condition::item_absent()),
            },
            clash(),
        ),
        Guarded::new(
            WriteOp::Put {
                item: to_item(&lookup, &keys::api_key_lookup(&hash), "api_key_lookup")?,
                condition: Some(Condition::item_absent()),
            },
            clash(),
        ),
    ];
    Ok((IssuedKey { key, secret }, writes))
}

/// Creates a key acting for the caller.
pub async fn create(
    app: &App,
    caller: &Caller,
    request: ApiKeyRequest,
) -> Result<IssuedKey, Error> {
    let now = app.clock.now();
    let request = request.validate(now)?;
    let (issued, mut writes) = issue(caller, request, now)?;
    let data =
        json!({"api_key_id": issued.key.id, "name": issued.key.name, "scopes": issued.key.scopes});
    let (_, event) = events::record(
        &caller.team_id,
        API_KEY_CREATED,
        Some(caller.actor()),
        data,
        now,
    )?;
    writes.push(event);
    commit(app.table.as_ref(), writes).await?;
    Ok(issued)
}

/// Lists the team's keys, revoked ones included, without secrets.
pub async fn list(app: &App, caller: &Caller, page: PageRequest) -> Result<Listing<ApiKey>, Error> {
    let mut query = Query::prefix(
        Index::Table,
        keys::team_partition(&caller.team_id),
        keys::API_KEY_PREFIX,
    );
    query.limit = page.limit;
    query.cursor = page.cursor;
    listing(app.table.query(query).await?)
}

/// Why an admin's revocation stopped a key.
pub const REVOKED_BY_ADMIN: &str = "Revoked by an admin.";
/// Why removing a member stopped their keys.
pub const REVOKED_WITH_MEMBER: &str = "Its creator was removed from the team.";

/// Revokes a key: it stops working at once. Revoking a revoked key changes nothing.
pub async fn revoke(app: &App, caller: &Caller, id: &str) -> Result<(), Error> {
    let id = ApiKeyId::parse(id).map_err(|_| Error::not_found("API key"))?;
    let Some(item) = app
        .table
        .get(&keys::api_key_listing(&caller.team_id, &id))
        .await?
    else {
        return Err(Error::not_found("API key"));
    };
    let key: ApiKey = from_item(&item)?;
    if key.revoked_at.is_some() {
        return Ok(());
    }
    let revoked = Revoked {
        reason: REVOKED_BY_ADMIN,
        by: caller.actor(),
        at: app.clock.now(),
    };
    commit(app.table.as_ref(), revocation(&key, &item, &revoked)?).await
}

/// Why, by whom and when keys are revoked.
pub struct Revoked<'a> {
    /// Why, in words.
    pub reason: &'a str,
    /// Who revoked them (or removed their creator).
    pub by: Actor,
    /// When.
    pub at: OffsetDateTime,
}

/// The writes that revoke every working key `user` created in `team`.
pub async fn revocations_by_creator(
    app: &App,
    team: &TeamId,
    user: &UserId,
    revoked: &Revoked<'_>,
) -> Result<Vec<Guarded>, Error> {
    let query = Query::prefix(
        Index::Table,
        keys::team_partition(team),
        keys::API_KEY_PREFIX,
    );
    let mut writes = Vec::new();
    for item in query_all(app.table.as_ref(), query).await? {
        let key: ApiKey = from_item(&item)?;
        if key.created_by == *user && key.revoked_at.is_none() {
            writes.extend(revocation(&key, &item, revoked)?);
        }
    }
    Ok(writes)
}

/// The writes that revoke one key: its listing keeps when and why, its lookup item goes, and
/// an `api_key.revoked` event tells of it.
fn revocation(key: &ApiKey, item: &Item, revoked: &Revoked<'_>) -> Result<Vec<Guarded>, Error> {
    let now = rfc3339(revoked.at);
    let reason = revoked.reason;
    let data = json!({"api_key_id": key.id, "name": key.name, "reason": reason});
    let (_, event) = events::record(
        &key.team_id,
        API_KEY_REVOKED,
        Some(revoked.by.clone()),
        data,
        revoked.at,
    )?;
    let hash = item
        .get("secret_sha256")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::internal("API key listing without hash"))?;
    let changed = || {
        Error::conflict(
            Conflict::Changed,
            "This key changed while the request ran; retry.",
        )
    };
    Ok(vec![
        Guarded::new(
            WriteOp::Update(Update {
                key: keys::api_key_listing(&key.team_id, &key.id),
                actions: vec![
                    UpdateAction::Set("revoked_at".into(), now.as_str().into()),
                    UpdateAction::Set("revoked_reason".into(), reason.into()),
                ],
                condition: Some(Condition::And(vec![
                    Condition::item_exists(),
                    Condition::NotExists("revoked_at".into()),
                ])),
            }),
            changed(),
        ),
        Guarded::new(
            WriteOp::Delete {
                key: keys::api_key_lookup(hash),
                condition: None,
            },
            changed(),
        ),
        event,
    ])
}

/// Records that a key was used, at most once a minute per key so busy keys do not turn every
/// request into a write. Best effort: a failure here never fails the request.
pub async fn touch(app: &App, hash: &str, lookup: &KeyLookup, now: OffsetDateTime) {
    let recent = lookup
        .last_used_at
        .as_deref()
        .and_then(crate::ports::parse_rfc3339)
        .is_some_and(|at| now - at < time::Duration::minutes(1));
    if recent {
        return;
    }
    let stamp = rfc3339(now);
    let set = |key| Update {
        key,
        actions: vec![UpdateAction::Set(
            "last_used_at".into(),
            stamp.clone().into(),
        )],
        condition: Some(Condition::item_exists()),
    };
    let writes = vec![
        WriteOp::Update(set(keys::api_key_lookup(hash))),
        WriteOp::Update(set(keys::api_key_listing(&lookup.team_id, &lookup.key_id))),
    ];
    if let Err(error) = app.table.transact(writes).await {
        tracing::warn!(%error, key_id = %lookup.key_id, "could not record API key use");
    }
}
