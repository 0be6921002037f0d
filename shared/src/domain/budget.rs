//! Budgets: a team's monthly limit in money or credits, the thresholds worth telling, and
//! whether work that would pass the limit is refused; and what each piece of work commits
//! against its month until it settles.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::ids::UserId;
use super::validation::FieldErrors;

/// Thresholds when none are given, in percent of the limit.
pub const DEFAULT_THRESHOLDS: [u32; 3] = [50, 80, 100];
/// The largest limit accepted (a trillion micro-dollars, a million dollars; or credits).
pub const LIMIT_MAX: i64 = 1_000_000_000_000;

/// A team's monthly budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// The most the team means to spend in a month, in micro-dollars at the catalog's prices.
    #[serde(default)]
    pub limit_micro_usd: Option<i64>,
    /// The most credits the team means to use in a month.
    #[serde(default)]
    pub credit_limit: Option<i64>,
    /// Percentages of the limit whose crossing is recorded (once per month each).
    pub thresholds: Vec<u32>,
    /// Whether work whose reservation would pass a limit is refused.
    pub hard_stop: bool,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            limit_micro_usd: None,
            credit_limit: None,
            thresholds: DEFAULT_THRESHOLDS.to_vec(),
            hard_stop: false,
        }
    }
}

/// `PUT /v1/budget`: the whole budget (what is left out takes its default).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetRequest {
    /// Monthly money limit (micro-dollars), or null for none.
    #[serde(default)]
    pub limit_micro_usd: Option<i64>,
    /// Monthly credit limit, or null for none.
    #[serde(default)]
    pub credit_limit: Option<i64>,
    /// Threshold percentages (default 50, 80, 100).
    #[serde(default)]
    pub thresholds: Option<Vec<u32>>,
    /// Refuse work that would pass a limit (default false).
    #[serde(default)]
    pub hard_stop: bool,
}

impl BudgetRequest {
    /// The budget it sets, or every problem found.
    pub fn validate(self) -> Result<Budget, FieldErrors> {
        let mut errors = FieldErrors::default();
        for (field, limit) in [
            ("limit_micro_usd", self.limit_micro_usd),
            ("credit_limit", self.credit_limit),
        ] {
            if limit.is_some_and(|l| !(1..=LIMIT_MAX).contains(&l)) {
                errors.add(field, format!("must be between 1 and {LIMIT_MAX}, or null"));
            }
        }
        let mut thresholds = self
            .thresholds
            .unwrap_or_else(|| DEFAULT_THRESHOLDS.to_vec());
        if thresholds.len() > 10 || thresholds.iter().any(|t| !(1..=1_000).contains(t)) {
            errors.add(
                "thresholds",
                "give at most 10 percentages, each from 1 to 1000",
            );
        }
        thresholds.sort_unstable();
        thresholds.dedup();
        if self.hard_stop && self.limit_micro_usd.is_none() && self.credit_limit.is_none() {
            errors.add(
                "hard_stop",
                "needs a limit: set limit_micro_usd or credit_limit",
            );
        }
        errors.finish(Budget {
            limit_micro_usd: self.limit_micro_usd,
            credit_limit: self.credit_limit,
            thresholds,
            hard_stop: self.hard_stop,
        })
    }
}

impl Budget {
    /// How far into its limits a month's spending is, in whole percent (the larger of money
    /// and credits); `None` without a limit.
    pub fn percent_used(&self, spent_micro_usd: i64, credits_used: i64) -> Option<i64> {
        let money = self.limit_micro_usd.map(|l| spent_micro_usd * 100 / l);
        let credits = self.credit_limit.map(|l| credits_used * 100 / l);
        money.into_iter().chain(credits).max()
    }
}

/// What a piece of work commits against its month's budget and its member's limit until it
/// settles: its reserved credits and the most it may cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// The month it was reserved in (`YYYY-MM`, UTC).
    pub month: String,
    /// The member whose limit it counts against.
    pub member: UserId,
    /// Credits reserved.
    pub credits: i64,
    /// The most it may cost, in micro-dollars.
    pub micro_usd: i64,
}

/// A member's monthly credit limit change: absent leaves it, null removes it.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_is_checked_as_a_whole() {
        let request = |json| {
            serde_json::from_value::<BudgetRequest>(json)
                .unwrap()
                .validate()
        };
        let ok =
            request(serde_json::json!({"credit_limit": 100, "thresholds": [80, 50, 80]})).unwrap();
        assert_eq!(ok.thresholds, [50, 80]);
        let refused = request(
            serde_json::json!({"limit_micro_usd": 0, "thresholds": [0], "hard_stop": true}),
        )
        .unwrap_err()
        .into_vec();
        let fields: Vec<_> = refused.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["limit_micro_usd", "thresholds"]);
        let no_limit = request(serde_json::json!({"hard_stop": true}))
            .unwrap_err()
            .into_vec();
        assert_eq!(no_limit[0].field, "hard_stop");
    }

    #[test]
    fn percent_used_is_the_larger_of_money_and_credits() {
        let budget = Budget {
            limit_micro_usd: Some(1_000),
            credit_limit: Some(10),
            ..Budget::default()
        };
        assert_eq!(budget.percent_used(500, 9), Some(90));
        assert_eq!(Budget::default().percent_used(500, 9), None);
    }
}
