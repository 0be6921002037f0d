//! Request limits per plan, kept in the table so every function (and the local stack) counts
//! the same: one item per team holds the rate's arrival time (see
//! [`crate::domain::rate_limit`]), one per team and UTC day the day's count. Each admitted
//! request costs two conditional writes; a refused one is refused by the first that fails.
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
    policy_field, seconds_to_midnight, standing_field, Bucket, Standing, BURST, DAILY, DAY_SECONDS,
};
use crate::domain::team::Team;
use crate::error::Error;
use crate::ports::table::{CompareOp, Condition, Key, TableError, Update, UpdateAction, TTL};
use crate::ports::usage_keys::UsageKey;

use super::items::{from_item, value_of};
use super::{keys, App};

/// The rate's item: the team's theoretical arrival time in epoch microseconds.
const RATE_SK: &str = "LIMIT#RATE";
/// The daily count's items: `LIMIT#DAY#<YYYY-MM-DD>`, removed by TTL a day after.
const DAY_PREFIX: &str = "LIMIT#DAY#";
const ARRIVAL: &str = "tat";
/// The team item's attribute holding its usage key.
const USAGE_KEY: &str = "usage_key";
const COUNT: &str = "count";

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

async fn count(
    app: &App,
    team: &TeamId,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<Counted, Error> {
    let now_us = (now.unix_timestamp_nanos() / 1_000) as i64;
    let bucket = Bucket::of(limits);
    let day_reset = seconds_to_midnight(now);
    let (burst, refusal) = match take_token(app, team, &bucket, now_us).await? {
        Ok(tat) => (
            Standing {
                policy: BURST,
                remaining: bucket.remaining(tat, now_us),
                reset: bucket.full_in(tat, now_us),
            },
            None,
        ),
        Err(tat) => (
            Standing {
                policy: BURST,
                remaining: 0,
                reset: bucket.full_in(tat, now_us),
            },
            Some((BURST, bucket.retry_after(tat, now_us))),
        ),
    };
    // A request the rate refused is not counted against the day.
    let daily = match refusal {
        Some(_) => day_standing(app, team, limits, now).await?,
        None => match count_today(app, team, limits, now).await? {
            Some(used) => Standing {
                policy: DAILY,
                remaining: u64::from(limits.requests_per_day).saturating_sub(used),
                reset: day_reset,
            },
            None => {
                return Ok(Counted {
                    policies: vec![
                        burst,
                        Standing {
                            policy: DAILY,
                            remaining: 0,
                            reset: day_reset,
                        },
                    ],
                    refusal: Some((DAILY, day_reset.max(1))),
                })
            }
        },
    };
    Ok(Counted {
        policies: vec![burst, daily],
        refusal,
    })
}

/// Takes one token: `Ok(new arrival time)`, or `Err(stored arrival time)` when none is left.
async fn take_token(
    app: &App,
    team: &TeamId,
    bucket: &Bucket,
    now_us: i64,
) -> Result<Result<i64, i64>, Error> {
    let key = Key::new(keys::team_partition(team), RATE_SK);
    // An idle bucket (arrival time passed): it restarts from now.
    let restart = Update {
        key: key.clone(),
        actions: vec![UpdateAction::Set(
            ARRIVAL.into(),
            (now_us + bucket.interval_us).into(),
        )],
        condition: Some(Condition::Or(vec![
            Condition::NotExists(ARRIVAL.into()),
            Condition::compare(ARRIVAL, CompareOp::Lt, now_us),
        ])),
    };
    match app.table.update(restart).await {
        Ok(_) => return Ok(Ok(now_us + bucket.interval_us)),
        Err(TableError::ConditionFailed) => {}
        Err(error) => return Err(error.into()),
    }
    // A busy one: one interval later, if that stays within the burst.
    let advance = Update {
        key: key.clone(),
        actions: vec![UpdateAction::Add(ARRIVAL.into(), bucket.interval_us)],
        condition: Some(Condition::compare(
            ARRIVAL,
            CompareOp::Le,
            bucket.latest_admissible(now_us),
        )),
    };
    match app.table.update(advance).await {
        Ok(item) => Ok(Ok(arrival_of(&item).unwrap_or(now_us))),
        Err(TableError::ConditionFailed) => {
            let stored = app.table.get(&key).await?;
            Ok(Err(stored.as_ref().and_then(arrival_of).unwrap_or(now_us)))
        }
        Err(error) => Err(error.into()),
    }
}

fn arrival_of(item: &crate::ports::table::Item) -> Option<i64> {
    item.get(ARRIVAL).and_then(|v| v.as_i64())
}

fn day_key(team: &TeamId, now: OffsetDateTime) -> Key {
    let day = now.date();
    Key::new(
        keys::team_partition(team),
        format!(
            "{DAY_PREFIX}{:04}-{:02}-{:02}",
            day.year(),
            u8::from(day.month()),
            day.day()
        ),
    )
}

/// Counts the request against today: `Some(requests today)`, or `None` when the quota is spent.
async fn count_today(
    app: &App,
    team: &TeamId,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<Option<u64>, Error> {
    let expires = now.unix_timestamp() + (seconds_to_midnight(now) + DAY_SECONDS) as i64;
    let update = Update {
        key: day_key(team, now),
        actions: vec![
            UpdateAction::Add(COUNT.into(), 1),
            UpdateAction::Set(TTL.into(), expires.into()),
        ],
        condition: Some(Condition::Or(vec![
            Condition::NotExists(COUNT.into()),
            Condition::compare(COUNT, CompareOp::Lt, i64::from(limits.requests_per_day)),
        ])),
    };
    match app.table.update(update).await {
        Ok(item) => Ok(Some(
            item.get(COUNT).and_then(|v| v.as_i64()).unwrap_or(1).max(0) as u64,
        )),
        Err(TableError::ConditionFailed) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Today's standing without counting a request.
async fn day_standing(
    app: &App,
    team: &TeamId,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<Standing, Error> {
    let used = app
        .table
        .get(&day_key(team, now))
        .await?
        .and_then(|item| item.get(COUNT).and_then(|v| v.as_i64()))
        .unwrap_or(0)
        .max(0) as u64;
    Ok(Standing {
        policy: DAILY,
        remaining: u64::from(limits.requests_per_day).saturating_sub(used),
        reset: seconds_to_midnight(now),
    })
}

/// The limits of the team's plan, the plan read at most once a minute per team and process.
pub async fn plan_limits(app: &App, team: &TeamId) -> Result<Limits, Error> {
    if let Some(plan) = app.team_plans.get(team) {
        return Ok(app.plans.limits(&plan));
    }
    let item = app
        .table
        .get(&keys::team(team))
        .await?
        .ok_or_else(|| Error::not_found("team"))?;
    let plan = from_item::<Team>(&item)?.plan;
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
    let item = app
        .table
        .get(&keys::team(team))
        .await?
        .ok_or_else(|| Error::not_found("team"))?;
    let TeamUsage { plan, usage_key } = from_item(&item)?;
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

/// What the team item says about its usage key.
#[derive(serde::Deserialize)]
struct TeamUsage {
    plan: String,
    #[serde(default)]
    usage_key: Option<UsageKey>,
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
