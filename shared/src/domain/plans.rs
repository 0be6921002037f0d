//! Plans: each gives a team its monthly credits and its limits (request rate and burst, daily
//! requests, executions running at once). The catalog is configuration: `VELLOCITY_PLANS`, a
//! JSON object of plan id → monthly credits (the plan's limits as in the defaults, or those of
//! `trial` for a plan the defaults do not name) or → an object
//! `{"credits", "requests_per_second", "burst", "requests_per_day", "concurrent_executions"}`
//! where any limit left out keeps that default. Every catalog has `trial`, the plan of new teams.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The plan every new team starts on.
pub const TRIAL: &str = "trial";

/// The plan of teams registered through AWS Marketplace (unless `MARKETPLACE_PLAN` names
/// another), whose usage Marketplace bills.
pub const MARKETPLACE: &str = "marketplace";

/// What a plan allows a team.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Credits granted each month.
    pub credits: i64,
    /// How fast and how much it may call the API, and run at once.
    pub limits: Limits,
}

/// A plan's limits. Requests over the rate or the daily quota are refused (429); executions
/// over the concurrency wait in `queued` until one running ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Sustained API requests per second.
    pub requests_per_second: u32,
    /// Requests a team that has been idle may send at once.
    pub burst: u32,
    /// API requests per UTC day.
    pub requests_per_day: u32,
    /// Executions running at once (one waiting for approval does not count).
    pub concurrent_executions: u32,
}

const fn limits(per_second: u32, burst: u32, per_day: u32, concurrent: u32) -> Limits {
    Limits {
        requests_per_second: per_second,
        burst,
        requests_per_day: per_day,
        concurrent_executions: concurrent,
    }
}

/// The default catalog: (id, monthly credits, limits).
const DEFAULTS: [(&str, i64, Limits); 5] = [
    (TRIAL, 200, limits(5, 20, 2_000, 2)),
    ("starter", 2_000, limits(10, 40, 20_000, 5)),
    ("growth", 10_000, limits(25, 100, 100_000, 10)),
    ("enterprise", 50_000, limits(100, 400, 1_000_000, 50)),
    (MARKETPLACE, 10_000, limits(25, 100, 100_000, 10)),
];

/// The plans by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plans(BTreeMap<String, Plan>);

impl Default for Plans {
    fn default() -> Self {
        Plans(
            DEFAULTS
                .iter()
                .map(|(id, credits, limits)| {
                    let plan = Plan {
                        credits: *credits,
                        limits: *limits,
                    };
                    ((*id).to_owned(), plan)
                })
                .collect(),
        )
    }
}

/// One plan as configured: its credits alone, or its credits and any limits to change.
#[derive(Deserialize)]
#[serde(untagged)]
enum Configured {
    Credits(i64),
    Detailed(Detailed),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Detailed {
    credits: i64,
    requests_per_second: Option<u32>,
    burst: Option<u32>,
    requests_per_day: Option<u32>,
    concurrent_executions: Option<u32>,
}

impl Plans {
    /// Reads a catalog such as `{"trial":200,"pro":{"credits":5000,"requests_per_second":50}}`.
    pub fn parse(json: &str) -> Result<Plans, String> {
        let configured: BTreeMap<String, Configured> = serde_json::from_str(json).map_err(|e| {
            format!(
                "plans are not a JSON object of plan → credits or {{\"credits\", limits…}}: {e}"
            )
        })?;
        if !configured.contains_key(TRIAL) {
            return Err("the plans must include `trial`, the plan of new teams".into());
        }
        let defaults = Plans::default();
        let mut plans = BTreeMap::new();
        for (id, configured) in configured {
            let base = defaults
                .0
                .get(&id)
                .or_else(|| defaults.0.get(TRIAL))
                .map(|p| p.limits)
                .unwrap_or(DEFAULTS[0].2);
            let plan = match configured {
                Configured::Credits(credits) => Plan {
                    credits,
                    limits: base,
                },
                Configured::Detailed(d) => Plan {
                    credits: d.credits,
                    limits: Limits {
                        requests_per_second: d
                            .requests_per_second
                            .unwrap_or(base.requests_per_second),
                        burst: d.burst.unwrap_or(base.burst),
                        requests_per_day: d.requests_per_day.unwrap_or(base.requests_per_day),
                        concurrent_executions: d
                            .concurrent_executions
                            .unwrap_or(base.concurrent_executions),
                    },
                },
            };
            check(&id, &plan)?;
            plans.insert(id, plan);
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
        self.0.get(plan).map(|p| p.credits)
    }

    /// The limits of a plan; a team on a plan the catalog no longer has gets `trial`'s.
    pub fn limits(&self, plan: &str) -> Limits {
        self.0
            .get(plan)
            .or_else(|| self.0.get(TRIAL))
            .map(|p| p.limits)
            .unwrap_or(DEFAULTS[0].2)
    }
}

fn check(id: &str, plan: &Plan) -> Result<(), String> {
    if plan.credits < 0 {
        return Err(format!("plan {id} has negative credits ({})", plan.credits));
    }
    let l = plan.limits;
    if l.requests_per_second == 0 || l.burst == 0 || l.requests_per_day == 0 {
        return Err(format!(
            "plan {id}: requests_per_second, burst and requests_per_day must be at least 1"
        ));
    }
    if l.requests_per_second > 100_000 {
        return Err(format!("plan {id}: requests_per_second is at most 100000"));
    }
    if l.concurrent_executions == 0 {
        return Err(format!(
            "plan {id}: concurrent_executions must be at least 1, or no execution would ever start"
        ));
    }
    Ok(())
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

    #[test]
    fn a_plan_given_as_credits_keeps_its_default_limits_and_an_object_changes_some() {
        let plans = Plans::parse(
            r#"{"trial": 50, "growth": {"credits": 9, "burst": 3, "concurrent_executions": 1}}"#,
        )
        .unwrap();
        assert_eq!(plans.limits(TRIAL), DEFAULTS[0].2);
        let growth = plans.limits("growth");
        assert_eq!((growth.burst, growth.concurrent_executions), (3, 1));
        assert_eq!(growth.requests_per_second, 25, "the default growth rate");
        assert_eq!(
            plans.limits("gone"),
            DEFAULTS[0].2,
            "an unknown plan gets trial's"
        );
    }

    #[test]
    fn limits_that_would_stop_a_team_entirely_are_refused() {
        assert!(Plans::parse(r#"{"trial": {"credits": 1, "burst": 0}}"#).is_err());
        assert!(Plans::parse(r#"{"trial": {"credits": 1, "concurrent_executions": 0}}"#).is_err());
        assert!(Plans::parse(r#"{"trial": {"credits": 1, "rate": 5}}"#).is_err());
    }
}
