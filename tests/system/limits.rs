//! Limits per plan: a team over its request rate or its daily quota is refused with 429,
//! `Retry-After` and the IETF RateLimit fields (read here with an independent Structured
//! Fields parser), every answer says where the team stands, and one team's flood refuses
//! nobody else.

use std::sync::Arc;

use serde_json::json;
use sfv::{BareItem, List, ListEntry, Parser};
use vellocity::ports::table::Table;

use crate::helpers::{Response, TestApp};

/// A plan catalog whose trial plan has these limits (and the Marketplace plan every catalog
/// of the local stack needs).
fn catalog(per_second: u32, burst: u32, per_day: u32) -> String {
    json!({
        "trial": {"credits": 200, "requests_per_second": per_second, "burst": burst,
                  "requests_per_day": per_day},
        "marketplace": 10_000,
    })
    .to_string()
}

/// A Structured Fields list of named policies: name → (parameter → integer).
fn policies(field: &str) -> Vec<(String, Vec<(String, i64)>)> {
    let list: List = Parser::new(field)
        .parse()
        .unwrap_or_else(|e| panic!("{field:?} is not a Structured Fields list: {e}"));
    list.iter()
        .map(|entry| {
            let ListEntry::Item(item) = entry else {
                panic!("{field:?}: a policy is an item, not an inner list")
            };
            let BareItem::String(name) = &item.bare_item else {
                panic!("{field:?}: a policy's name is a string")
            };
            let params = item
                .params
                .iter()
                .map(|(key, value)| {
                    let value = value.as_integer().expect("integer parameters");
                    (key.as_str().to_owned(), i64::from(value))
                })
                .collect();
            (name.as_str().to_owned(), params)
        })
        .collect()
}

fn standing(response: &Response) -> Vec<(String, Vec<(String, i64)>)> {
    policies(
        response
            .header("ratelimit")
            .expect("every answer carries RateLimit"),
    )
}

fn remaining(response: &Response, policy: &str) -> i64 {
    let standing = standing(response);
    let (_, params) = standing.iter().find(|(name, _)| name == policy).unwrap();
    params.iter().find(|(k, _)| k == "r").unwrap().1
}

#[tokio::test]
async fn every_answer_carries_the_plans_policies_and_the_teams_standing() {
    let app = TestApp::with_plans(&catalog(5, 20, 1_000));
    let team = app.create_team("Acme").await;
    let ok = app.get(&team.key, "/v1/team").await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        policies(ok.header("ratelimit-policy").unwrap()),
        [
            ("burst".into(), vec![("q".into(), 20), ("w".into(), 4)]),
            (
                "daily".into(),
                vec![("q".into(), 1_000), ("w".into(), 86_400)]
            ),
        ]
    );
    assert_eq!(remaining(&ok, "burst"), 19);
    assert_eq!(remaining(&ok, "daily"), 999);
    let refused = app.get(&team.key, "/v1/companies/cmp_nope").await;
    assert_eq!(refused.status, 404);
    assert_eq!(
        remaining(&refused, "daily"),
        998,
        "errors count and say so too"
    );
}

#[tokio::test]
async fn a_team_over_its_burst_is_refused_until_the_rate_gives_it_another_request() {
    over_the_burst(TestApp::with_plans(&catalog(2, 3, 1_000))).await;
}

#[tokio::test]
async fn a_team_over_its_burst_is_refused_on_dynamodb_local_too() {
    let table: Arc<dyn Table> = Arc::new(crate::dynamodb::fresh_table().await);
    over_the_burst(TestApp::with_table_and_plans(table, &catalog(2, 3, 1_000))).await;
}

/// Three requests of a burst of three, a refusal, and one more half a second later at two a
/// second.
async fn over_the_burst(app: TestApp) {
    let team = app.create_team("Acme").await;
    for left in [2, 1, 0] {
        let ok = app.get(&team.key, "/v1/team").await;
        assert_eq!((ok.status, remaining(&ok, "burst")), (200, left));
    }
    let refused = app.get(&team.key, "/v1/team").await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.code(), "rate_limited");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(remaining(&refused, "burst"), 0);
    assert_eq!(
        remaining(&refused, "daily"),
        997,
        "a refused request is not counted against the day"
    );
    // Half a second later (two a second) one request is admitted again.
    app.clock.advance(time::Duration::milliseconds(500));
    assert_eq!(app.get(&team.key, "/v1/team").await.status, 200);
    assert_eq!(app.get(&team.key, "/v1/team").await.status, 429);
}

#[tokio::test]
async fn the_daily_quota_refuses_until_utc_midnight() {
    let app = TestApp::with_plans(&catalog(100, 100, 3));
    let team = app.create_team("Acme").await;
    for _ in 0..3 {
        assert_eq!(app.get(&team.key, "/v1/team").await.status, 200);
    }
    let refused = app.get(&team.key, "/v1/team").await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.code(), "quota_exceeded");
    // The test clock stands at 12:00 UTC: twelve hours to midnight.
    assert_eq!(refused.header("retry-after"), Some("43200"));
    assert_eq!(remaining(&refused, "daily"), 0);
    app.clock.advance(time::Duration::hours(12));
    let tomorrow = app.get(&team.key, "/v1/team").await;
    assert_eq!(tomorrow.status, 200);
    assert_eq!(remaining(&tomorrow, "daily"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_team_flooding_refuses_none_of_another_teams_requests() {
    let app = Arc::new(TestApp::with_plans(&catalog(5, 10, 10_000)));
    let noisy = app.create_team("Noisy").await;
    let quiet = app.create_team("Quiet").await;
    let mut flood = Vec::new();
    for i in 0..208 {
        let app = app.clone();
        // Every 26th request is the quiet team's, in the middle of the flood.
        let key = if i % 26 == 0 {
            quiet.key.clone()
        } else {
            noisy.key.clone()
        };
        flood.push(tokio::spawn(async move {
            let answer = app.get(&key, "/v1/companies").await;
            (key, answer.status)
        }));
    }
    let (mut noisy_answers, mut quiet_answers) = (Vec::new(), Vec::new());
    for request in flood {
        let (key, status) = request.await.unwrap();
        if key == quiet.key {
            quiet_answers.push(status);
        } else {
            noisy_answers.push(status);
        }
    }
    assert_eq!(
        noisy_answers.iter().filter(|s| **s == 200).count(),
        10,
        "the noisy team gets its burst of 10 (the test clock stands still) and no more"
    );
    assert_eq!(quiet_answers, [200; 8], "the quiet team is never refused");
}
