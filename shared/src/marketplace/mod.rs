//! AWS Marketplace SaaS integration: the stored customers, fulfillment and registration (and
//! their pages), subscription events (SNS via SQS, EventBridge) and hourly metering. (The
//! rule that only an active subscription starts executions lives where executions start.)

pub mod customers;
pub mod events;
pub mod fulfillment;
pub mod metering;
pub mod pages;
pub mod reference;
pub mod registration;
pub mod subscriptions;

use crate::domain::marketplace::{Dimensions, LegacyProducts};
use crate::domain::plans::{Plans, MARKETPLACE};
use reference::SigningKey;

/// How this deployment sells on Marketplace, read once at cold start.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Products whose customers are identified by the legacy `CustomerIdentifier`
    /// (`MARKETPLACE_LEGACY_PRODUCT_CODES`, comma-separated).
    pub legacy_products: LegacyProducts,
    /// Dimension → usage measure (`MARKETPLACE_DIMENSIONS`).
    pub dimensions: Dimensions,
    /// Signs registration references (`MARKETPLACE_REFERENCE_SECRET`).
    pub signing_key: SigningKey,
    /// The plan registered teams start on (`MARKETPLACE_PLAN`, default `marketplace`).
    pub plan: String,
}

impl Settings {
    /// Reads the settings. References are signed with `MARKETPLACE_REFERENCE_SECRET`, which
    /// the deployed pages share and so must have (`shared_secret`); elsewhere, without it, with
    /// a random key of this process (the local stack, whose references need not outlive it).
    pub fn from_env(plans: &Plans, shared_secret: bool) -> Result<Settings, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let plan = var("MARKETPLACE_PLAN").unwrap_or_else(|| MARKETPLACE.to_owned());
        if plans.monthly_credits(&plan).is_none() {
            return Err(format!(
                "MARKETPLACE_PLAN {plan} is not in the plan catalog"
            ));
        }
        let signing_key = match var("MARKETPLACE_REFERENCE_SECRET") {
            Some(secret) if secret.len() >= 32 => SigningKey::new(secret),
            Some(_) => {
                return Err("MARKETPLACE_REFERENCE_SECRET must be at least 32 characters".into())
            }
            None if shared_secret => {
                return Err("environment variable MARKETPLACE_REFERENCE_SECRET must be set".into())
            }
            None => SigningKey::random()?,
        };
        Ok(Settings {
            legacy_products: LegacyProducts::parse(
                &var("MARKETPLACE_LEGACY_PRODUCT_CODES").unwrap_or_default(),
            ),
            dimensions: Dimensions::from_env()?,
            signing_key,
            plan,
        })
    }
}
