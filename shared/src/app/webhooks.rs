//! Outbound webhooks (Standard Webhooks): endpoints a team's admins register, the deliveries
//! of its events to them, and each delivery's attempts.
//!
//! An event reaches an endpoint as a delivery item (`WHDELIVERY#<endpoint>#<event>`: one per
//! event and endpoint, so a redelivered event is delivered once) and a message on the webhook
//! queue; each attempt is recorded on the delivery. A failed attempt queues the next one after
//! the specification's delay (or the receiver's `Retry-After`); a 410 disables the endpoint at
//! once, and so does failing every attempt for five days. No process sleeps through a delay:
//! the queue holds the message back (SQS at most 15 minutes at a time, so a longer wait is
//! queued again until it is due).

use schemars::JsonSchema;
use std::time::Duration as StdDuration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use time::{Duration, OffsetDateTime};

use super::items::{from_item, to_item, value_of};
use super::records::{commit, listing, query_all, Guarded, Listing, PageRequest, Record};
use super::resources::{self, Resource};
use super::{events, keys, App, Caller};
use crate::domain::events::{DomainEvent, WEBHOOK_DISABLED, WEBHOOK_SECRET_ROTATED, WEBHOOK_TEST};
use crate::domain::ids::{EventId, TeamId, WebhookId};
use crate::domain::resources::Draft;
use crate::domain::webhook::{
    check_url, new_secret, retry_delay, sign, WebhookDraft, FAILING_DISABLES_AFTER,
    ROTATION_OVERLAP,
};
use crate::error::{Conflict, Error};
use crate::ports::queue::MAX_DELAY;
use crate::ports::table::{Condition, Index, Key, Query, Update, UpdateAction, WriteOp};
use crate::ports::webhooks::{Outbound, SendError};
use crate::ports::{parse_rfc3339, rfc3339};

impl Resource for WebhookDraft {
    const KIND: &'static str = "webhook";
    const SK_PREFIX: &'static str = "WEBHOOK#";
    type Id = WebhookId;
}

const SECRETS: &str = "secrets";
const FAILING_SINCE: &str = "failing_since";
const DISABLED_REASON: &str = "disabled_reason";
const DELIVERY_PREFIX: &str = "WHDELIVERY#";

/// A signing secret; a rotated-out one signs until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SigningSecret {
    secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

/// An endpoint as stored: the record and what the server keeps beside it.
#[derive(Clone, Debug, Deserialize)]
struct StoredEndpoint {
    #[serde(flatten)]
    record: Record<WebhookDraft>,
    #[serde(default)]
    secrets: Vec<SigningSecret>,
    #[serde(default)]
    failing_since: Option<String>,
    #[serde(default)]
    disabled_reason: Option<String>,
}

impl StoredEndpoint {
    fn view(&self) -> Result<Json, Error> {
        let mut json = self.record.to_json()?;
        if let Json::Object(map) = &mut json {
            map.insert(FAILING_SINCE.into(), json!(self.failing_since));
            map.insert(DISABLED_REASON.into(), json!(self.disabled_reason));
        }
        Ok(json)
    }

    /// The secrets that sign now: the current one, and a rotated-out one for its last day.
    fn signing(&self, now: OffsetDateTime) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|s| {
                s.expires_at
                    .as_deref()
                    .and_then(parse_rfc3339)
                    .is_none_or(|until| until > now)
            })
            .map(|s| s.secret.as_str())
            .collect()
    }
}

fn endpoint_key(team: &TeamId, id: &str) -> Key {
    resources::record_key::<WebhookDraft>(team, id)
}

fn delivery_key(team: &TeamId, webhook: &str, event: &str) -> Key {
    Key::new(
        keys::team_partition(team),
        format!("{DELIVERY_PREFIX}{webhook}#{event}"),
    )
}

async fn stored(app: &App, team: &TeamId, id: &str) -> Result<Option<StoredEndpoint>, Error> {
    if WebhookId::parse(id).is_err() {
        return Ok(None);
    }
    app.table
        .get(&endpoint_key(team, id))
        .await?
        .as_ref()
        .map(from_item)
        .transpose()
}

async fn endpoint(app: &App, caller: &Caller, id: &str) -> Result<StoredEndpoint, Error> {
    stored(app, &caller.team_id, id)
        .await?
        .ok_or_else(|| Error::not_found(WebhookDraft::KIND))
}

/// Where this deployment may send to: the URL's scheme and literal address, and every address
/// its name resolves to (422 on `url` otherwise).
async fn check_receiver(app: &App, url: &str) -> Result<(), Error> {
    let refused = |why: String| Error::invalid_field("url", why);
    let url = check_url(url, app.allow_loopback_webhooks).map_err(refused)?;
    app.webhook_sender
        .resolve(&url, app.allow_loopback_webhooks)
        .await
        .map_err(|e| match e {
            SendError::Refused(why) => refused(why),
            SendError::Failed(why) => Error::unavailable_because(
                "The webhook's host could not be resolved right now; retry shortly.",
                why,
            ),
        })?;
    Ok(())
}

/// Registers an endpoint; the answer shows its signing secret, once.
pub async fn create(app: &App, caller: &Caller, draft: WebhookDraft) -> Result<Json, Error> {
    let draft = draft.validate().map_err(Error::validation)?;
    check_receiver(app, &draft.url).await?;
    let now = rfc3339(app.clock.now());
    let record = Record {
        id: WebhookId::generate().to_string(),
        data: draft,
        created_by: caller.user_id.clone(),
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    };
    let secret = new_secret().map_err(Error::internal)?;
    let mut item = to_item(
        &record,
        &endpoint_key(&caller.team_id, &record.id),
        WebhookDraft::KIND,
    )?;
    let secrets = vec![SigningSecret {
        secret: secret.clone(),
        expires_at: None,
    }];
    item.insert(SECRETS.into(), value_of(&secrets)?);
    let created = resources::record_event::<WebhookDraft>(app, caller, "created", &record.id)?;
    commit(
        app.table.as_ref(),
        vec![
            Guarded::new(
                WriteOp::Put {
                    item,
                    condition: Some(Condition::item_absent()),
                },
                Error::conflict(Conflict::Changed, "Webhook ids collided; retry."),
            ),
            created,
        ],
    )
    .await?;
    let mut view = record.to_json()?;
    view["secret"] = secret.into();
    Ok(view)
}

/// One endpoint, without its secrets.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<Json, Error> {
    endpoint(app, caller, id).await?.view()
}

/// The team's endpoints, oldest first.
pub async fn list(app: &App, caller: &Caller, page: PageRequest) -> Result<Listing<Json>, Error> {
    let mut query = Query::prefix(
        Index::Table,
        keys::team_partition(&caller.team_id),
        WebhookDraft::SK_PREFIX,
    );
    query.limit = page.limit;
    query.cursor = page.cursor;
    let found: Listing<StoredEndpoint> = listing(app.table.query(query).await?)?;
    Ok(Listing {
        items: found
            .items
            .iter()
            .map(StoredEndpoint::view)
            .collect::<Result<_, _>>()?,
        next_cursor: found.next_cursor,
    })
}

/// Changes an endpoint (URL, events, description; `enabled` to turn it off or on again).
/// Enabling it clears why it was disabled and its failing streak.
pub async fn update(app: &App, caller: &Caller, id: &str, patch: Json) -> Result<Json, Error> {
    let before = endpoint(app, caller, id).await?;
    if let Some(url) = patch.get("url").and_then(Json::as_str) {
        check_receiver(app, url).await?;
    }
    let record = resources::update::<WebhookDraft>(app, caller, id, patch).await?;
    if record.data.enabled && !before.record.data.enabled {
        let cleared = Update {
            key: endpoint_key(&caller.team_id, id),
            actions: vec![
                UpdateAction::Remove(DISABLED_REASON.into()),
                UpdateAction::Remove(FAILING_SINCE.into()),
            ],
            condition: Some(Condition::item_exists()),
        };
        app.table.update(cleared).await?;
    }
    get(app, caller, id).await
}

/// Deletes an endpoint; deliveries waiting for it are dropped when their turn comes.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<(), Error> {
    resources::delete::<WebhookDraft>(app, caller, id).await
}

/// Gives an endpoint a new signing secret, shown once; the old one still signs for 24 hours,
/// so receivers can switch without missing a message.
pub async fn rotate_secret(app: &App, caller: &Caller, id: &str) -> Result<Json, Error> {
    let current = endpoint(app, caller, id).await?;
    let now = app.clock.now();
    let secret = new_secret().map_err(Error::internal)?;
    let mut secrets = vec![SigningSecret {
        secret: secret.clone(),
        expires_at: None,
    }];
    secrets.extend(
        current
            .signing(now)
            .into_iter()
            .map(|old| SigningSecret {
                secret: old.to_owned(),
                expires_at: Some(rfc3339(now + ROTATION_OVERLAP)),
            })
            .take(1),
    );
    let update = Update {
        key: endpoint_key(&caller.team_id, id),
        actions: vec![UpdateAction::Set(SECRETS.into(), value_of(&secrets)?)],
        condition: Some(Condition::eq("version", current.record.version)),
    };
    let data = json!({"webhook_id": current.record.id});
    let (_, rotated) = events::record(
        &caller.team_id,
        WEBHOOK_SECRET_ROTATED,
        Some(caller.actor()),
        data,
        now,
    )?;
    commit(
        app.table.as_ref(),
        vec![
            Guarded::new(
                WriteOp::Update(update),
                Error::conflict(Conflict::Changed, "The webhook changed meanwhile; retry."),
            ),
            rotated,
        ],
    )
    .await?;
    let mut view = current.view()?;
    view["secret"] = secret.into();
    view["previous_secret_expires_at"] = json!(secrets.get(1).and_then(|s| s.expires_at.clone()));
    Ok(view)
}

/// Sends a `webhook.test` event to one endpoint (and no other), through the outbox like every
/// event.
pub async fn send_test(app: &App, caller: &Caller, id: &str) -> Result<DomainEvent, Error> {
    let current = endpoint(app, caller, id).await?;
    let data = json!({"webhook_id": current.record.id});
    let (event, write) = events::record(
        &caller.team_id,
        WEBHOOK_TEST,
        Some(caller.actor()),
        data,
        app.clock.now(),
    )?;
    let exists = Guarded::new(
        WriteOp::Check {
            key: endpoint_key(&caller.team_id, id),
            condition: Condition::item_exists(),
        },
        Error::not_found(WebhookDraft::KIND),
    );
    commit(app.table.as_ref(), vec![exists, write]).await?;
    Ok(event)
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx answer came.
    Delivered,
    /// Every attempt failed, or the endpoint was disabled or deleted.
    Failed,
}

/// One attempt to deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attempt {
    /// When it was made.
    pub at: String,
    /// The receiver's status code, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: i64,
    /// What went wrong, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One event's delivery to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Delivery {
    /// The event's id: also the `webhook-id` of every attempt.
    pub id: String,
    /// The endpoint.
    pub webhook_id: String,
    /// The event's type.
    pub event_type: String,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Every attempt so far.
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due, while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// The body every attempt sends.
    #[serde(skip_serializing)]
    #[serde(default)]
    pub payload: String,
    /// When it was created.
    pub created_at: String,
}

/// A queued attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptMessage {
    /// The team.
    pub team_id: TeamId,
    /// The endpoint.
    pub webhook_id: String,
    /// The event (and delivery).
    pub event_id: String,
    /// Which attempt this is (1-based), so a redelivered message does not attempt twice.
    pub attempt: usize,
    /// Not before this time (RFC 3339): a wait longer than the queue can hold is queued again.
    pub not_before: String,
}

/// An endpoint's deliveries, newest first.
pub async fn deliveries(
    app: &App,
    caller: &Caller,
    id: &str,
    page: PageRequest,
) -> Result<Listing<Delivery>, Error> {
    endpoint(app, caller, id).await?;
    let mut query = Query::prefix(
        Index::Table,
        keys::team_partition(&caller.team_id),
        format!("{DELIVERY_PREFIX}{id}#"),
    );
    query.descending = true;
    query.limit = page.limit;
    query.cursor = page.cursor;
    listing(app.table.query(query).await?)
}

/// Sends a delivery again now (whatever became of it), as its next attempt.
pub async fn replay(
    app: &App,
    caller: &Caller,
    id: &str,
    delivery_id: &str,
) -> Result<Delivery, Error> {
    endpoint(app, caller, id).await?;
    let Ok(event) = EventId::parse(delivery_id) else {
        return Err(Error::not_found("delivery"));
    };
    let key = delivery_key(&caller.team_id, id, event.as_str());
    let item = app
        .table
        .get(&key)
        .await?
        .ok_or_else(|| Error::not_found("delivery"))?;
    let delivery: Delivery = from_item(&item)?;
    let now = rfc3339(app.clock.now());
    let update = Update {
        key,
        actions: vec![
            UpdateAction::Set("status".into(), value_of(&DeliveryStatus::Pending)?),
            UpdateAction::Set("next_attempt_at".into(), now.clone().into()),
        ],
        condition: Some(Condition::item_exists()),
    };
    app.table.update(update).await?;
    let message = AttemptMessage {
        team_id: caller.team_id.clone(),
        webhook_id: id.to_owned(),
        event_id: delivery.id.clone(),
        attempt: delivery.attempts.len() + 1,
        not_before: now.clone(),
    };
    enqueue(app, &message, StdDuration::ZERO).await?;
    Ok(Delivery {
        status: DeliveryStatus::Pending,
        next_attempt_at: Some(now),
        ..delivery
    })
}

async fn enqueue(app: &App, message: &AttemptMessage, delay: StdDuration) -> Result<(), Error> {
    let body = serde_json::to_string(message).map_err(Error::internal)?;
    let sent = if delay.is_zero() {
        app.webhook_queue.send(&body).await
    } else {
        app.webhook_queue
            .send_after(&body, delay.min(MAX_DELAY))
            .await
    };
    sent.map_err(|e| Error::unavailable_because("The webhook queue is unavailable.", e))
}

/// Hands an event to every endpoint of its team that wants it: one delivery each (once, however
/// often the event comes), queued for its first attempt. A test event goes only to its own
/// endpoint.
pub async fn fan_out(app: &App, event: &DomainEvent) -> Result<usize, Error> {
    let query = Query::prefix(
        Index::Table,
        keys::team_partition(&event.team_id),
        WebhookDraft::SK_PREFIX,
    );
    let payload = serde_json::to_string(event).map_err(Error::internal)?;
    let now = rfc3339(app.clock.now());
    let mut handed = 0;
    for item in query_all(app.table.as_ref(), query).await? {
        let endpoint: StoredEndpoint = from_item(&item)?;
        let only_for = event.data.get("webhook_id").and_then(Json::as_str);
        let wanted = endpoint.record.data.wants(&event.kind)
            && (event.kind != WEBHOOK_TEST || only_for == Some(endpoint.record.id.as_str()));
        if !wanted {
            continue;
        }
        let delivery = Delivery {
            id: event.id.clone(),
            webhook_id: endpoint.record.id.clone(),
            event_type: event.kind.clone(),
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            next_attempt_at: Some(now.clone()),
            payload: payload.clone(),
            created_at: now.clone(),
        };
        let key = delivery_key(&event.team_id, &endpoint.record.id, &event.id);
        let mut item = to_item(&delivery, &key, "webhook_delivery")?;
        item.insert("payload".into(), payload.clone().into());
        match app.table.put(item, Some(Condition::item_absent())).await {
            Ok(()) => {}
            // Handed over already (the event came again): its attempts are under way.
            Err(crate::ports::table::TableError::ConditionFailed) => continue,
            Err(error) => return Err(error.into()),
        }
        let message = AttemptMessage {
            team_id: event.team_id.clone(),
            webhook_id: endpoint.record.id.clone(),
            event_id: event.id.clone(),
            attempt: 1,
            not_before: now.clone(),
        };
        enqueue(app, &message, StdDuration::ZERO).await?;
        handed += 1;
    }
    Ok(handed)
}

/// Makes one queued attempt: signs and POSTs the delivery's body, records the attempt, and
/// queues the next one or ends the delivery. A message that comes early (a wait longer than the
/// queue holds) is queued again for the rest of the wait; one for an attempt already made, a
/// delivery no longer pending, or an endpoint disabled or deleted, changes nothing.
pub async fn attempt(app: &App, message: &AttemptMessage) -> Result<(), Error> {
    let now = app.clock.now();
    if let Some(due) = parse_rfc3339(&message.not_before).filter(|due| *due > now) {
        let wait = StdDuration::try_from(due - now).unwrap_or(StdDuration::ZERO);
        return enqueue(app, message, wait).await;
    }
    let team = &message.team_id;
    let key = delivery_key(team, &message.webhook_id, &message.event_id);
    let Some(item) = app.table.get(&key).await? else {
        return Ok(());
    };
    let delivery: Delivery = from_item(&item)?;
    if delivery.status != DeliveryStatus::Pending || delivery.attempts.len() + 1 != message.attempt
    {
        return Ok(());
    }
    let Some(endpoint) = stored(app, team, &message.webhook_id).await? else {
        return finish(app, &key, &delivery, None, DeliveryStatus::Failed).await;
    };
    if !endpoint.record.data.enabled {
        return finish(app, &key, &delivery, None, DeliveryStatus::Failed).await;
    }
    let timestamp = now.unix_timestamp();
    let signatures = endpoint
        .signing(now)
        .iter()
        .map(|secret| sign(secret, &delivery.id, timestamp, &delivery.payload))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::internal)?;
    let outbound = Outbound {
        url: url::Url::parse(&endpoint.record.data.url).map_err(Error::internal)?,
        headers: vec![
            ("webhook-id".into(), delivery.id.clone()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            ("webhook-signature".into(), signatures.join(" ")),
        ],
        body: delivery.payload.clone(),
    };
    let started = std::time::Instant::now();
    let answer = app
        .webhook_sender
        .send(&outbound, app.allow_loopback_webhooks)
        .await;
    let duration_ms = started.elapsed().as_millis() as i64;
    let (status_code, error, retry_after) = match &answer {
        Ok(answer) => (Some(answer.status), None, answer.retry_after_seconds),
        Err(error) => (None, Some(error.to_string()), None),
    };
    let attempt = Attempt {
        at: rfc3339(now),
        status_code,
        duration_ms,
        error: error.or_else(|| {
            status_code
                .filter(|s| !(200..300).contains(s))
                .map(|s| format!("answered {s}"))
        }),
    };
    let succeeded = status_code.is_some_and(|s| (200..300).contains(&s));
    if succeeded {
        if endpoint.failing_since.is_some() {
            let recovered = Update {
                key: endpoint_key(team, &endpoint.record.id),
                actions: vec![UpdateAction::Remove(FAILING_SINCE.into())],
                condition: Some(Condition::item_exists()),
            };
            note_streak(app, recovered).await;
        }
        return finish(
            app,
            &key,
            &delivery,
            Some(attempt),
            DeliveryStatus::Delivered,
        )
        .await;
    }
    if status_code == Some(410) {
        disable(app, team, &endpoint, "The receiver answered 410 Gone.").await?;
        return finish(app, &key, &delivery, Some(attempt), DeliveryStatus::Failed).await;
    }
    let failing_since = endpoint
        .failing_since
        .as_deref()
        .and_then(parse_rfc3339)
        .unwrap_or(now);
    if endpoint.failing_since.is_none() {
        let streak = Update {
            key: endpoint_key(team, &endpoint.record.id),
            actions: vec![UpdateAction::Set(FAILING_SINCE.into(), rfc3339(now).into())],
            condition: Some(Condition::NotExists(FAILING_SINCE.into())),
        };
        note_streak(app, streak).await;
    } else if now - failing_since >= FAILING_DISABLES_AFTER {
        disable(app, team, &endpoint, "Every attempt failed for five days.").await?;
        return finish(app, &key, &delivery, Some(attempt), DeliveryStatus::Failed).await;
    }
    let jitter = getrandom::u64().map_or(0.5, |r| (r % 1_000) as f64 / 1_000.0);
    let delay = retry_delay(message.attempt, retry_after.map(Duration::seconds), jitter);
    let Some(delay) = delay else {
        return finish(app, &key, &delivery, Some(attempt), DeliveryStatus::Failed).await;
    };
    let due = now + delay;
    let mut attempts = delivery.attempts.clone();
    attempts.push(attempt);
    let update = Update {
        key,
        actions: vec![
            UpdateAction::Set("attempts".into(), value_of(&attempts)?),
            UpdateAction::Set("next_attempt_at".into(), rfc3339(due).into()),
        ],
        condition: Some(Condition::eq("status", "pending")),
    };
    app.table.update(update).await?;
    let next = AttemptMessage {
        attempt: message.attempt + 1,
        not_before: rfc3339(due),
        ..message.clone()
    };
    let wait = StdDuration::try_from(delay).unwrap_or(StdDuration::ZERO);
    enqueue(app, &next, wait).await
}

/// Records the start or the end of an endpoint's failing streak. The attempt has been made
/// either way, so a failure here is logged, not retried (which would send the message again);
/// a streak another attempt recorded first is the same streak.
async fn note_streak(app: &App, update: Update) {
    match app.table.update(update).await {
        Ok(_) | Err(crate::ports::table::TableError::ConditionFailed) => {}
        Err(error) => tracing::warn!(%error, "recording a webhook's failing streak failed"),
    }
}

/// Ends a delivery with its last attempt.
async fn finish(
    app: &App,
    key: &Key,
    delivery: &Delivery,
    last: Option<Attempt>,
    status: DeliveryStatus,
) -> Result<(), Error> {
    let mut attempts = delivery.attempts.clone();
    attempts.extend(last);
    let update = Update {
        key: key.clone(),
        actions: vec![
            UpdateAction::Set("status".into(), value_of(&status)?),
            UpdateAction::Set("attempts".into(), value_of(&attempts)?),
            UpdateAction::Remove("next_attempt_at".into()),
        ],
        condition: Some(Condition::eq("status", "pending")),
    };
    match app.table.update(update).await {
        Ok(_) | Err(crate::ports::table::TableError::ConditionFailed) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Turns an endpoint off, saying why, with a `webhook.disabled` event.
async fn disable(
    app: &App,
    team: &TeamId,
    endpoint: &StoredEndpoint,
    why: &str,
) -> Result<(), Error> {
    let data = WebhookDraft {
        enabled: false,
        ..endpoint.record.data.clone()
    };
    let update = Update {
        key: endpoint_key(team, &endpoint.record.id),
        actions: vec![
            UpdateAction::Set("data".into(), value_of(&data)?),
            UpdateAction::Set("version".into(), (endpoint.record.version + 1).into()),
            UpdateAction::Set(DISABLED_REASON.into(), why.into()),
        ],
        // A change meanwhile (an admin's PATCH) wins; the next failed attempt decides again.
        condition: Some(Condition::eq("version", endpoint.record.version)),
    };
    let data = json!({"webhook_id": endpoint.record.id, "reason": why});
    let (_, event) = events::record(team, WEBHOOK_DISABLED, None, data, app.clock.now())?;
    let changed = Error::conflict(Conflict::Superseded, "the endpoint changed meanwhile");
    let writes = vec![Guarded::new(WriteOp::Update(update), changed), event];
    match commit(app.table.as_ref(), writes).await {
        Ok(())
        | Err(Error::Conflict {
            kind: Conflict::Superseded,
            ..
        }) => Ok(()),
        Err(error) => Err(error),
    }
}
