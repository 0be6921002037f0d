//! Marketplace customers: fulfillment (resolving the buyer's token), registration (a team for
//! the buyer), subscription events, and the rule that only an active subscription starts
//! executions.

use super::events::SubscriptionEvent;
use super::Settings;
use crate::app::items::{from_item, to_item, value_of};
use crate::app::records::{commit, query_all, Guarded};
use crate::app::{keys, teams, usage, App};
use crate::domain::marketplace::{
    customer_ref, state_from_entitlements, Customer, SubscriptionChange, SubscriptionState,
};
use crate::domain::resources::NAME_MAX;
use crate::domain::team::{MarketplaceLink, Team};
use crate::domain::validation::{Email, FieldErrors};
use crate::error::{Conflict, Error};
use crate::ports::marketplace::{MarketplaceError, ResolvedCustomer};
use crate::ports::rfc3339;
use crate::ports::table::{
    CompareOp, Condition, Index, Item, Key, Query, TableError, Update, UpdateAction, WriteOp,
    GSI1PK, GSI1SK,
};

/// A customer with where it is stored.
#[derive(Clone, Debug)]
pub struct StoredCustomer {
    /// The item's key.
    pub key: Key,
    /// The customer within its product.
    pub customer_ref: String,
    /// The customer.
    pub customer: Customer,
}

/// Reads a customer.
pub async fn find(app: &App, key: &Key) -> Result<Option<StoredCustomer>, Error> {
    app.table.get(key).await?.as_ref().map(decode).transpose()
}

/// A customer from its stored item (read directly, or from the GSI1 listing by state).
pub fn decode(item: &Item) -> Result<StoredCustomer, Error> {
    let key = Key::of(item).ok_or_else(|| Error::internal("a customer item without a key"))?;
    let customer_ref = item
        .get("customer_ref")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    Ok(StoredCustomer {
        key,
        customer_ref,
        customer: from_item(item)?,
    })
}

/// Creates a customer; if another request created it first, reads that one instead.
async fn create_or_find(
    app: &App,
    key: &Key,
    customer_ref: &str,
    customer: Customer,
) -> Result<StoredCustomer, Error> {
    match commit(app.table.as_ref(), create_writes(customer_ref, &customer)?).await {
        Ok(()) => Ok(StoredCustomer {
            key: key.clone(),
            customer_ref: customer_ref.to_owned(),
            customer,
        }),
        Err(Error::Conflict {
            kind: Conflict::CustomerExists,
            ..
        }) => find(app, key)
            .await?
            .ok_or_else(|| Error::internal("the customer vanished after it was stored")),
        Err(e) => Err(e),
    }
}

/// The writes that create a customer: the item (if still absent), on the GSI1 partition of its
/// state, and the lookups by AWS account and by customer identifier.
fn create_writes(customer_ref: &str, customer: &Customer) -> Result<Vec<Guarded>, Error> {
    let key = keys::marketplace_customer(&customer.product_code, customer_ref);
    let mut item = to_item(customer, &key, "marketplace_customer")?;
    item.insert("customer_ref".into(), customer_ref.into());
    item.insert(
        GSI1PK.into(),
        keys::marketplace_state_partition(customer.state.as_str()).into(),
    );
    item.insert(GSI1SK.into(), key.pk.clone().into());
    let mut writes = vec![Guarded::new(
        WriteOp::Put {
            item,
            condition: Some(Condition::item_absent()),
        },
        Error::conflict(Conflict::CustomerExists, "The customer exists already."),
    )];
    writes.extend(lookup_writes(customer_ref, customer)?);
    Ok(writes)
}

/// The lookup items that lead from an AWS account or a customer identifier to the customer.
fn lookup_writes(customer_ref: &str, customer: &Customer) -> Result<Vec<Guarded>, Error> {
    let mut lookups = Vec::new();
    if let Some(account) = &customer.aws_account_id {
        lookups.push(keys::marketplace_account(account, &customer.product_code));
    }
    if let Some(identifier) = &customer.customer_identifier {
        lookups.push(keys::marketplace_customer_identifier(
            &customer.product_code,
            identifier,
        ));
    }
    lookups
        .into_iter()
        .map(|key| {
            let mut item = to_item(
                &serde_json::json!({ "product_code": customer.product_code, "customer_ref": customer_ref }),
                &key,
                "marketplace_lookup",
            )?;
            item.remove("id");
            Ok(Guarded::new(
                WriteOp::Put {
                    item,
                    condition: None,
                },
                Error::internal("an unconditional lookup put failed its condition"),
            ))
        })
        .collect()
}

/// Where a lookup item points.
async fn lookup(app: &App, key: &Key) -> Result<Option<String>, Error> {
    Ok(app
        .table
        .get(key)
        .await?
        .and_then(|item| item.get("customer_ref")?.as_str().map(str::to_owned)))
}

/// The customer reference of a buyer of a product: an existing customer's (found through the
/// customer identifier, so a buyer notified before registering stays one customer), or a new
/// one by the product's rule.
async fn reference_for(
    app: &App,
    settings: &Settings,
    product_code: &str,
    aws_account_id: Option<&str>,
    customer_identifier: Option<&str>,
) -> Result<Option<String>, Error> {
    if let Some(identifier) = customer_identifier {
        let alias = keys::marketplace_customer_identifier(product_code, identifier);
        if let Some(found) = lookup(app, &alias).await? {
            return Ok(Some(found));
        }
    }
    if let Some(account) = aws_account_id {
        let alias = keys::marketplace_account(account, product_code);
        if let Some(found) = lookup(app, &alias).await? {
            return Ok(Some(found));
        }
    }
    Ok(customer_ref(
        &settings.legacy_products,
        product_code,
        aws_account_id,
        customer_identifier,
    ))
}

/// Why fulfillment did not lead to registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FulfillmentError {
    /// No token, or one Marketplace does not know or no longer honours.
    #[error("{0}")]
    BadToken(String),
    /// Marketplace could not be asked now.
    #[error("AWS Marketplace is unavailable: {0}")]
    Unavailable(String),
    /// Storing the customer failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// The longest registration token accepted (Marketplace's are a few hundred characters).
const TOKEN_MAX: usize = 4096;

/// Resolves the buyer's registration token, stores the customer, and returns the signed
/// reference the registration page takes. Nothing is stored for a bad token.
pub async fn fulfill(
    app: &App,
    settings: &Settings,
    token: &str,
    offer_type: Option<&str>,
) -> Result<String, FulfillmentError> {
    let token = token.trim();
    if token.is_empty() || token.len() > TOKEN_MAX {
        return Err(FulfillmentError::BadToken(
            "The request carries no valid AWS Marketplace registration token.".into(),
        ));
    }
    let resolved = app
        .marketplace
        .resolve_customer(token)
        .await
        .map_err(|e| match e {
            MarketplaceError::InvalidToken | MarketplaceError::Refused(_) => {
                FulfillmentError::BadToken(
                    "AWS Marketplace does not recognise this registration link.".into(),
                )
            }
            MarketplaceError::ExpiredToken => FulfillmentError::BadToken(
                "This registration link has expired. Open the product in AWS Marketplace and \
                 choose \u{201c}Set up your account\u{201d} again."
                    .into(),
            ),
            MarketplaceError::Unavailable(m) => FulfillmentError::Unavailable(m),
        })?;
    let stored = store_resolved(app, settings, resolved, offer_type).await?;
    Ok(settings.signing_key.sign(&stored.pk, app.clock.now()))
}

async fn store_resolved(
    app: &App,
    settings: &Settings,
    resolved: ResolvedCustomer,
    offer_type: Option<&str>,
) -> Result<Key, Error> {
    let customer_ref = reference_for(
        app,
        settings,
        &resolved.product_code,
        resolved.aws_account_id.as_deref(),
        resolved.customer_identifier.as_deref(),
    )
    .await?
    .ok_or_else(|| Error::internal("ResolveCustomer named neither an account nor a customer"))?;
    let key = keys::marketplace_customer(&resolved.product_code, &customer_ref);
    let offer_type = offer_type
        .map(str::trim)
        .filter(|o| !o.is_empty() && o.len() <= 64)
        .map(str::to_owned);
    let customer = Customer {
        offer_type,
        ..Customer::new(
            resolved.product_code,
            resolved.aws_account_id,
            resolved.license_arn,
            resolved.customer_identifier,
            rfc3339(app.clock.now()),
        )
    };
    match commit(app.table.as_ref(), create_writes(&customer_ref, &customer)?).await {
        Ok(()) => {}
        // Known already (a notification came first, or the buyer came back): fill in what
        // Marketplace told us now.
        Err(Error::Conflict {
            kind: Conflict::CustomerExists,
            ..
        }) => complete_identity(app, &key, &customer_ref, &customer).await?,
        Err(e) => return Err(e),
    }
    Ok(key)
}

/// Adds the identifiers Marketplace returned to a customer stored before, with their lookups.
async fn complete_identity(
    app: &App,
    key: &Key,
    customer_ref: &str,
    resolved: &Customer,
) -> Result<(), Error> {
    let mut actions = Vec::new();
    let fields = [
        ("aws_account_id", &resolved.aws_account_id),
        ("license_arn", &resolved.license_arn),
        ("customer_identifier", &resolved.customer_identifier),
        ("offer_type", &resolved.offer_type),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            actions.push(UpdateAction::Set(name.into(), value.clone().into()));
        }
    }
    if !actions.is_empty() {
        app.table
            .update(Update {
                key: key.clone(),
                actions,
                condition: Some(Condition::item_exists()),
            })
            .await?;
    }
    let lookups = lookup_writes(customer_ref, resolved)?;
    if !lookups.is_empty() {
        commit(app.table.as_ref(), lookups).await?;
    }
    Ok(())
}

/// Why a registration reference or form was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// The reference is missing, forged, expired, or names no customer.
    #[error("the registration link is not valid")]
    BadReference,
    /// The customer has a team already.
    #[error("already registered")]
    AlreadyRegistered,
    /// The form has invalid fields.
    #[error("the form has invalid fields")]
    Invalid(FieldErrors),
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// The customer a registration reference names, if it is valid.
pub async fn customer_of_reference(
    app: &App,
    settings: &Settings,
    reference: &str,
) -> Result<StoredCustomer, RegistrationError> {
    let pk = settings
        .signing_key
        .verify(reference, app.clock.now())
        .map_err(|_| RegistrationError::BadReference)?;
    let stored = find(app, &Key::new(pk, "CUSTOMER"))
        .await?
        .ok_or(RegistrationError::BadReference)?;
    if stored.customer.team_id.is_some() {
        return Err(RegistrationError::AlreadyRegistered);
    }
    Ok(stored)
}

/// The registration form's fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistrationForm {
    /// The company: the team's name.
    pub company: String,
    /// Who registers.
    pub contact_name: String,
    /// Their email: the team's owner.
    pub email: String,
}

/// Creates the buyer's team with the contact as owner and links it to the customer, in one
/// transaction: a second registration of the same customer finds it registered.
pub async fn register(
    app: &App,
    settings: &Settings,
    reference: &str,
    form: &RegistrationForm,
) -> Result<teams::CreatedTeam, RegistrationError> {
    let stored = customer_of_reference(app, settings, reference).await?;
    let mut errors = FieldErrors::default();
    let company = errors.text("company", &form.company, 1, NAME_MAX);
    let contact_name = errors.text("contact_name", &form.contact_name, 1, NAME_MAX);
    let email = Email::parse(&form.email)
        .map_err(|m| errors.add("email", m))
        .ok();
    let errors = errors.finish(()).err();
    let (Some(email), None) = (email, errors.clone()) else {
        return Err(RegistrationError::Invalid(errors.unwrap_or_default()));
    };
    let link = MarketplaceLink {
        product_code: stored.customer.product_code.clone(),
        customer_ref: stored.customer_ref.clone(),
    };
    let (created, mut writes) =
        teams::new_team(app, &company, email.as_str(), &settings.plan, Some(link))?;
    writes.push(Guarded::new(
        WriteOp::Update(Update {
            key: stored.key.clone(),
            actions: vec![
                UpdateAction::Set("team_id".into(), created.team.id.to_string().into()),
                UpdateAction::Set("contact_name".into(), contact_name.into()),
            ],
            condition: Some(Condition::And(vec![
                Condition::item_exists(),
                Condition::NotExists("team_id".into()),
            ])),
        }),
        Error::conflict(
            Conflict::AlreadyRegistered,
            "The customer is registered already.",
        ),
    ));
    match commit(app.table.as_ref(), writes).await {
        Ok(()) => Ok(created),
        Err(Error::Conflict {
            kind: Conflict::AlreadyRegistered,
            ..
        }) => Err(RegistrationError::AlreadyRegistered),
        Err(e) => Err(e.into()),
    }
}

/// The check, added to the transaction that starts an execution, that a team registered
/// through Marketplace still has an active subscription. `None` for direct-plan teams.
pub fn active_subscription_check(team: &Team) -> Option<Guarded> {
    let link = team.marketplace.as_ref()?;
    Some(Guarded::new(
        WriteOp::Check {
            key: keys::marketplace_customer(&link.product_code, &link.customer_ref),
            condition: Condition::eq("state", SubscriptionState::Active.as_str()),
        },
        Error::SubscriptionInactive,
    ))
}

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
    match app.table.update(update).await {
        Ok(_) => {}
        Err(TableError::ConditionFailed) => return Ok(false),
        Err(e) => return Err(Error::from(e).into()),
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
