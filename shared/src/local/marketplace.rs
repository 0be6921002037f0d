//! A local stand-in for AWS Marketplace, for the local stack: it resolves registration tokens
//! it minted itself (`vellocity-local marketplace-token`) and accepts usage records the way
//! the Metering service does (the same record twice is one record; another quantity for the
//! same customer, dimension and hour is a `DuplicateRecord`). No entitlements.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::ports::marketplace::{
    BatchOutcome, Entitlement, EntitlementFilter, Marketplace, MarketplaceError, MeteredCustomer,
    RecordOutcome, ResolvedCustomer, UsageRecord,
};

const TOKEN_PREFIX: &str = "local-mp.";

/// What the stand-in remembers of one metered record.
type MeteredKey = (String, MeteredCustomer, String, i64);

/// The stand-in.
#[derive(Default)]
pub struct LocalMarketplace {
    metered: Mutex<HashMap<MeteredKey, i32>>,
}

impl LocalMarketplace {
    /// A registration token for a buyer of `product_code` in `aws_account_id`, as Marketplace
    /// would post it to the fulfillment URL.
    pub fn token(product_code: &str, aws_account_id: &str) -> String {
        let claims =
            serde_json::json!({"product_code": product_code, "aws_account_id": aws_account_id});
        format!(
            "{TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }
}

#[async_trait]
impl Marketplace for LocalMarketplace {
    async fn resolve_customer(&self, token: &str) -> Result<ResolvedCustomer, MarketplaceError> {
        let claims: serde_json::Value = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(MarketplaceError::InvalidToken)?;
        let field = |name: &str| claims[name].as_str().map(str::to_owned);
        let (Some(product_code), Some(account)) = (field("product_code"), field("aws_account_id"))
        else {
            return Err(MarketplaceError::InvalidToken);
        };
        Ok(ResolvedCustomer {
            license_arn: Some(format!(
                "arn:aws:license-manager::{account}:license:l-local{product_code}"
            )),
            product_code,
            aws_account_id: Some(account),
            customer_identifier: None,
        })
    }

    async fn batch_meter_usage(
        &self,
        product_code: &str,
        records: &[UsageRecord],
    ) -> Result<BatchOutcome, MarketplaceError> {
        let mut metered = self.metered.lock().unwrap_or_else(|p| p.into_inner());
        Ok(records
            .iter()
            .map(|r| {
                let key = (
                    product_code.to_owned(),
                    r.customer.clone(),
                    r.dimension.clone(),
                    r.timestamp.unix_timestamp(),
                );
                match metered.get(&key) {
                    Some(q) if *q != r.quantity => RecordOutcome::DuplicateRecord,
                    _ => {
                        metered.insert(key, r.quantity);
                        RecordOutcome::Success(Some(format!("local-{}", ulid::Ulid::new())))
                    }
                }
            })
            .collect())
    }

    async fn get_entitlements(
        &self,
        _product_code: &str,
        _customer: &EntitlementFilter,
    ) -> Result<Vec<Entitlement>, MarketplaceError> {
        Ok(Vec::new())
    }
}
