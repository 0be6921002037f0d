//! Plans and their monthly credits. The catalog is configuration: `VELLOCITY_PLANS` (JSON
//! object of plan id → monthly credits) replaces the defaults; every catalog has `trial`, the
//! plan of new teams.

use std::collections::BTreeMap;

/// The plan every new team starts on.
pub const TRIAL: &str = "trial";

/// The plan of teams registered through AWS Marketplace (unless `MARKETPLACE_PLAN` names
/// another), whose usage Marketplace bills.
pub const MARKETPLACE: &str = "marketplace";

/// The plans and their monthly credits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plans(BTreeMap<String, i64>);

impl Default for Plans {
    fn default() -> Self {
        let plans = [
            (TRIAL, 200),
            ("starter", 2_000),
            ("growth", 10_000),
            ("enterprise", 50_000),
            (MARKETPLACE, 10_000),
        ];
        Plans(
            plans
                .into_iter()
                .map(|(id, credits)| (id.to_owned(), credits))
                .collect(),
        )
    }
}

impl Plans {
    /// Reads a catalog from JSON such as `{"trial":200,"pro":5000}`.
    pub fn parse(json: &str) -> Result<Plans, String> {
        let plans: BTreeMap<String, i64> = serde_json::from_str(json)
            .map_err(|e| format!("plans are not a JSON object of plan → credits: {e}"))?;
        if !plans.contains_key(TRIAL) {
            return Err("the plans must include `trial`, the plan of new teams".into());
        }
        if let Some((id, credits)) = plans.iter().find(|(_, c)| **c < 0) {
            return Err(format!("plan {id} has negative credits ({credits})"));
        }
        Ok(Plans(plans))
    }

    /// The catalog from `VELLOCITY_PLANS`, or the defaults when it is unset.
    pub fn from_env() -> Result<Plans, String> {
        match std::env::var("VELLOCITY_PLANS") {
            Ok(json) if !json.trim().is_empty() => Plans::parse(&json),
            _ => Ok(Plans::default()),
        }
    }

    /// The monthly credits of a plan.
    pub fn monthly_credits(&self, plan: &str) -> Option<i64> {
        self.0.get(plan).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_needs_a_trial_plan_and_no_negative_credits() {
        assert_eq!(
            Plans::parse(r#"{"trial": 50, "pro": 900}"#)
                .unwrap()
                .monthly_credits("pro"),
            Some(900)
        );
        assert!(Plans::parse(r#"{"pro": 900}"#).is_err());
        assert!(Plans::parse(r#"{"trial": -1}"#).is_err());
        assert!(Plans::parse("[]").is_err());
        assert_eq!(Plans::default().monthly_credits(TRIAL), Some(200));
    }
}
