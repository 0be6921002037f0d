//! AWS Marketplace customers: who bought Vellocity, the state of their subscription, and how
//! usage becomes metering dimensions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::ids::TeamId;

/// Where a customer's subscription stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// Came through the fulfillment URL; Marketplace has not confirmed the subscription yet.
    Pending,
    /// Subscribed: may run executions, and is metered.
    Active,
    /// The subscription failed (e.g. payment).
    Failed,
    /// Unsubscribing: the final hour of metering; no new executions.
    UnsubscribePending,
    /// Unsubscribed: neither executions nor metering.
    Unsubscribed,
}

impl SubscriptionState {
    /// Every state, in the order of a subscription's life.
    pub const ALL: [SubscriptionState; 5] = [
        SubscriptionState::Pending,
        SubscriptionState::Active,
        SubscriptionState::Failed,
        SubscriptionState::UnsubscribePending,
        SubscriptionState::Unsubscribed,
    ];

    /// The state as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Pending => "pending",
            SubscriptionState::Active => "active",
            SubscriptionState::Failed => "failed",
            SubscriptionState::UnsubscribePending => "unsubscribe_pending",
            SubscriptionState::Unsubscribed => "unsubscribed",
        }
    }

    /// Whether the hourly job sends this customer's usage: while subscribed, and during the
    /// final hour after `unsubscribe-pending`.
    pub fn is_metered(self) -> bool {
        matches!(
            self,
            SubscriptionState::Active | SubscriptionState::UnsubscribePending
        )
    }
}

/// A Marketplace customer as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// The product bought.
    pub product_code: String,
    /// The buyer's AWS account, where known.
    #[serde(default)]
    pub aws_account_id: Option<String>,
    /// The buyer's license, where known.
    #[serde(default)]
    pub license_arn: Option<String>,
    /// The legacy customer identifier, where known.
    #[serde(default)]
    pub customer_identifier: Option<String>,
    /// `free-trial` when the buyer came from a free-trial offer.
    #[serde(default)]
    pub offer_type: Option<String>,
    /// The subscription's state.
    pub state: SubscriptionState,
    /// When the event that set the state happened (RFC 3339): older events are ignored.
    pub state_at: String,
    /// Why the state is what it is, where an event said so.
    #[serde(default)]
    pub state_reason: Option<String>,
    /// The team the buyer registered, once they have (absent until then: registration is
    /// conditional on its absence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    /// The contact who registered.
    #[serde(default)]
    pub contact_name: Option<String>,
    /// Entitlements from the last `GetEntitlements` (contracts).
    #[serde(default)]
    pub entitlements: Vec<Entitlement>,
    /// The first hour to meter (the hour the subscription became active).
    #[serde(default)]
    pub metered_from: Option<String>,
    /// The last hour whose records exist (absent until the first run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metered_through: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// Whether a product is metered by the legacy `CustomerIdentifier` or by AWS account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LegacyProducts(Vec<String>);

impl LegacyProducts {
    /// Products from a comma-separated list of product codes.
    pub fn parse(list: &str) -> LegacyProducts {
        LegacyProducts(
            list.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Whether the product still identifies customers by `CustomerIdentifier`.
    pub fn contains(&self, product_code: &str) -> bool {
        self.0.iter().any(|c| c == product_code)
    }
}

impl Customer {
    /// A customer first seen now, `pending` until an event says otherwise; its state time is
    /// the epoch, so any event about it is newer.
    pub fn new(
        product_code: String,
        aws_account_id: Option<String>,
        license_arn: Option<String>,
        customer_identifier: Option<String>,
        created_at: String,
    ) -> Customer {
        Customer {
            product_code,
            aws_account_id,
            license_arn,
            customer_identifier,
            offer_type: None,
            state: SubscriptionState::Pending,
            state_at: "1970-01-01T00:00:00Z".into(),
            state_reason: None,
            team_id: None,
            contact_name: None,
            entitlements: Vec::new(),
            metered_from: None,
            metered_through: None,
            created_at,
        }
    }

    /// How usage records name this customer: the legacy identifier for legacy products,
    /// otherwise the AWS account and license. `None` while neither is known.
    pub fn metered_as(&self, legacy: &LegacyProducts) -> Option<MeteredCustomer> {
        if legacy.contains(&self.product_code) {
            return self
                .customer_identifier
                .clone()
                .map(MeteredCustomer::Legacy);
        }
        match (&self.aws_account_id, &self.customer_identifier) {
            (Some(account), _) => Some(MeteredCustomer::Account {
                aws_account_id: account.clone(),
                license_arn: self.license_arn.clone(),
            }),
            (None, Some(identifier)) => Some(MeteredCustomer::Legacy(identifier.clone())),
            (None, None) => None,
        }
    }

    /// How `GetEntitlements` finds this customer.
    pub fn entitlement_filter(&self) -> Option<EntitlementFilter> {
        match (&self.aws_account_id, &self.customer_identifier) {
            (Some(account), _) => Some(EntitlementFilter::Account(account.clone())),
            (None, Some(identifier)) => Some(EntitlementFilter::Legacy(identifier.clone())),
            (None, None) => None,
        }
    }
}

/// The stable reference of a customer within a product: the AWS account id for new
/// integrations, the customer identifier for legacy products (whose notifications name only
/// that).
pub fn customer_ref(
    legacy: &LegacyProducts,
    product_code: &str,
    aws_account_id: Option<&str>,
    customer_identifier: Option<&str>,
) -> Option<String> {
    if legacy.contains(product_code) {
        customer_identifier.map(|c| format!("cid-{c}"))
    } else {
        aws_account_id
            .map(|a| format!("acct-{a}"))
            .or_else(|| customer_identifier.map(|c| format!("cid-{c}")))
    }
}

/// What happened to a customer's subscription, from an SNS notification or an EventBridge
/// agreement or license event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// Subscribed (`subscribe-success`, a purchase agreement created or amended, a license
    /// updated).
    Subscribed,
    /// The subscription failed (`subscribe-fail`).
    SubscribeFailed,
    /// Unsubscribing: send the final usage within the hour (`unsubscribe-pending`, a purchase
    /// agreement ended).
    UnsubscribePending,
    /// Unsubscribed (`unsubscribe-success`, a license deprovisioned).
    Unsubscribed,
    /// Entitlements changed: read them (`entitlement-updated`).
    EntitlementsUpdated,
}

impl SubscriptionChange {
    /// The change in words, for the customer's `state_reason`.
    pub fn describe(&self) -> &'static str {
        match self {
            SubscriptionChange::Subscribed => "subscribed",
            SubscriptionChange::SubscribeFailed => "subscription failed",
            SubscriptionChange::UnsubscribePending => "unsubscribing",
            SubscriptionChange::Unsubscribed => "unsubscribed",
            SubscriptionChange::EntitlementsUpdated => "entitlements updated",
        }
    }

    /// The state the change leads to; `None` when it depends on the entitlements read.
    pub fn target(&self) -> Option<SubscriptionState> {
        match self {
            SubscriptionChange::Subscribed => Some(SubscriptionState::Active),
            SubscriptionChange::SubscribeFailed => Some(SubscriptionState::Failed),
            SubscriptionChange::UnsubscribePending => Some(SubscriptionState::UnsubscribePending),
            SubscriptionChange::Unsubscribed => Some(SubscriptionState::Unsubscribed),
            SubscriptionChange::EntitlementsUpdated => None,
        }
    }
}

/// The state entitlements imply: active while any is current, unsubscribed when all have
/// expired, unchanged when there are none (usage-priced subscriptions have none).
pub fn state_from_entitlements(
    entitlements: &[Entitlement],
    now: &str,
) -> Option<SubscriptionState> {
    if entitlements.is_empty() {
        return None;
    }
    let current = entitlements
        .iter()
        .any(|e| e.expires_at.as_deref().is_none_or(|at| at > now));
    Some(if current {
        SubscriptionState::Active
    } else {
        SubscriptionState::Unsubscribed
    })
}

/// Which usage measure each Marketplace dimension bills. Configuration
/// (`MARKETPLACE_DIMENSIONS`, a JSON object of dimension → measure); the measures are those of
/// [`crate::domain::usage::MEASURES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dimensions(BTreeMap<String, String>);

impl Default for Dimensions {
    fn default() -> Self {
        Dimensions(
            [
                ("executions", "executions"),
                ("words", "words"),
                ("images", "images"),
            ]
            .into_iter()
            .map(|(d, m)| (d.to_owned(), m.to_owned()))
            .collect(),
        )
    }
}

impl Dimensions {
    /// Reads a mapping such as `{"agent_runs":"executions","images":"images"}`.
    pub fn parse(json: &str) -> Result<Dimensions, String> {
        let map: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| {
            format!("MARKETPLACE_DIMENSIONS is not a JSON object of dimension → measure: {e}")
        })?;
        if map.is_empty() {
            return Err("MARKETPLACE_DIMENSIONS names no dimension".into());
        }
        let measures = crate::domain::usage::MEASURES;
        if let Some((dimension, measure)) =
            map.iter().find(|(_, m)| !measures.contains(&m.as_str()))
        {
            return Err(format!(
                "dimension {dimension} bills unknown measure {measure} (known: {})",
                measures.join(", ")
            ));
        }
        if let Some(dimension) = map.keys().find(|d| d.is_empty() || d.len() > 255) {
            return Err(format!(
                "dimension name {dimension:?} must be 1 to 255 characters"
            ));
        }
        Ok(Dimensions(map))
    }

    /// The mapping from `MARKETPLACE_DIMENSIONS`, or the defaults when it is unset.
    pub fn from_env() -> Result<Dimensions, String> {
        match std::env::var("MARKETPLACE_DIMENSIONS") {
            Ok(json) if !json.trim().is_empty() => Dimensions::parse(&json),
            _ => Ok(Dimensions::default()),
        }
    }

    /// Each dimension with the measure it bills.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(d, m)| (d.as_str(), m.as_str()))
    }
}

/// Where one metering record stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeteringStatus {
    /// Not yet accepted by Marketplace; the next run sends it.
    Pending,
    /// Accepted (`Success`, or `DuplicateRecord`: metered before).
    Reported,
    /// Marketplace answered `CustomerNotSubscribed`.
    CustomerNotSubscribed,
    /// Will not be sent: older than Marketplace's window, or refused.
    Failed,
}

impl MeteringStatus {
    /// The status as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MeteringStatus::Pending => "pending",
            MeteringStatus::Reported => "reported",
            MeteringStatus::CustomerNotSubscribed => "customer_not_subscribed",
            MeteringStatus::Failed => "failed",
        }
    }
}

/// One customer's usage of one dimension in one hour, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeteringRecord {
    /// The product.
    pub product_code: String,
    /// The customer within the product (see [`customer_ref`]).
    pub customer_ref: String,
    /// How the record names the customer to AWS.
    pub customer: MeteredCustomerRecord,
    /// The team whose usage it is, if the customer registered one.
    #[serde(default)]
    pub team_id: Option<TeamId>,
    /// The dimension.
    pub dimension: String,
    /// The hour (`2026-11-22T13`).
    pub hour: String,
    /// The usage in that hour.
    pub quantity: i64,
    /// Where it stands.
    pub status: MeteringStatus,
    /// AWS's metering record id, once accepted.
    #[serde(default)]
    pub metering_record_id: Option<String>,
    /// Why it failed, was refused, or is still pending.
    #[serde(default)]
    pub reason: Option<String>,
    /// How many times it was sent.
    #[serde(default)]
    pub attempts: i64,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// [`MeteredCustomer`] as stored on a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum MeteredCustomerRecord {
    /// By AWS account (and license).
    Account {
        /// The AWS account id.
        aws_account_id: String,
        /// The license ARN, where known.
        #[serde(default)]
        license_arn: Option<String>,
    },
    /// By legacy customer identifier.
    Legacy {
        /// The customer identifier.
        customer_identifier: String,
    },
}

impl From<MeteredCustomer> for MeteredCustomerRecord {
    fn from(customer: MeteredCustomer) -> Self {
        match customer {
            MeteredCustomer::Account {
                aws_account_id,
                license_arn,
            } => MeteredCustomerRecord::Account {
                aws_account_id,
                license_arn,
            },
            MeteredCustomer::Legacy(customer_identifier) => MeteredCustomerRecord::Legacy {
                customer_identifier,
            },
        }
    }
}

impl From<MeteredCustomerRecord> for MeteredCustomer {
    fn from(record: MeteredCustomerRecord) -> Self {
        match record {
            MeteredCustomerRecord::Account {
                aws_account_id,
                license_arn,
            } => MeteredCustomer::Account {
                aws_account_id,
                license_arn,
            },
            MeteredCustomerRecord::Legacy {
                customer_identifier,
            } => MeteredCustomer::Legacy(customer_identifier),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_must_bill_known_measures() {
        let dims = Dimensions::parse(r#"{"agent_runs":"executions"}"#).unwrap();
        assert_eq!(
            dims.iter().collect::<Vec<_>>(),
            [("agent_runs", "executions")]
        );
        assert!(Dimensions::parse(r#"{"x":"tokens"}"#).is_err());
        assert!(Dimensions::parse("{}").is_err());
        assert!(Dimensions::parse("[]").is_err());
    }

    #[test]
    fn legacy_products_are_metered_by_customer_identifier() {
        let legacy = LegacyProducts::parse("old1, old2");
        assert_eq!(
            customer_ref(&legacy, "old1", Some("111122223333"), Some("CID")),
            Some("cid-CID".into())
        );
        assert_eq!(
            customer_ref(&legacy, "new", Some("111122223333"), Some("CID")),
            Some("acct-111122223333".into())
        );
        assert_eq!(
            customer_ref(&legacy, "old1", Some("111122223333"), None),
            None
        );
    }

    #[test]
    fn entitlements_decide_the_state_only_when_there_are_some() {
        let entitlement = |expires: Option<&str>| Entitlement {
            dimension: "seats".into(),
            value: Some("10".into()),
            expires_at: expires.map(str::to_owned),
        };
        let now = "2026-11-22T12:00:00Z";
        assert_eq!(state_from_entitlements(&[], now), None);
        assert_eq!(
            state_from_entitlements(&[entitlement(Some("2027-01-01T00:00:00Z"))], now),
            Some(SubscriptionState::Active)
        );
        assert_eq!(
            state_from_entitlements(&[entitlement(Some("2026-01-01T00:00:00Z"))], now),
            Some(SubscriptionState::Unsubscribed)
        );
        assert_eq!(
            state_from_entitlements(&[entitlement(None)], now),
            Some(SubscriptionState::Active)
        );
    }
}

/// How a usage record names its customer. AWS takes one or the other, never both.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MeteredCustomer {
    /// The buyer's AWS account, with the license where known.
    Account {
        /// The AWS account id.
        aws_account_id: String,
        /// The license ARN, where known.
        license_arn: Option<String>,
    },
    /// The legacy customer identifier, for products configured as legacy.
    Legacy(String),
}

/// One entitlement of a customer (SaaS contracts).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entitlement {
    /// The dimension entitled.
    pub dimension: String,
    /// Its value, as text (integer, double, boolean or string entitlements).
    pub value: Option<String>,
    /// Until when it holds (RFC 3339), if it expires.
    pub expires_at: Option<String>,
}

/// Which customer's entitlements to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntitlementFilter {
    /// By AWS account id.
    Account(String),
    /// By legacy customer identifier.
    Legacy(String),
}
