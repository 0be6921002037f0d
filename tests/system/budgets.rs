//! Budgets and member limits: this month's spending against the budget, thresholds recorded
//! once as domain events, a hard stop that refuses work before anything is written, member
//! limits, and a budget that concurrent work never overspends.

use std::sync::Arc;

use serde_json::{json, Value};
use vellocity::ports::table::Table;

use crate::helpers::{user_id_of, Response, TestApp, TestTeam};

/// A team with a conversation to send messages in.
struct Spender {
    app: TestApp,
    team: TestTeam,
    conversation: String,
}

async fn spender(app: TestApp) -> Spender {
    let team = app.create_team("Acme").await;
    let conversation = app.post_conversation(&team.key, json!({})).await;
    Spender {
        app,
        team,
        conversation,
    }
}

impl Spender {
    async fn send(&self, key: &str) -> Response {
        let path = format!("/v1/conversations/{}/messages", self.conversation);
        self.app
            .post(key, &path, json!({"content": "One more idea"}))
            .await
    }

    async fn budget(&self) -> Value {
        let budget = self.app.get(&self.team.key, "/v1/budget").await;
        assert_eq!(budget.status, 200, "{budget:?}");
        budget.body
    }

    async fn set_budget(&self, budget: Value) {
        let set = self
            .app
            .call("PUT", "/v1/budget", &self.team.key, Some(budget))
            .await;
        assert_eq!(set.status, 200, "{set:?}");
    }

    /// A message and an execution of `agent`, each refused with 402 `budget_exceeded`.
    async fn both_refused_by_the_budget(&self, agent: &str) {
        let refused = self.send(&self.team.key).await;
        assert_eq!(
            (refused.status, refused.code()),
            (402, "budget_exceeded"),
            "{refused:?}"
        );
        let execution = self
            .app
            .start_execution(&self.team.key, agent, json!({"request": "Summarise"}))
            .await;
        assert_eq!(
            (execution.status, execution.code()),
            (402, "budget_exceeded")
        );
    }

    /// The team's threshold events, oldest first, as (type, threshold).
    async fn events(&self) -> Vec<(String, Option<i64>)> {
        crate::events::events_of(&self.app, &self.team)
            .await
            .into_iter()
            .filter(|(kind, _)| kind == "budget.threshold_crossed" || kind == "budget.exceeded")
            .map(|(kind, event)| (kind, event["data"]["threshold"].as_i64()))
            .collect()
    }
}

#[tokio::test]
async fn the_budget_shows_its_defaults_and_this_months_spending() {
    let s = spender(TestApp::new()).await;
    assert_eq!(
        s.budget().await,
        json!({"period": "2026-11", "limit_micro_usd": null, "credit_limit": null,
               "thresholds": [50, 80, 100], "hard_stop": false, "spent_micro_usd": 0,
               "credits_used": 0, "credits_reserved": 0, "crossed": []})
    );
    let reply = s.send(&s.team.key).await;
    let credits = reply.body["reply"]["credits"].as_i64().unwrap();
    let budget = s.budget().await;
    assert_eq!(
        (
            budget["credits_used"].as_i64(),
            budget["credits_reserved"].as_i64()
        ),
        (Some(credits), Some(0))
    );
}

#[tokio::test]
async fn only_admins_set_the_budget_and_every_field_is_checked() {
    let s = spender(TestApp::new()).await;
    let mia = s.app.writer_key(&s.team, "mia@example.com").await;
    let denied = s
        .app
        .call("PUT", "/v1/budget", &mia, Some(json!({"credit_limit": 10})))
        .await;
    assert_eq!(denied.status, 403);
    let refused = s
        .app
        .call(
            "PUT",
            "/v1/budget",
            &s.team.key,
            Some(json!({"credit_limit": -1, "thresholds": [0, 50], "limit_micro_usd": 0})),
        )
        .await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert_eq!(
        refused.fields(),
        ["limit_micro_usd", "credit_limit", "thresholds"]
    );
    let without_limit = s
        .app
        .call(
            "PUT",
            "/v1/budget",
            &s.team.key,
            Some(json!({"hard_stop": true})),
        )
        .await;
    assert_eq!(without_limit.fields(), ["hard_stop"]);
    let unknown = s
        .app
        .call("PUT", "/v1/budget", &s.team.key, Some(json!({"limit": 5})))
        .await;
    assert_eq!((unknown.status, unknown.code()), (400, "invalid_body"));
    assert_eq!(
        s.budget().await["credit_limit"],
        Value::Null,
        "nothing was set"
    );
}

#[tokio::test]
async fn each_threshold_is_recorded_once_a_month_as_a_domain_event() {
    let s = spender(TestApp::new()).await;
    s.set_budget(json!({"credit_limit": 10})).await;
    let mut used = 0;
    while used < 5 {
        used += s.send(&s.team.key).await.body["reply"]["credits"]
            .as_i64()
            .unwrap();
    }
    assert_eq!(s.budget().await["crossed"], json!([50]));
    assert_eq!(
        s.events().await,
        [("budget.threshold_crossed".to_owned(), Some(50))]
    );
    while used < 14 {
        used += s.send(&s.team.key).await.body["reply"]["credits"]
            .as_i64()
            .unwrap();
    }
    s.send(&s.team.key).await;
    assert_eq!(s.budget().await["crossed"], json!([50, 80, 100]));
    let events = s.events().await;
    assert_eq!(
        events,
        [
            ("budget.threshold_crossed".to_owned(), Some(50)),
            ("budget.threshold_crossed".to_owned(), Some(80)),
            ("budget.threshold_crossed".to_owned(), Some(100)),
            ("budget.exceeded".to_owned(), None),
        ],
        "without a hard stop work goes on, and each crossing is told once"
    );
}

#[tokio::test]
async fn with_a_hard_stop_work_that_would_pass_the_limit_is_refused_before_anything_is_written() {
    let s = spender(TestApp::new()).await;
    let agent = s.app.summary_agent(&s.team.key).await;
    s.set_budget(json!({"credit_limit": 8, "hard_stop": true}))
        .await;
    let mut used = 0;
    for _ in 0..2 {
        let sent = s.send(&s.team.key).await;
        assert_eq!(sent.status, 201, "{sent:?}");
        used += sent.body["reply"]["credits"].as_i64().unwrap();
    }
    s.both_refused_by_the_budget(&agent).await;
    assert_eq!(s.app.credits(&s.team.key).await, (200 - used, 0));
    let executions = s.app.get(&s.team.key, "/v1/executions").await;
    assert_eq!(executions.body["items"], json!([]));
    let path = format!("/v1/conversations/{}/messages", s.conversation);
    assert_eq!(
        s.app.get(&s.team.key, &path).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    s.set_budget(json!({"credit_limit": 1000, "hard_stop": true}))
        .await;
    assert_eq!(
        s.send(&s.team.key).await.status,
        201,
        "a raised budget lets work start again"
    );
}

#[tokio::test]
async fn a_members_monthly_credit_limit_refuses_their_work_past_it_and_shows_their_use() {
    let s = spender(TestApp::new()).await;
    let mia_id = user_id_of("mia@example.com");
    let mia = s.app.writer_key(&s.team, "mia@example.com").await;
    let mine = s.app.post_conversation(&mia, json!({})).await;
    let member_path = format!("/v1/members/{mia_id}");
    let limited = s
        .app
        .patch(
            &s.team.key,
            &member_path,
            json!({"monthly_credit_limit": 5}),
        )
        .await;
    assert_eq!(
        (limited.status, limited.body["monthly_credit_limit"].clone()),
        (200, json!(5)),
        "{limited:?}"
    );
    assert_eq!(
        s.app
            .patch(&mia, &member_path, json!({"monthly_credit_limit": null}))
            .await
            .status,
        403
    );
    let bad = s
        .app
        .patch(
            &s.team.key,
            &member_path,
            json!({"monthly_credit_limit": -1}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.fields()),
        (422, vec!["monthly_credit_limit".to_owned()])
    );

    let path = format!("/v1/conversations/{mine}/messages");
    let first = s.app.post(&mia, &path, json!({"content": "Hi"})).await;
    assert_eq!(first.status, 201);
    let used = first.body["reply"]["credits"].as_i64().unwrap();
    let refused = s.app.post(&mia, &path, json!({"content": "Again"})).await;
    assert_eq!(
        (refused.status, refused.code()),
        (402, "member_limit_exceeded"),
        "{refused:?}"
    );
    assert_eq!(
        s.send(&s.team.key).await.status,
        201,
        "the limit is the member's, not the team's"
    );

    let members = s.app.get(&s.team.key, "/v1/members").await;
    let listed = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == mia_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (
            listed["credits_used_this_month"].as_i64(),
            listed["monthly_credit_limit"].as_i64()
        ),
        (Some(used), Some(5))
    );

    let lifted = s
        .app
        .patch(
            &s.team.key,
            &member_path,
            json!({"monthly_credit_limit": null}),
        )
        .await;
    assert_eq!(lifted.body.get("monthly_credit_limit"), None);
    assert_eq!(
        s.app
            .post(&mia, &path, json!({"content": "Again"}))
            .await
            .status,
        201
    );
}

/// Twenty-five messages and twenty-five executions at once against a budget smaller than
/// what they would reserve together: the budget is never passed, and the ledger, the budget
/// and the usage report agree afterwards.
async fn concurrent_work_never_overspends_a_budget(app: TestApp) {
    let s = Arc::new(spender(app).await);
    let writer = json!({"name": "Writer", "allowed_capabilities": ["summarize"]});
    let agent = Arc::new(s.app.post_agent(&s.team.key, writer).await);
    let limit = 60;
    s.set_budget(json!({"credit_limit": limit, "hard_stop": true}))
        .await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (s, agent) = (s.clone(), agent.clone());
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                s.send(&s.team.key).await
            } else {
                s.app
                    .start_execution(&s.team.key, &agent, json!({"request": "Summarise"}))
                    .await
            }
        }));
    }
    let mut started = Vec::new();
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            201 => {}
            202 => started.push(answer.body["id"].as_str().unwrap().to_owned()),
            _ => assert_eq!(
                (answer.status, answer.code()),
                (402, "budget_exceeded"),
                "{answer:?}"
            ),
        }
    }
    for id in &started {
        s.app.wait_for(&s.team.key, id, "succeeded").await;
    }
    let budget = s.budget().await;
    let used = budget["credits_used"].as_i64().unwrap();
    assert!(
        used <= limit,
        "{used} credits used against a limit of {limit}"
    );
    assert_eq!(budget["credits_reserved"], 0);
    assert_eq!(s.app.credits(&s.team.key).await, (200 - used, 0));
    let report = s
        .app
        .get(&s.team.key, "/v1/usage?from=2026-11-01&to=2026-11-30")
        .await;
    assert_eq!(report.body["totals"]["credits"].as_i64(), Some(used));
}

#[tokio::test]
async fn fifty_concurrent_messages_and_executions_never_overspend_a_budget_on_the_embedded_table() {
    concurrent_work_never_overspends_a_budget(TestApp::new()).await;
}

#[tokio::test]
async fn fifty_concurrent_messages_and_executions_never_overspend_a_budget_on_dynamodb_local() {
    let table: Arc<dyn Table> = Arc::new(crate::dynamodb::fresh_table().await);
    concurrent_work_never_overspends_a_budget(TestApp::with_table(table)).await;
}

#[tokio::test]
async fn a_money_limit_with_a_hard_stop_refuses_work_whose_most_cost_would_pass_it() {
    let s = spender(TestApp::new()).await;
    let agent = s.app.summary_agent(&s.team.key).await;
    // Ten micro-dollars: less than a reply or an execution may cost at the catalog's prices.
    s.set_budget(json!({"limit_micro_usd": 10, "hard_stop": true}))
        .await;
    s.both_refused_by_the_budget(&agent).await;
    assert_eq!(
        s.app.credits(&s.team.key).await,
        (200, 0),
        "nothing reserved"
    );

    s.set_budget(json!({"limit_micro_usd": 1_000_000, "hard_stop": true}))
        .await;
    let sent = s.send(&s.team.key).await;
    assert_eq!(sent.status, 201, "{sent:?}");
    let budget = s.budget().await;
    assert_eq!(
        budget["spent_micro_usd"],
        sent.body["reply"]["cost_micro_usd"]
    );
}

#[tokio::test]
async fn work_reserved_in_one_month_and_settled_in_the_next_counts_where_it_settled() {
    let s = spender(TestApp::new()).await;
    let careful = s
        .app
        .post_agent(
            &s.team.key,
            json!({"name": "Careful", "allowed_capabilities": ["summarize"], "requires_approval": true}),
        )
        .await;
    let started = s
        .app
        .start_execution(&s.team.key, &careful, json!({"request": "Summarise"}))
        .await;
    let id = started.body["id"].as_str().unwrap().to_owned();
    s.app.wait_for(&s.team.key, &id, "awaiting_approval").await;
    let november = s.budget().await;
    assert_eq!(november["period"], "2026-11");
    assert!(november["credits_reserved"].as_i64().unwrap() > 0);

    s.app.clock.advance(time::Duration::days(10));
    let approved = s
        .app
        .post(
            &s.team.key,
            &format!("/v1/executions/{id}/approval"),
            json!({"approved": true}),
        )
        .await;
    assert_eq!(approved.status, 200, "{approved:?}");
    let done = s.app.wait_for(&s.team.key, &id, "succeeded").await;
    let used = done.body["credits"]["used"].as_i64().unwrap();

    let december = s.budget().await;
    assert_eq!(december["period"], "2026-12");
    assert_eq!(
        (
            december["credits_used"].as_i64(),
            december["credits_reserved"].as_i64()
        ),
        (Some(used), Some(0))
    );
    let spend = |sk: String| {
        let app = s.app.stack.app.clone();
        let key = vellocity::ports::table::Key::new(format!("TEAM#{}", s.team.id), sk);
        async move { app.table.get(&key).await.unwrap().unwrap() }
    };
    let released = spend("SPEND#2026-11".into()).await;
    assert_eq!(
        released["credits_committed"],
        vellocity::ports::table::Value::N(0),
        "November's hold is released"
    );
    let owner = user_id_of("owner@example.com");
    let member = spend(format!("SPEND#2026-11#MEMBER#{owner}")).await;
    assert_eq!(
        member["credits_committed"],
        vellocity::ports::table::Value::N(0)
    );
    let members = s.app.get(&s.team.key, "/v1/members").await;
    assert_eq!(members.body["items"][0]["credits_used_this_month"], used);
}
