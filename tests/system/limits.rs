//! Limits per plan: a team over its request rate or its daily quota is refused with 429,
//! `Retry-After` and the IETF RateLimit fields (read here with an independent Structured
//! Fields parser), every answer says where the team stands, and one team's flood refuses
//! nobody else; executions over the plan's concurrency wait in `queued` and start oldest
//! first as slots free, and one waiting for approval holds none.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sfv::{BareItem, List, ListEntry, Parser};
use vellocity::api::authorizer;
use vellocity::app::App;
use vellocity::domain::ids::TeamId;
use vellocity::domain::plans::Plans;
use vellocity::local::table::EmbeddedTable;
use vellocity::ports::table::{Index, Key, Query, Table, Update, UpdateAction};
use vellocity::ports::usage_keys::{UsageKey, UsageKeyError, UsageKeys};
use vellocity_local::SlowModel;

use crate::events::events_of;
use crate::helpers::{Response, TestApp, TestTeam};

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

/// A plan catalog whose trial plan runs `concurrent` executions at once (its request limits
/// out of reach), on a model that takes 150 ms a call so executions overlap.
fn concurrency_app(concurrent: u32) -> TestApp {
    concurrency_app_on(Arc::new(EmbeddedTable::in_memory()), concurrent)
}

fn concurrency_app_on(table: Arc<dyn Table>, concurrent: u32) -> TestApp {
    let catalog = json!({
        "trial": {"credits": 200, "requests_per_second": 1000, "burst": 1_000_000,
                  "requests_per_day": 100_000_000, "concurrent_executions": concurrent},
        "marketplace": 10_000,
    });
    let plans = Arc::new(Plans::parse(&catalog.to_string()).unwrap());
    let slow = Arc::new(SlowModel(Duration::from_millis(150)));
    TestApp::with_ports(table, |app| App {
        plans,
        llm: slow.clone(),
        images: slow,
        ..app
    })
}

/// When each execution of `ids` started and ended, as positions in the team's event order.
async fn spans(app: &TestApp, team: &TestTeam, ids: &[String]) -> Vec<(usize, usize)> {
    let events = events_of(app, team).await;
    let at = |id: &str, types: &[&str]| {
        events
            .iter()
            .position(|(kind, e)| types.contains(&kind.as_str()) && e["data"]["execution_id"] == id)
            .unwrap_or_else(|| panic!("{id} has none of {types:?}"))
    };
    ids.iter()
        .map(|id| {
            let started = at(id, &["execution.started"]);
            let ended = at(
                id,
                &[
                    "execution.succeeded",
                    "execution.failed",
                    "execution.cancelled",
                ],
            );
            (started, ended)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_over_the_plans_concurrency_wait_queued_and_start_oldest_first() {
    one_at_a_time_oldest_first(concurrency_app(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_over_the_plans_concurrency_wait_on_dynamodb_local_too() {
    let table: Arc<dyn Table> = Arc::new(crate::dynamodb::fresh_table().await);
    one_at_a_time_oldest_first(concurrency_app_on(table, 1)).await;
}

/// Three executions on a plan running one at a time: accepted, queued, run in order.
async fn one_at_a_time_oldest_first(app: TestApp) {
    let team = app.create_team("Acme").await;
    let agent = app.summary_agent(&team.key).await;
    // Over the concurrency each is accepted (202), not refused.
    let ids = app
        .start_each(&team.key, &agent, &["First", "Second", "Third"])
        .await;
    let third = app
        .get(&team.key, &format!("/v1/executions/{}", ids[2]))
        .await;
    assert_eq!(
        third.body["status"], "queued",
        "the third waits while the first runs"
    );
    for id in &ids {
        assert_eq!(
            app.wait_for(&team.key, id, "succeeded").await.body["status"],
            "succeeded"
        );
    }
    let spans = spans(&app, &team, &ids).await;
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 < pair[1].0,
            "one at a time, oldest first: {spans:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_waiting_for_approval_holds_no_slot() {
    let app = concurrency_app(1);
    let team = app.create_team("Acme").await;
    let careful = app
        .post_agent(
            &team.key,
            json!({"name": "Careful", "allowed_capabilities": ["summarize"], "requires_approval": true}),
        )
        .await;
    let writer = app.summary_agent(&team.key).await;
    let waiting = app
        .start_execution(&team.key, &careful, json!({"request": "Plan first"}))
        .await;
    let waiting = waiting.body["id"].as_str().unwrap().to_owned();
    let parked = app.wait_for(&team.key, &waiting, "awaiting_approval").await;
    assert_eq!(parked.body["status"], "awaiting_approval");
    let other = app
        .start_execution(&team.key, &writer, json!({"request": "Meanwhile"}))
        .await;
    let other = other.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.wait_for(&team.key, &other, "succeeded").await.body["status"],
        "succeeded",
        "the slot of the execution waiting for approval went to the next one"
    );
    let approved = app
        .post(
            &team.key,
            &format!("/v1/executions/{waiting}/approval"),
            json!({"approved": true}),
        )
        .await;
    assert_eq!(approved.status, 200);
    assert_eq!(
        app.wait_for(&team.key, &waiting, "succeeded").await.body["status"],
        "succeeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_execution_cancelled_gives_its_turn_to_the_next() {
    let app = concurrency_app(1);
    let team = app.create_team("Acme").await;
    let agent = app.summary_agent(&team.key).await;
    let ids = app
        .start_each(&team.key, &agent, &["First", "Second", "Third"])
        .await;
    let cancelled = app
        .post(
            &team.key,
            &format!("/v1/executions/{}/cancel", ids[1]),
            json!({}),
        )
        .await;
    assert_eq!(
        (cancelled.status, cancelled.body["status"].as_str()),
        (200, Some("cancelled"))
    );
    assert_eq!(cancelled.body["credits"]["used"], 0, "it never ran");
    for id in [&ids[0], &ids[2]] {
        assert_eq!(
            app.wait_for(&team.key, id, "succeeded").await.body["status"],
            "succeeded"
        );
    }
    let running = running_slots(&app, &team).await;
    assert_eq!(running, 0, "every slot was given back");
    assert_eq!(
        waiting_entries(&app, &team).await,
        0,
        "and nobody is left waiting"
    );
}

/// The team's taken slots, as the table counts them.
async fn running_slots(app: &TestApp, team: &TestTeam) -> i64 {
    let key = Key::new(format!("TEAM#{}", team.id), "LIMIT#RUNNING");
    app.stack
        .app
        .table
        .get(&key)
        .await
        .unwrap()
        .and_then(|item| item.get("running").and_then(|v| v.as_i64()))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_team_flooding_executions_does_not_hold_up_another_teams() {
    let app = concurrency_app(1);
    let noisy = app.create_team("Noisy").await;
    let quiet = app.create_team("Quiet").await;
    let noisy_agent = app.summary_agent(&noisy.key).await;
    let quiet_agent = app.summary_agent(&quiet.key).await;
    let flood = app
        .start_each(&noisy.key, &noisy_agent, &["Flood"; 6])
        .await;
    let mine = app.start_each(&quiet.key, &quiet_agent, &["Mine"]).await;
    let mine = mine[0].clone();
    assert_eq!(
        app.wait_for(&quiet.key, &mine, "succeeded").await.body["status"],
        "succeeded"
    );
    let last = app
        .get(&noisy.key, &format!("/v1/executions/{}", flood[5]))
        .await;
    assert_eq!(
        last.body["status"], "queued",
        "the quiet team's execution ran beside the noisy team's one slot, not after its queue"
    );
    for id in &flood {
        app.wait_for(&noisy.key, id, "succeeded").await;
    }
}

/// The authorizer's sample request (as API Gateway sends it), with `key`.
fn authorizer_request(
    key: &str,
) -> aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events/authorizer.json");
    let mut request: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for headers in ["headers", "multiValueHeaders"] {
        if let Some(map) = request[headers].as_object_mut() {
            map.retain(|name, _| !name.eq_ignore_ascii_case("authorization"));
            let value = format!("Bearer {key}");
            map.insert(
                "Authorization".into(),
                match headers {
                    "headers" => json!(value),
                    _ => json!([value]),
                },
            );
        }
    }
    serde_json::from_value(request).unwrap()
}

#[tokio::test]
async fn the_authorizer_names_the_teams_key_in_its_plans_usage_plan_and_moves_it_with_the_plan() {
    let (client, plans, keys) = crate::queue_and_workflows::usage_keys_on_moto().await;
    let app = TestApp::with_ports(Arc::new(EmbeddedTable::in_memory()), |app| App {
        usage_keys: Some(Arc::new(keys)),
        ..app
    });
    let team = app.create_team("Acme").await;
    let first = authorizer::authorize(&app.stack.app, authorizer_request(&team.key))
        .await
        .unwrap();
    assert_eq!(
        first.usage_identifier_key.as_deref(),
        Some(team.id.as_str())
    );
    let serialized = serde_json::to_value(&first).unwrap();
    assert_eq!(serialized["usageIdentifierKey"], team.id.as_str());
    let in_trial = crate::queue_and_workflows::keys_in(&client, &plans["trial"]).await;
    assert_eq!(in_trial.len(), 1);

    // The team moves to another plan (as a Marketplace entitlement change does).
    let team_key = Key::new(format!("TEAM#{}", team.id), "TEAM");
    app.stack
        .app
        .table
        .update(Update {
            key: team_key,
            actions: vec![UpdateAction::Set("plan".into(), "enterprise".into())],
            condition: None,
        })
        .await
        .unwrap();
    let moved = authorizer::authorize(&app.stack.app, authorizer_request(&team.key))
        .await
        .unwrap();
    assert_eq!(moved.usage_identifier_key, first.usage_identifier_key);
    let in_enterprise = crate::queue_and_workflows::keys_in(&client, &plans["enterprise"]).await;
    assert_eq!(in_enterprise.len(), 1);
}

/// Usage plans that cannot be reached.
struct Unreachable;

#[async_trait::async_trait]
impl UsageKeys for Unreachable {
    async fn place(
        &self,
        _: &TeamId,
        _: &str,
        _: Option<&UsageKey>,
    ) -> Result<UsageKey, UsageKeyError> {
        Err(UsageKeyError("TooManyRequestsException".into()))
    }

    fn fallback(&self) -> &str {
        "vellocity-fallback-key"
    }
}

#[tokio::test]
async fn a_team_whose_key_cannot_be_placed_goes_under_the_shared_key_not_refused() {
    let app = TestApp::with_ports(Arc::new(EmbeddedTable::in_memory()), |app| App {
        usage_keys: Some(Arc::new(Unreachable)),
        ..app
    });
    let team = app.create_team("Acme").await;
    let answer = authorizer::authorize(&app.stack.app, authorizer_request(&team.key))
        .await
        .unwrap();
    assert_eq!(answer.policy_document["Statement"][0]["Effect"], "Allow");
    assert_eq!(
        answer.usage_identifier_key.as_deref(),
        Some("vellocity-fallback-key")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_entry_left_behind_by_an_ended_execution_holds_up_nobody() {
    let app = concurrency_app(1);
    let team = app.create_team("Acme").await;
    let (_, ended) = app.run_summary(&team.key, "Done already").await;
    // An entry that outlived its execution (as a lost race could leave one).
    let mut stale = vellocity::ports::table::Item::new();
    stale.insert("PK".into(), format!("TEAM#{}", team.id).into());
    stale.insert("SK".into(), format!("WAITING#{ended}").into());
    app.stack.app.table.put(stale, None).await.unwrap();
    let agent = app.summary_agent(&team.key).await;
    let next = app.start_each(&team.key, &agent, &["Next"]).await;
    assert_eq!(
        app.wait_for(&team.key, &next[0], "succeeded").await.body["status"],
        "succeeded"
    );
    assert_eq!(
        waiting_entries(&app, &team).await,
        0,
        "the stale entry is gone"
    );
}

/// The team's waiting entries, as the table holds them.
async fn waiting_entries(app: &TestApp, team: &TestTeam) -> usize {
    let query = Query::prefix(Index::Table, format!("TEAM#{}", team.id), "WAITING#");
    app.stack.app.table.query(query).await.unwrap().items.len()
}
