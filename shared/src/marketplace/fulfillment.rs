//! Fulfillment: the buyer's registration token resolved with Marketplace (`ResolveCustomer`)
//! and the customer stored, before they register.

use super::customers::{create_writes, lookup_writes, reference_for};
use super::Settings;
use crate::app::records::commit;
use crate::app::{keys, App};
use crate::domain::marketplace::Customer;
use crate::error::{Conflict, Error};
use crate::ports::marketplace::{MarketplaceError, ResolvedCustomer};
use crate::ports::rfc3339;
use crate::ports::table::{Condition, Key, Update, UpdateAction};

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
