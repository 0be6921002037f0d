use serde_json::json;
use vellocity::domain::access::Role;

use crate::helpers::{TestApp, ALL_SCOPES};

#[tokio::test]
async fn the_team_shows_its_plan_credits_and_privacy_defaults() {
    let app = TestApp::new();
    let team = app.create_team("Acme GTM").await;
    let fetched = app.get(&team.key, "/v1/team").await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body["id"], team.id.as_str());
    assert_eq!(fetched.body["name"], "Acme GTM");
    assert_eq!(fetched.body["plan"], "trial");
    assert_eq!(
        fetched.body["credits"],
        json!({"balance": 200, "reserved": 0}),
        "a new team has its trial credits"
    );
}

#[tokio::test]
async fn an_admin_renames_the_team_and_sets_privacy_defaults() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let patched = app
        .patch(
            &team.key,
            "/v1/team",
            json!({"name": "Acme Corp", "privacy_defaults": {"analytics_opt_in": true}}),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["name"], "Acme Corp");
    assert_eq!(patched.body["privacy_defaults"]["analytics_opt_in"], true);
    assert_eq!(
        app.get(&team.key, "/v1/team").await.body["name"],
        "Acme Corp"
    );
}

#[tokio::test]
async fn an_admin_sets_checks_and_removes_the_teams_bedrock_guardrail() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let set = json!({"guardrail": {"id": "gr1a2b3c", "version": "DRAFT"}});
    let patched = app.patch(&team.key, "/v1/team", set).await;
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(
        app.get(&team.key, "/v1/team").await.body["guardrail"],
        json!({"id": "gr1a2b3c", "version": "DRAFT"})
    );

    let wrong = json!({"guardrail": {"id": "Not A Guardrail", "version": "01"}});
    let refused = app.patch(&team.key, "/v1/team", wrong).await;
    assert_eq!((refused.status, refused.code()), (422, "validation_failed"));
    assert_eq!(refused.fields(), ["guardrail.id", "guardrail.version"]);

    let removed = app
        .patch(&team.key, "/v1/team", json!({"guardrail": null}))
        .await;
    assert_eq!(removed.status, 200);
    assert!(app.get(&team.key, "/v1/team").await.body["guardrail"].is_null());
}

#[tokio::test]
async fn credits_and_plan_are_not_the_clients_to_change() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    for body in [
        json!({"credits": {"balance": 1000000}}),
        json!({"plan": "enterprise"}),
    ] {
        let refused = app.patch(&team.key, "/v1/team", body).await;
        assert_eq!(refused.status, 400);
    }
    assert_eq!(
        app.get(&team.key, "/v1/team").await.body["credits"]["balance"],
        200
    );
}

#[tokio::test]
async fn a_member_cannot_change_team_settings() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let member = app
        .member_key(&team, "mia@example.com", Role::Member, &ALL_SCOPES)
        .await;
    let refused = app
        .patch(&member, "/v1/team", json!({"name": "Mine"}))
        .await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    assert_eq!(app.get(&member, "/v1/team").await.status, 200);
}
