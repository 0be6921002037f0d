//! A plan's request limits as arithmetic, and as the IETF RateLimit header fields
//! (draft-ietf-httpapi-ratelimit-headers-11) that tell a client where it stands.
//!
//! The rate is a token bucket kept as one number, its *theoretical arrival time* (GCRA): each
//! admitted request moves it one interval (1 s ÷ rate) later, and a request is admitted while
//! that time is at most `burst − 1` intervals ahead of now. So an idle team may send `burst`
//! requests at once and then `rate` a second. The daily quota is a count per UTC day.

use time::OffsetDateTime;

use super::plans::Limits;

/// The policy name of the rate and burst.
pub const BURST: &str = "burst";
/// The policy name of the daily quota.
pub const DAILY: &str = "daily";

/// Seconds in the daily quota's window.
pub const DAY_SECONDS: u64 = 86_400;

/// The token bucket of a plan, in microseconds (fine enough that 1,000 requests a second
/// are 1,000, not rounded to another rate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Microseconds one request uses up.
    pub interval_us: i64,
    /// Requests an idle team may send at once.
    pub capacity: i64,
}

impl Bucket {
    /// The bucket of `limits`.
    pub fn of(limits: &Limits) -> Bucket {
        Bucket {
            interval_us: (1_000_000 / i64::from(limits.requests_per_second.max(1))).max(1),
            capacity: i64::from(limits.burst.max(1)),
        }
    }

    /// The latest stored arrival time at which a request at `now_us` is still admitted.
    pub fn latest_admissible(&self, now_us: i64) -> i64 {
        now_us + (self.capacity - 1) * self.interval_us
    }

    /// Requests left right after the arrival time became `tat_us`.
    pub fn remaining(&self, tat_us: i64, now_us: i64) -> u64 {
        let left = (now_us + self.capacity * self.interval_us - tat_us) / self.interval_us;
        left.clamp(0, self.capacity) as u64
    }

    /// Whole seconds until the bucket is full again.
    pub fn full_in(&self, tat_us: i64, now_us: i64) -> u64 {
        ceil_seconds(tat_us - now_us)
    }

    /// Whole seconds (at least 1) until a refused request would be admitted.
    pub fn retry_after(&self, tat_us: i64, now_us: i64) -> u64 {
        ceil_seconds(tat_us - self.latest_admissible(now_us)).max(1)
    }

    /// The window the policy advertises: how long a full burst takes to come back.
    pub fn window_seconds(&self) -> u64 {
        ceil_seconds(self.capacity * self.interval_us).max(1)
    }
}

fn ceil_seconds(us: i64) -> u64 {
    (us.max(0) as u64).div_ceil(1_000_000)
}

/// Seconds until the next UTC midnight, when the daily quota starts again.
pub fn seconds_to_midnight(now: OffsetDateTime) -> u64 {
    let elapsed =
        u64::from(now.hour()) * 3_600 + u64::from(now.minute()) * 60 + u64::from(now.second());
    DAY_SECONDS - elapsed
}

/// Where a team stands against one policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// [`BURST`] or [`DAILY`].
    pub policy: &'static str,
    /// Requests left.
    pub remaining: u64,
    /// Seconds until the policy's window resets.
    pub reset: u64,
}

/// `RateLimit-Policy`: the plan's policies, as a Structured Fields list of strings with their
/// quota (`q`) and window in seconds (`w`).
pub fn policy_field(limits: &Limits) -> String {
    let bucket = Bucket::of(limits);
    format!(
        "\"{BURST}\";q={};w={}, \"{DAILY}\";q={};w={DAY_SECONDS}",
        bucket.capacity,
        bucket.window_seconds(),
        limits.requests_per_day
    )
}

/// `RateLimit`: what is left of each policy (`r`) and when it resets (`t`).
pub fn standing_field(standings: &[Standing]) -> String {
    standings
        .iter()
        .map(|s| format!("\"{}\";r={};t={}", s.policy, s.remaining, s.reset))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: u32, burst: u32) -> Limits {
        Limits {
            requests_per_second: per_second,
            burst,
            requests_per_day: 1_000,
            concurrent_executions: 1,
        }
    }

    /// Runs requests at the given times through the bucket; true where admitted.
    fn admitted(bucket: Bucket, times: &[i64]) -> Vec<bool> {
        let mut tat = i64::MIN / 2;
        times
            .iter()
            .map(|&now| {
                if tat.max(now) <= bucket.latest_admissible(now) {
                    tat = tat.max(now) + bucket.interval_us;
                    true
                } else {
                    false
                }
            })
            .collect()
    }

    #[test]
    fn an_idle_team_sends_its_burst_at_once_then_the_rate() {
        let bucket = Bucket::of(&limits(2, 3));
        assert_eq!(
            admitted(
                bucket,
                &[0, 0, 0, 0, 499_999, 500_000, 1_000_000, 1_000_000]
            ),
            [true, true, true, false, false, true, true, false]
        );
    }

    #[test]
    fn remaining_and_retry_after_follow_the_arrival_time() {
        let bucket = Bucket::of(&limits(2, 3));
        assert_eq!(bucket.remaining(500_000, 0), 2);
        assert_eq!(bucket.remaining(1_500_000, 0), 0);
        assert_eq!(bucket.retry_after(1_500_000, 0), 1);
        assert_eq!(bucket.full_in(1_500_000, 0), 2);
        assert_eq!(bucket.window_seconds(), 2);
    }

    #[test]
    fn a_high_rate_is_the_rate_not_a_rounded_one() {
        let bucket = Bucket::of(&limits(400, 1));
        let every = |us: i64, n: i64| -> usize {
            let times: Vec<i64> = (0..n).map(|i| i * us).collect();
            admitted(bucket, &times).into_iter().filter(|a| *a).count()
        };
        assert_eq!(every(2_500, 400), 400, "400 a second pass");
        assert!(
            every(2_000, 500) < 500,
            "500 a second do not (2 ms would let them)"
        );
    }

    #[test]
    fn the_fields_use_the_draft_11_syntax() {
        let l = limits(5, 20);
        assert_eq!(
            policy_field(&l),
            "\"burst\";q=20;w=4, \"daily\";q=1000;w=86400"
        );
        let standing = [
            Standing {
                policy: BURST,
                remaining: 19,
                reset: 1,
            },
            Standing {
                policy: DAILY,
                remaining: 999,
                reset: 3_600,
            },
        ];
        assert_eq!(
            standing_field(&standing),
            "\"burst\";r=19;t=1, \"daily\";r=999;t=3600"
        );
    }

    #[test]
    fn the_daily_window_ends_at_utc_midnight() {
        let now = time::macros::datetime!(2026-12-02 23:59:30 UTC);
        assert_eq!(seconds_to_midnight(now), 30);
    }
}
