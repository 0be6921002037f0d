use serde_json::json;
use vellocity::domain::access::Role;

use crate::helpers::{user_id_of, TestApp, ALL_SCOPES};

#[tokio::test]
async fn an_admin_invites_changes_and_removes_members() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let invited = app
        .post(
            &team.key,
            "/v1/members",
            json!({"email": "Ada@Example.com", "role": "member"}),
        )
        .await;
    assert_eq!(invited.status, 201);
    assert_eq!(invited.body["email"], "ada@example.com");
    assert_eq!(invited.body["status"], "invited");
    let user = invited.body["user_id"].as_str().unwrap().to_owned();

    let again = app
        .post(
            &team.key,
            "/v1/members",
            json!({"email": "ada@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "already_member"));

    let promoted = app
        .patch(
            &team.key,
            &format!("/v1/members/{user}"),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(promoted.body["role"], "admin");
    let listed = app.get(&team.key, "/v1/members").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);

    assert_eq!(
        app.delete(&team.key, &format!("/v1/members/{user}"))
            .await
            .status,
        204
    );
    assert_eq!(
        app.get(&team.key, "/v1/members").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let owner = app.get(&team.key, "/v1/members").await.body["items"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let demoted = app
        .patch(
            &team.key,
            &format!("/v1/members/{owner}"),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!((demoted.status, demoted.code()), (409, "last_owner"));
    let removed = app.delete(&team.key, &format!("/v1/members/{owner}")).await;
    assert_eq!((removed.status, removed.code()), (409, "last_owner"));

    let second = app
        .post(
            &team.key,
            "/v1/members",
            json!({"email": "bo@example.com", "role": "owner"}),
        )
        .await;
    assert_eq!(second.status, 201);
    assert_eq!(app.get(&team.key, "/v1/team").await.body["owner_count"], 2);
    assert_eq!(
        app.patch(
            &team.key,
            &format!("/v1/members/{owner}"),
            json!({"role": "admin"})
        )
        .await
        .status,
        200
    );
    assert_eq!(app.get(&team.key, "/v1/team").await.body["owner_count"], 1);
}

#[tokio::test]
async fn only_owners_grant_or_take_the_owner_role() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let admin = app
        .member_key(&team, "ann@example.com", Role::Admin, &ALL_SCOPES)
        .await;
    let refused = app
        .post(
            &admin,
            "/v1/members",
            json!({"email": "eve@example.com", "role": "owner"}),
        )
        .await;
    assert_eq!(refused.status, 403);
    let owner = app.get(&team.key, "/v1/members").await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "owner")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.delete(&admin, &format!("/v1/members/{owner}"))
            .await
            .status,
        403
    );
    assert_eq!(
        app.post(
            &admin,
            "/v1/members",
            json!({"email": "eve@example.com", "role": "viewer"})
        )
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn members_and_viewers_cannot_manage_members() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let member = app
        .member_key(&team, "mia@example.com", Role::Member, &ALL_SCOPES)
        .await;
    let refused = app
        .post(
            &member,
            "/v1/members",
            json!({"email": "x@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        app.get(&member, "/v1/members").await.status,
        200,
        "but may read them"
    );
}

#[tokio::test]
async fn an_invitation_needs_a_valid_email_and_role() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let email = app
        .post(
            &team.key,
            "/v1/members",
            json!({"email": "not-an-email", "role": "member"}),
        )
        .await;
    assert_eq!(
        (email.status, email.fields()),
        (422, vec!["email".to_owned()])
    );
    let role = app
        .post(
            &team.key,
            "/v1/members",
            json!({"email": "a@example.com", "role": "root"}),
        )
        .await;
    assert_eq!((role.status, role.fields()), (400, vec!["role".to_owned()]));
}

#[tokio::test]
async fn removing_a_member_revokes_their_keys_and_inviting_them_again_brings_none_back() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let key = app
        .member_key(&team, "mia@example.com", Role::Admin, &ALL_SCOPES)
        .await;
    assert_eq!(app.get(&key, "/v1/team").await.status, 200);
    let mia = user_id_of("mia@example.com");
    let removed = app.delete(&team.key, &format!("/v1/members/{mia}")).await;
    assert_eq!(removed.status, 204, "{removed:?}");
    assert_eq!(app.get(&key, "/v1/team").await.status, 401);

    let keys = app.get(&team.key, "/v1/api-keys").await;
    let mias: Vec<&serde_json::Value> = keys.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["created_by"] == mia.as_str())
        .collect();
    assert_eq!(mias.len(), 1, "{keys:?}");
    assert!(mias[0]["revoked_at"].is_string());
    assert_eq!(
        mias[0]["revoked_reason"],
        "Its creator was removed from the team."
    );
    let owners = keys.body["items"].as_array().unwrap().iter();
    assert!(
        owners
            .filter(|k| k["created_by"] != mia.as_str())
            .all(|k| k["revoked_at"].is_null()),
        "other members' keys keep working"
    );

    let invited = app
        .post(
            &team.key,
            "/v1/members",
            json!({"email": "mia@example.com", "role": "admin"}),
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    assert_eq!(
        app.get(&key, "/v1/team").await.status,
        401,
        "the old key stays revoked"
    );
}
