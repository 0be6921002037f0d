//! The AWS Marketplace port: resolving a buyer's registration token, metering usage and reading
//! entitlements (the Metering and Entitlement services in production; a local stand-in for the
//! local stack).

use async_trait::async_trait;
use time::OffsetDateTime;

/// The domain types this port speaks in, where its callers and adapters find them.
pub use crate::domain::marketplace::{Entitlement, EntitlementFilter, MeteredCustomer};

/// Who a registration token names, as `ResolveCustomer` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedCustomer {
    /// The product the buyer subscribed to.
    pub product_code: String,
    /// The buyer's AWS account: how new integrations identify customers.
    pub aws_account_id: Option<String>,
    /// The buyer's license, where Marketplace returns one.
    pub license_arn: Option<String>,
    /// The legacy customer identifier (not filled in for new SaaS integrations).
    pub customer_identifier: Option<String>,
}

/// One hourly usage record for `BatchMeterUsage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRecord {
    /// The customer.
    pub customer: MeteredCustomer,
    /// The product's pricing dimension.
    pub dimension: String,
    /// The usage in that hour.
    pub quantity: i32,
    /// The start of the hour the usage happened in.
    pub timestamp: OffsetDateTime,
}

/// What Marketplace said of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Accepted; AWS's id of the metering record.
    Success(Option<String>),
    /// The customer, dimension and hour were metered before.
    DuplicateRecord,
    /// The customer cannot use the product (not subscribed, unsubscribed, suspended).
    CustomerNotSubscribed,
    /// Not processed this time; send it again.
    Unprocessed,
}

/// The answer to one `BatchMeterUsage` call: one outcome per record sent, in order.
pub type BatchOutcome = Vec<RecordOutcome>;

/// What can go wrong talking to Marketplace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketplaceError {
    /// The registration token is not one Marketplace issued.
    #[error("the registration token is invalid")]
    InvalidToken,
    /// The registration token has expired.
    #[error("the registration token has expired")]
    ExpiredToken,
    /// Marketplace is throttling or briefly unavailable: retry later.
    #[error("AWS Marketplace is unavailable: {0}")]
    Unavailable(String),
    /// Marketplace refused the request as a whole (a timestamp out of range, an unknown
    /// dimension or product, …): sending it again will not help.
    #[error("AWS Marketplace refused the request: {0}")]
    Refused(String),
}

/// The Marketplace operations Vellocity uses.
#[async_trait]
pub trait Marketplace: Send + Sync {
    /// `ResolveCustomer`: who a registration token names.
    async fn resolve_customer(&self, token: &str) -> Result<ResolvedCustomer, MarketplaceError>;

    /// `BatchMeterUsage` for one product, with at most 25 records.
    async fn batch_meter_usage(
        &self,
        product_code: &str,
        records: &[UsageRecord],
    ) -> Result<BatchOutcome, MarketplaceError>;

    /// `GetEntitlements` for one customer of a product, read to the last page.
    async fn get_entitlements(
        &self,
        product_code: &str,
        customer: &EntitlementFilter,
    ) -> Result<Vec<Entitlement>, MarketplaceError>;
}

/// The most records one `BatchMeterUsage` call takes.
pub const MAX_BATCH_RECORDS: usize = 25;
