use serde_json::json;
use vellocity::domain::access::Role;

use crate::helpers::{TestApp, ALL_SCOPES};

#[tokio::test]
async fn a_key_is_shown_once_listed_without_its_secret_and_revoked() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let created = app
        .post(
            &team.key,
            "/v1/api-keys",
            json!({"name": "CI", "scopes": ["read", "write"]}),
        )
        .await;
    assert_eq!(created.status, 201);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("vk_"));
    assert_eq!(created.body["prefix"], &secret[..10]);
    let id = created.body["id"].as_str().unwrap().to_owned();

    assert_eq!(app.get(&secret, "/v1/companies").await.status, 200);
    let listed = app.get(&team.key, "/v1/api-keys").await;
    let text = listed.body.to_string();
    assert!(
        !text.contains(&secret) && !text.contains("secret"),
        "secrets never appear in listings"
    );
    let ci = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        ci["last_used_at"], "2026-11-21T12:00:00Z",
        "use is recorded"
    );

    assert_eq!(
        app.delete(&team.key, &format!("/v1/api-keys/{id}"))
            .await
            .status,
        204
    );
    let refused = app.get(&secret, "/v1/companies").await;
    assert_eq!((refused.status, refused.code()), (401, "unauthenticated"));
    assert_eq!(
        app.delete(&team.key, &format!("/v1/api-keys/{id}"))
            .await
            .status,
        204,
        "revoking again is harmless"
    );
    let listed = app.get(&team.key, "/v1/api-keys").await;
    assert!(listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["id"] == id.as_str() && k["revoked_at"].is_string()));
}

#[tokio::test]
async fn a_read_only_key_cannot_write() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let created = app
        .post(
            &team.key,
            "/v1/api-keys",
            json!({"name": "Reader", "scopes": ["read"]}),
        )
        .await;
    let reader = created.body["secret"].as_str().unwrap();
    assert_eq!(app.get(reader, "/v1/companies").await.status, 200);
    let refused = app
        .post(reader, "/v1/companies", json!({"name": "A"}))
        .await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    assert!(refused.message().contains("write scope"));
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let created = app
        .post(
            &team.key,
            "/v1/api-keys",
            json!({"name": "Temp", "scopes": ["read"], "expires_at": "2026-11-21T13:00:00Z"}),
        )
        .await;
    assert_eq!(created.status, 201);
    let secret = created.body["secret"].as_str().unwrap();
    assert_eq!(app.get(secret, "/v1/team").await.status, 200);
    app.clock.advance(time::Duration::hours(2));
    let refused = app.get(secret, "/v1/team").await;
    assert_eq!(refused.status, 401);
    assert!(refused.message().contains("expired"));
}

#[tokio::test]
async fn key_requests_are_validated() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let refused = app
        .post(
            &team.key,
            "/v1/api-keys",
            json!({"name": "", "scopes": [], "expires_at": "yesterday"}),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.fields(), ["name", "scopes", "expires_at"]);
    let past = app
        .post(
            &team.key,
            "/v1/api-keys",
            json!({"name": "Old", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(past.fields(), ["expires_at"]);
    let scope = app
        .post(
            &team.key,
            "/v1/api-keys",
            json!({"name": "X", "scopes": ["root"]}),
        )
        .await;
    assert_eq!(scope.status, 400);
}

#[tokio::test]
async fn only_admins_see_and_manage_keys_and_other_teams_keys_are_invisible() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let member = app
        .member_key(&team, "mia@example.com", Role::Member, &ALL_SCOPES)
        .await;
    assert_eq!(app.get(&member, "/v1/api-keys").await.status, 403);
    assert_eq!(
        app.post(
            &member,
            "/v1/api-keys",
            json!({"name": "X", "scopes": ["read"]})
        )
        .await
        .status,
        403
    );

    let other = app.create_team("Other").await;
    let theirs = app.get(&other.key, "/v1/api-keys").await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.delete(&team.key, &format!("/v1/api-keys/{theirs}"))
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&other.key, "/v1/team").await.status,
        200,
        "their key still works"
    );
}
