//! Request limits per plan, kept in the table so every function (and the local stack) counts
//! the same: one item per team holds the rate's arrival time (see
//! [`crate::domain::rate_limit`]) and the UTC day's count. An admitted request costs one
//! conditional write when the team was idle, two when it was busy (the first try fails); a
//! refused one up to four and a read.
//!
//! A limiter that cannot reach the table lets the request through (and says so in the log):
//! the limits protect the service, and refusing everybody because the counters are unreachable
//! would be worse than counting a few requests less.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::domain::ids::TeamId;
use crate::domain::plans::Limits;
use crate::domain::rate_limit::{
    policy_field, seconds_to_midnight, standing_field, Bucket, Standing, BURST, DAILY,
};
use crate::error::Error;
use crate::ports::table::{CompareOp, Condition, Key, TableError, Update, UpdateAction};
use crate::ports::usage_keys::UsageKey;

use super::items::{from_item, value_of};
use super::{keys, App};

/// The team's limits item: the rate's arrival time (epoch µs) and the UTC day's count.
const LIMITS_SK: &str = "LIMIT#REQUESTS";
const ARRIVAL: &str = "tat";
const DAY: &str = "day";
const COUNT: &str = "count";
/// The team item's attribute holding its usage key.
const USAGE_KEY: &str = "usage_key";

/// How long a team's plan is remembered between requests: a plan change reaches the limits
/// within this time.
const PLAN_TTL: Duration = Duration::from_secs(60);

/// What the limiter decided for one request, and the header fields every answer carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    /// `RateLimit-Policy` and `RateLimit`, when the counters could be read.
    pub headers: Vec<(&'static str, String)>,
    /// The refusal (429), if the request is over a limit.
    pub refused: Option<Error>,
}

/// Counts one request of `team` against its plan's limits.
pub async fn admit(app: &App, team: &TeamId) -> Admission {
    let limits = match plan_limits(app, team).await {
        Ok(limits) => limits,
        Err(error) => return let_through(error),
    };
    let now = app.clock.now();
    let standing = match count(app, team, &limits, now).await {
        Ok(standing) => standing,
        Err(error) => return let_through(error),
    };
    let refused = standing
        .refusal
        .map(|(policy, retry_after)| Error::RateLimited {
            policy,
            retry_after,
        });
    Admission {
        headers: vec![
            ("ratelimit-policy", policy_field(&limits)),
            ("ratelimit", standing_field(&standing.policies)),
        ],
        refused,
    }
}

fn let_through(error: Error) -> Admission {
    tracing::warn!(%error, "the request limits could not be counted; letting the request through");
    Admission {
        headers: Vec::new(),
        refused: None,
    }
}

struct Counted {
    policies: Vec<Standing>,
    /// The policy that refused the request and the seconds to wait.
    refusal: Option<(&'static str, u64)>,
}

/// Counts one request with one conditional write on the team's limits item, which holds the
/// rate's arrival time (`tat`, epoch µs) and the day's count (`count` of `day`). The write is
/// tried for the likely case first: the same day with an idle, then a busy bucket; then a new
/// day (the first request of a UTC day restarts its count). When none holds, the request is
/// over a limit, and the item says which.
async fn count(
    app: &App,
    team: &TeamId,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<Counted, Error> {
    let now_us = (now.unix_timestamp_nanos() / 1_000) as i64;
    let bucket = Bucket::of(limits);
    let today = day_of(now);
    let day_reset = seconds_to_midnight(now);
    let quota = i64::from(limits.requests_per_day);
    let next_arrival = now_us + bucket.interval_us;
    let idle = Condition::Or(vec![
        Condition::NotExists(ARRIVAL.into()),
        Condition::compare(ARRIVAL, CompareOp::Lt, now_us),
    ]);
    let busy = Condition::compare(ARRIVAL, CompareOp::Le, bucket.latest_admissible(now_us));
    let same_day = Condition::And(vec![
        Condition::eq(DAY, today.as_str()),
        Condition::compare(COUNT, CompareOp::Lt, quota),
    ]);
    let new_day = Condition::Or(vec![
        Condition::NotExists(DAY.into()),
        Condition::compare(DAY, CompareOp::Ne, today.as_str()),
    ]);
    let restart = || UpdateAction::Set(ARRIVAL.into(), next_arrival.into());
    let advance = || UpdateAction::Add(ARRIVAL.into(), bucket.interval_us);
    let one_more = || UpdateAction::Add(COUNT.into(), 1);
    let first_of_day = || {
        vec![
            UpdateAction::Set(DAY.into(), today.as_str().into()),
            UpdateAction::Set(COUNT.into(), 1.into()),
        ]
    };
    let attempts = [
        (
            Condition::And(vec![same_day.clone(), idle.clone()]),
            vec![restart(), one_more()],
        ),
        (
            Condition::And(vec![same_day, busy.clone()]),
            vec![advance(), one_more()],
        ),
        (
            Condition::And(vec![new_day.clone(), idle]),
            [first_of_day(), vec![restart()]].concat(),
        ),
        (
            Condition::And(vec![new_day, busy]),
            [first_of_day(), vec![advance()]].concat(),
        ),
    ];
    let key = Key::new(keys::team_partition(team), LIMITS_SK);
    for (condition, actions) in attempts {
        let update = Update {
            key: key.clone(),
            actions,
            condition: Some(condition),
        };
        match app.table.update(update).await {
            Ok(item) => {
                let tat = number(&item, ARRIVAL).unwrap_or(next_arrival);
                let used = number(&item, COUNT).unwrap_or(1);
                return Ok(Counted {
                    policies: vec![
                        Standing {
                            policy: BURST,
                            remaining: bucket.remaining(tat, now_us),
                            reset: bucket.full_in(tat, now_us),
                        },
                        Standing {
                            policy: DAILY,
                            remaining: (quota - used).max(0) as u64,
                            reset: day_reset,
                        },
                    ],
                    refusal: None,
                });
            }
            Err(TableError::ConditionFailed) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    // Over a limit: the day's quota if it is spent, else the rate.
    let item = app.table.get(&key).await?.unwrap_or_default();
    let tat = number(&item, ARRIVAL).unwrap_or(now_us);
    let used_today = match item.get(DAY).and_then(|d| d.as_str()) {
        Some(day) if day == today => number(&item, COUNT).unwrap_or(0),
        _ => 0,
    };
    let (refusal, burst_left) = match used_today >= quota {
        true => ((DAILY, day_reset.max(1)), bucket.remaining(tat, now_us)),
        false => ((BURST, bucket.retry_after(tat, now_us)), 0),
    };
    Ok(Counted {
        policies: vec![
            Standing {
                policy: BURST,
                remaining: burst_left,
                reset: bucket.full_in(tat, now_us),
            },
            Standing {
                policy: DAILY,
                remaining: (quota - used_today).max(0) as u64,
                reset: day_reset,
            },
        ],
        refusal: Some(refusal),
    })
}

fn number(item: &crate::ports::table::Item, attribute: &str) -> Option<i64> {
    item.get(attribute).and_then(|v| v.as_i64())
}

/// A UTC day as the item names it, `YYYY-MM-DD`.
fn day_of(now: OffsetDateTime) -> String {
    let day = now.date();
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The limits of the team's plan, the plan read at most once a minute per team and process.
pub async fn plan_limits(app: &App, team: &TeamId) -> Result<Limits, Error> {
    if let Some(plan) = app.team_plans.get(team) {
        return Ok(app.plans.limits(&plan));
    }
    let plan = read_plan(app, team).await?.plan;
    let limits = app.plans.limits(&plan);
    app.team_plans.remember(team, plan);
    Ok(limits)
}

/// The team's key in the usage plan of its plan (placed there first if it is not), for the
/// authorizer to name as the request's `usageIdentifierKey`; `None` without usage plans. A
/// key that cannot be placed right now leaves the request under the shared fallback key.
pub async fn usage_key(app: &App, team: &TeamId) -> Result<Option<String>, Error> {
    let Some(usage_keys) = &app.usage_keys else {
        return Ok(None);
    };
    let TeamPlan { plan, usage_key } = read_plan(app, team).await?;
    if let Some(key) = usage_key.as_ref().filter(|k| k.plan == plan) {
        return Ok(Some(key.value.clone()));
    }
    let placed = match usage_keys.place(team, &plan, usage_key.as_ref()).await {
        Ok(placed) => placed,
        Err(error) => {
            tracing::warn!(%error, team_id = %team, "placing the team's usage key failed; its requests go under the shared key until the next one succeeds");
            return Ok(Some(usage_keys.fallback().to_owned()));
        }
    };
    let remembered = app
        .table
        .update(Update {
            key: keys::team(team),
            actions: vec![UpdateAction::Set(USAGE_KEY.into(), value_of(&placed)?)],
            condition: Some(Condition::item_exists()),
        })
        .await;
    if let Err(error) = remembered {
        tracing::warn!(%error, team_id = %team, "remembering the team's usage key failed; the next request places it again");
    }
    Ok(Some(placed.value))
}

/// What the team item says of its plan and its usage key.
#[derive(serde::Deserialize)]
struct TeamPlan {
    plan: String,
    #[serde(default)]
    usage_key: Option<UsageKey>,
}

async fn read_plan(app: &App, team: &TeamId) -> Result<TeamPlan, Error> {
    let item = app
        .table
        .get(&keys::team(team))
        .await?
        .ok_or_else(|| Error::not_found("team"))?;
    from_item(&item)
}

/// Each team's plan as last read, for [`PLAN_TTL`].
#[derive(Debug, Default)]
pub struct TeamPlans(Mutex<HashMap<TeamId, (String, Instant)>>);

impl TeamPlans {
    fn get(&self, team: &TeamId) -> Option<String> {
        let plans = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        plans
            .get(team)
            .filter(|(_, read)| read.elapsed() < PLAN_TTL)
            .map(|(plan, _)| plan.clone())
    }

    fn remember(&self, team: &TeamId, plan: String) {
        let mut plans = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if plans.len() > 10_000 {
            plans.retain(|_, (_, read)| read.elapsed() < PLAN_TTL);
        }
        plans.insert(team.clone(), (plan, Instant::now()));
    }
}
