//! Marketplace customers as stored: one item per product and customer, with lookup items by
//! AWS account and by customer identifier, and how a buyer's customer reference is found.

use super::Settings;
use crate::app::items::{from_item, to_item};
use crate::app::records::{commit, Guarded};
use crate::app::{keys, App};
use crate::domain::marketplace::{customer_ref, Customer};
use crate::error::{Conflict, Error};
use crate::ports::table::{Condition, Item, Key, WriteOp, GSI1PK, GSI1SK};

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
pub(super) async fn create_or_find(
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
pub(super) fn create_writes(
    customer_ref: &str,
    customer: &Customer,
) -> Result<Vec<Guarded>, Error> {
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
pub(super) fn lookup_writes(
    customer_ref: &str,
    customer: &Customer,
) -> Result<Vec<Guarded>, Error> {
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
pub(super) async fn reference_for(
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
