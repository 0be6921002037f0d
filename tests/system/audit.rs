//! The audit log and the agents' activity feeds: who did what, with which credential, from
//! which request, on what; filtered by actor, action and period; for admins only; and each
//! agent's executions with their steps.

use serde_json::{json, Value};
use vellocity::api::routes::ROUTES;

use crate::helpers::{user_id_of, TestApp};

/// The audit log as `key` reads it with `query`, once the relay has caught up with `n`
/// entries (it writes them from the events, a moment after each change).
pub async fn audit(app: &TestApp, key: &str, query: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let listed = app.get(key, &format!("/v1/audit?{query}")).await;
        assert_eq!(listed.status, 200, "{listed:?}");
        let items = listed.body["items"].as_array().unwrap().clone();
        if items.len() >= n {
            return items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the audit log never had {n} entries for {query}");
}

#[tokio::test]
async fn each_action_is_audited_with_its_actor_credential_request_and_target() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let invited = app
        .post(
            &team.key,
            "/v1/members",
            json!({"email": "mia@example.com", "role": "member"}),
        )
        .await;
    let request_id = invited.header("x-request-id").unwrap().to_owned();
    let company = app.post_company(&team.key, "Acme Cloud").await;
    let budget = app
        .call(
            "PUT",
            "/v1/budget",
            &team.key,
            Some(json!({"credit_limit": 100})),
        )
        .await;
    assert_eq!(budget.status, 200);
    let mia = user_id_of("mia@example.com");
    app.delete(&team.key, &format!("/v1/members/{mia}")).await;

    let entries = audit(&app, &team.key, "", 4).await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "member.removed",
            "budget.changed",
            "company.created",
            "member.invited"
        ],
        "newest first"
    );
    let owner = user_id_of("owner@example.com");
    let invite = &entries[3];
    assert_eq!(invite["actor_id"], owner.as_str());
    assert_eq!(invite["actor"]["request_id"], request_id.as_str());
    assert!(invite["actor"]["credential"]
        .as_str()
        .unwrap()
        .starts_with("key_"));
    assert_eq!(invite["target"], json!({"kind": "user", "id": mia}));
    assert_eq!(entries[1]["target"], json!({"kind": "team", "id": team.id}));
    assert_eq!(
        entries[2]["target"],
        json!({"kind": "company", "id": company})
    );

    let members = audit(&app, &team.key, "action=member.", 2).await;
    assert_eq!(members.len(), 2);
    let exact = audit(&app, &team.key, "action=company.created", 1).await;
    assert_eq!(exact.len(), 1);
    assert!(
        audit(&app, &team.key, &format!("actor={owner}"), 4)
            .await
            .len()
            == 4
    );
    let nobody = app
        .get(&team.key, "/v1/audit?actor=usr_00000000000000000000000000")
        .await;
    assert_eq!(nobody.body["items"], json!([]));
    assert_eq!(
        audit(&app, &team.key, "from=2026-11-21&to=2026-11-21", 4)
            .await
            .len(),
        4
    );
    let before = app.get(&team.key, "/v1/audit?to=2026-11-20").await;
    assert_eq!(before.body["items"], json!([]));
}

#[tokio::test]
async fn only_admins_read_the_audit_log_and_nothing_changes_it() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let mia = app.writer_key(&team, "mia@example.com").await;
    assert_eq!(app.get(&mia, "/v1/audit").await.status, 403);
    for (query, code) in [
        ("from=yesterday", "invalid_query"),
        ("to=2026-02-30", "invalid_query"),
        ("page=2", "invalid_query"),
    ] {
        let answer = app.get(&team.key, &format!("/v1/audit?{query}")).await;
        assert_eq!((answer.status, answer.code()), (400, code), "{query}");
    }
    let reversed = app
        .get(&team.key, "/v1/audit?from=2026-11-21&to=2026-11-01")
        .await;
    assert_eq!(reversed.status, 422);
    let audit_routes: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.path.starts_with("/v1/audit"))
        .map(|r| r.method)
        .collect();
    assert_eq!(
        audit_routes,
        ["GET"],
        "entries cannot be changed or deleted through the API"
    );
    for method in ["POST", "PATCH", "DELETE", "PUT"] {
        let answer = app.call(method, "/v1/audit", &team.key, None).await;
        assert_eq!(answer.status, 405, "{method}");
    }
}

#[tokio::test]
async fn an_agents_activity_lists_its_executions_with_their_steps() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let agent = app.summary_agent(&team.key).await;
    let other = app
        .post_agent(
            &team.key,
            json!({"name": "Other", "allowed_capabilities": ["summarize"]}),
        )
        .await;
    let started = app
        .start_execution(&team.key, &agent, json!({"request": "Summarise our notes"}))
        .await;
    let id = started.body["id"].as_str().unwrap().to_owned();
    app.wait_for(&team.key, &id, "succeeded").await;
    app.start_execution(&team.key, &other, json!({"request": "Something else"}))
        .await;

    let activity = app
        .get(&team.key, &format!("/v1/agents/{agent}/activity"))
        .await;
    assert_eq!(activity.status, 200, "{activity:?}");
    let items = activity.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only this agent's executions");
    let entry = &items[0];
    assert_eq!(
        (entry["execution_id"].as_str(), entry["status"].as_str()),
        (Some(id.as_str()), Some("succeeded"))
    );
    assert_eq!(entry["request"], "Summarise our notes");
    let steps = entry["steps"].as_array().unwrap();
    assert!(
        !steps.is_empty()
            && steps
                .iter()
                .all(|s| s["status"] == "succeeded" && s["capability"].is_string())
    );
    let unknown = app
        .get(
            &team.key,
            "/v1/agents/agt_00000000000000000000000000/activity",
        )
        .await;
    assert_eq!(unknown.status, 404);
}
