//! Subscription events (SNS notifications and EventBridge agreement and license events):
//! each moves a customer's subscription state, in order, once.

use serde_json::json;

use super::customers::{create_or_find, find, lookup_writes, reference_for, StoredCustomer};
use super::events::SubscriptionEvent;
use super::Settings;
use crate::app::items::value_of;
use crate::app::records::{commit, query_all, Guarded};
use crate::app::{events, keys, usage, App};
use crate::domain::events::SUBSCRIPTION_CHANGED;
use crate::domain::marketplace::{
    state_from_entitlements, Customer, SubscriptionChange, SubscriptionState,
};
use crate::error::{Conflict, Error};
use crate::ports::rfc3339;
use crate::ports::table::{
    CompareOp, Condition, Index, Query, Update, UpdateAction, WriteOp, GSI1PK,
};

/// Why a subscription event was not applied.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The event can never be applied (it names no customer we can find): for the DLQ.
    #[error("{0}")]
    Unknown(String),
    /// A store or Marketplace failure: retry.
    #[error(transparent)]
    Transient(#[from] Error),
}

/// What applying an event did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The customers changed (their keys' partitions).
    pub customers: Vec<String>,
    /// Events older than the customer's state, left alone.
    pub stale: usize,
}

/// Finds the customers an event is about: by product and customer where it names them, else
/// (agreement events name only the buyer's account) the account's customers of the same
/// agreement, or its only customer.
async fn customers_of(
    app: &App,
    settings: &Settings,
    event: &SubscriptionEvent,
) -> Result<Vec<(String, String)>, EventError> {
    if let Some(product) = &event.product_code {
        let reference = reference_for(
            app,
            settings,
            product,
            event.aws_account_id.as_deref(),
            event.customer_identifier.as_deref(),
        )
        .await?
        .ok_or_else(|| {
            EventError::Unknown(format!(
                "the event names no customer of legacy product {product} by customer identifier"
            ))
        })?;
        return Ok(vec![(product.clone(), reference)]);
    }
    let account = event
        .aws_account_id
        .as_deref()
        .ok_or_else(|| EventError::Unknown("the event names neither product nor account".into()))?;
    let items = query_all(
        app.table.as_ref(),
        Query::prefix(
            Index::Table,
            keys::marketplace_account_partition(account),
            "",
        ),
    )
    .await?;
    let field = |item: &crate::ports::table::Item, name: &str| {
        item.get(name).and_then(|v| v.as_str()).map(str::to_owned)
    };
    let mut found: Vec<(String, String)> = items
        .iter()
        .filter_map(|item| Some((field(item, "product_code")?, field(item, "customer_ref")?)))
        .collect();
    if found.len() > 1 {
        let mut same_agreement = Vec::new();
        for (product, reference) in &found {
            let key = keys::marketplace_customer(product, reference);
            let agreement = app
                .table
                .get(&key)
                .await
                .map_err(Error::from)?
                .and_then(|i| i.get("agreement_id")?.as_str().map(str::to_owned));
            if agreement.is_some() && agreement == event.agreement_id {
                same_agreement.push((product.clone(), reference.clone()));
            }
        }
        found = same_agreement;
    }
    match found.len() {
        0 => Err(EventError::Unknown(format!(
            "no customer of account {account} matches agreement {}",
            event.agreement_id.as_deref().unwrap_or("(none)")
        ))),
        _ => Ok(found),
    }
}

/// Applies a subscription event to the customers it is about. Events older than a customer's
/// current state (redelivered or out of order) change nothing; `unsubscribe-pending` sends
/// the customer's final usage at once.
pub async fn apply_event(
    app: &App,
    settings: &Settings,
    event: &SubscriptionEvent,
) -> Result<Applied, EventError> {
    let mut applied = Applied {
        customers: Vec::new(),
        stale: 0,
    };
    for (product, reference) in customers_of(app, settings, event).await? {
        let key = keys::marketplace_customer(&product, &reference);
        let stored = match find(app, &key).await? {
            Some(stored) => stored,
            None => {
                let customer = Customer::new(
                    product.clone(),
                    event.aws_account_id.clone(),
                    event.license_arn.clone(),
                    event.customer_identifier.clone(),
                    rfc3339(app.clock.now()),
                );
                create_or_find(app, &key, &reference, customer).await?
            }
        };
        if transition(app, &stored, event).await? {
            applied.customers.push(key.pk.clone());
        } else {
            applied.stale += 1;
        }
        if event.change == SubscriptionChange::UnsubscribePending {
            super::metering::run(app, settings, super::metering::Scope::Final(key)).await?;
        }
    }
    Ok(applied)
}

/// Moves one customer to the state an event implies, unless a newer event set its state.
async fn transition(
    app: &App,
    stored: &StoredCustomer,
    event: &SubscriptionEvent,
) -> Result<bool, EventError> {
    let at = rfc3339(event.at);
    if at < stored.customer.state_at {
        return Ok(false);
    }
    let mut actions = Vec::new();
    let mut target = event.change.target();
    if event.change == SubscriptionChange::EntitlementsUpdated {
        if let Some(filter) = stored.customer.entitlement_filter() {
            let entitlements = app
                .marketplace
                .get_entitlements(&stored.customer.product_code, &filter)
                .await
                .map_err(|e| Error::unavailable(e.to_string()))?;
            target = state_from_entitlements(&entitlements, &rfc3339(app.clock.now()));
            actions.push(UpdateAction::Set(
                "entitlements".into(),
                value_of(&entitlements)?,
            ));
        }
    }
    let state = target.unwrap_or(stored.customer.state);
    actions.extend([
        UpdateAction::Set("state".into(), state.as_str().into()),
        UpdateAction::Set("state_at".into(), at.clone().into()),
        UpdateAction::Set(
            "state_reason".into(),
            format!("{} (event {})", event.change.describe(), event.event_id).into(),
        ),
        UpdateAction::Set(
            GSI1PK.into(),
            keys::marketplace_state_partition(state.as_str()).into(),
        ),
    ]);
    if state == SubscriptionState::Active && stored.customer.metered_from.is_none() {
        actions.push(UpdateAction::Set(
            "metered_from".into(),
            usage::hour(event.at.max(app.clock.now())).into(),
        ));
    }
    let known = [
        (
            "aws_account_id",
            &event.aws_account_id,
            &stored.customer.aws_account_id,
        ),
        (
            "license_arn",
            &event.license_arn,
            &stored.customer.license_arn,
        ),
    ];
    for (name, new, old) in known {
        if let (Some(new), None) = (new, old) {
            actions.push(UpdateAction::Set(name.into(), new.clone().into()));
        }
    }
    if let Some(agreement) = &event.agreement_id {
        actions.push(UpdateAction::Set(
            "agreement_id".into(),
            agreement.clone().into(),
        ));
    }
    let update = Update {
        key: stored.key.clone(),
        actions,
        condition: Some(Condition::compare("state_at", CompareOp::Le, at)),
    };
    let stale = || Error::conflict(Conflict::Superseded, "a newer event set the state");
    let mut writes = vec![Guarded::new(WriteOp::Update(update), stale())];
    // A registered customer's team is told when its subscription changes state.
    if let Some(team) = stored
        .customer
        .team_id
        .as_ref()
        .filter(|_| state != stored.customer.state)
    {
        let data = json!({
            "product_code": stored.customer.product_code,
            "previous_state": stored.customer.state.as_str(),
            "state": state.as_str(),
            "change": event.change.describe(),
        });
        let (_, told) = events::record(team, SUBSCRIPTION_CHANGED, None, data, app.clock.now())?;
        writes.push(told);
    }
    match commit(app.table.as_ref(), writes).await {
        Ok(()) => {}
        Err(Error::Conflict {
            kind: Conflict::Superseded,
            ..
        }) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    if let (Some(account), None) = (&event.aws_account_id, &stored.customer.aws_account_id) {
        let mut customer = stored.customer.clone();
        customer.aws_account_id = Some(account.clone());
        commit(
            app.table.as_ref(),
            lookup_writes(&stored.customer_ref, &customer)?,
        )
        .await?;
    }
    tracing::info!(
        customer = %stored.key.pk,
        from = stored.customer.state.as_str(),
        to = state.as_str(),
        event_id = %event.event_id,
        "marketplace subscription changed"
    );
    Ok(true)
}
