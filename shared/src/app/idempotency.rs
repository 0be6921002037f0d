//! `Idempotency-Key` for POSTs that create things: the first request with a key runs and its
//! response is kept for 24 hours; the same key for the same request (method, path and body)
//! gets that response again; the same key for another request — another body, another path,
//! another route — is refused (422); a duplicate that arrives while the first still runs is
//! refused (409). A key means one request of one team.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::items::{from_item, to_item};
use super::{keys, App, Caller};
use crate::error::{BadRequest, Conflict, Error};
use crate::ports::table::{CompareOp, Condition, Key, TableError, Update, UpdateAction, TTL};

/// How long a stored response is replayed.
pub const RETENTION: time::Duration = time::Duration::hours(24);
/// How long a claim holds while its request runs: longer than any request (API Gateway gives
/// up after 29 s), so that a request whose process died frees its key for the client's retry.
pub const CLAIM_HOLD: time::Duration = time::Duration::minutes(5);
/// The longest accepted key.
pub const KEY_MAX: usize = 255;

/// A response kept for replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// The JSON body as sent.
    pub body: String,
}

#[derive(Serialize, Deserialize)]
struct Record {
    request_sha256: String,
    /// Epoch seconds; the table's TTL attribute.
    ttl: i64,
    #[serde(default)]
    response: Option<StoredResponse>,
}

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begin {
    /// Run it; then [`finish`] or [`abandon`] the claim.
    Proceed(Claim),
    /// Answer with the stored response.
    Replay(StoredResponse),
}

/// A claim on a key, held while the request runs.
#[derive(Debug)]
pub struct Claim(Key);

/// Reads an `Idempotency-Key` header: 1 to 255 visible ASCII characters. Anything else is
/// refused rather than ignored, or the client's retries would each run.
pub fn parse_key(header: &http::HeaderValue) -> Result<&str, Error> {
    let bytes = header.as_bytes();
    if bytes.is_empty() || bytes.len() > KEY_MAX || !bytes.iter().all(u8::is_ascii_graphic) {
        return Err(Error::bad_request(
            BadRequest::InvalidIdempotencyKey,
            format!(
                "Idempotency-Key must be 1 to {KEY_MAX} visible ASCII characters, e.g. a UUID."
            ),
        ));
    }
    // Visible ASCII is UTF-8.
    Ok(std::str::from_utf8(bytes).unwrap_or_default())
}

/// What a key is bound to: the method, the path and the body of the request.
fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes()] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.update(body);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Claims `key` for the request `method path` with `body`, or says how to answer it.
pub async fn begin(
    app: &App,
    caller: &Caller,
    (method, path): (&str, &str),
    key: &str,
    body: &[u8],
) -> Result<Begin, Error> {
    let item_key = keys::idempotency(&caller.team_id, key);
    let request_sha256 = fingerprint(method, path, body);
    let now = app.clock.now().unix_timestamp();
    let record = Record {
        request_sha256: request_sha256.clone(),
        ttl: now + CLAIM_HOLD.whole_seconds(),
        response: None,
    };
    // Free if absent, or if a stored one has expired but not yet been removed by TTL.
    let free = Condition::Or(vec![
        Condition::item_absent(),
        Condition::compare(TTL, CompareOp::Le, now),
    ]);
    match app
        .table
        .put(to_item(&record, &item_key, "idempotency")?, Some(free))
        .await
    {
        Ok(()) => return Ok(Begin::Proceed(Claim(item_key))),
        Err(TableError::ConditionFailed) => {}
        Err(other) => return Err(other.into()),
    }
    let existing: Record = match app.table.get(&item_key).await? {
        Some(item) => from_item(&item)?,
        None => {
            return Err(Error::conflict(
                Conflict::IdempotencyInProgress,
                "A request with this Idempotency-Key just finished or failed; retry.",
            ))
        }
    };
    if existing.request_sha256 != request_sha256 {
        return Err(Error::IdempotencyKeyReused);
    }
    match existing.response {
        Some(response) => Ok(Begin::Replay(response)),
        None => Err(Error::conflict(
            Conflict::IdempotencyInProgress,
            "A request with this Idempotency-Key is still being processed; retry shortly.",
        )),
    }
}

/// Stores the response of a claimed request for replay.
pub async fn finish(app: &App, claim: Claim, response: StoredResponse) -> Result<(), Error> {
    let response = super::items::value_of(&response)?;
    let ttl = app.clock.now().unix_timestamp() + RETENTION.whole_seconds();
    app.table
        .update(Update {
            key: claim.0,
            actions: vec![
                UpdateAction::Set("response".into(), response),
                UpdateAction::Set(TTL.into(), ttl.into()),
            ],
            condition: Some(Condition::item_exists()),
        })
        .await?;
    Ok(())
}

/// Releases a claim after a failure on our side, so the client's retry can run.
pub async fn abandon(app: &App, claim: Claim) {
    if let Err(error) = app.table.delete(&claim.0, None).await {
        tracing::warn!(%error, "could not release an idempotency claim");
    }
}
