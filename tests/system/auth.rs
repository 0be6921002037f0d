use serde_json::json;

use crate::helpers::{jwt, TestApp, AUDIENCE, ISSUER};

fn claims(email: &str, team: Option<&str>) -> serde_json::Value {
    let mut claims = json!({
        "sub": "a1b2c3", "email": email, "email_verified": true,
        "iss": ISSUER, "aud": AUDIENCE, "exp": jsonwebtoken::get_current_timestamp() + 3600,
    });
    if let Some(team) = team {
        claims["custom:team_id"] = team.into();
    }
    claims
}

#[tokio::test]
async fn missing_malformed_and_unknown_credentials_answer_401() {
    let app = TestApp::new();
    app.create_team("Acme").await;
    let cases: [&[(&str, &str)]; 5] = [
        &[],
        &[("authorization", "Basic dXNlcjpwYXNz")],
        &[("authorization", "Bearer ")],
        &[(
            "authorization",
            "Bearer vk_unknownunknownunknownunknownunknownunknown",
        )],
        &[("authorization", "Bearer not-a-token")],
    ];
    for headers in cases {
        let response = app.send("GET", "/v1/team", headers, Vec::new()).await;
        assert_eq!(
            (response.status, response.code()),
            (401, "unauthenticated"),
            "{headers:?}"
        );
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
}

#[tokio::test]
async fn a_members_jwt_reaches_the_team_named_in_its_claim() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let token = jwt(claims("owner@example.com", Some(&team.id)));
    let response = app.get(&token, "/v1/team").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body["id"], team.id.as_str());
}

#[tokio::test]
async fn a_jwt_without_a_team_claim_uses_the_team_header_checked_against_membership() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let other = app.create_team("Other").await;
    let token = jwt(claims("owner@example.com", None));
    let auth = format!("Bearer {token}");
    let ok = app
        .send(
            "GET",
            "/v1/team",
            &[("authorization", &auth), ("x-team-id", &team.id)],
            Vec::new(),
        )
        .await;
    assert_eq!(ok.status, 200);
    let stranger = jwt(claims("stranger@example.com", None));
    let auth = format!("Bearer {stranger}");
    let refused = app
        .send(
            "GET",
            "/v1/team",
            &[("authorization", &auth), ("x-team-id", &other.id)],
            Vec::new(),
        )
        .await;
    assert_eq!(refused.status, 403);
    let no_team = app
        .send(
            "GET",
            "/v1/team",
            &[("authorization", &format!("Bearer {token}"))],
            Vec::new(),
        )
        .await;
    assert_eq!(no_team.status, 401);
}

#[tokio::test]
async fn an_invited_member_signs_in_with_a_jwt_and_becomes_active() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    app.post(
        &team.key,
        "/v1/members",
        json!({"email": "ada@example.com", "role": "viewer"}),
    )
    .await;
    let token = jwt(claims("ada@example.com", Some(&team.id)));
    assert_eq!(app.get(&token, "/v1/companies").await.status, 200);
    assert_eq!(
        app.post(&token, "/v1/companies", json!({"name": "A"}))
            .await
            .status,
        403,
        "a viewer stays read-only"
    );
    let members = app.get(&team.key, "/v1/members").await;
    let ada = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "ada@example.com")
        .unwrap()
        .clone();
    assert_eq!(ada["status"], "active");
}

#[tokio::test]
async fn expired_forged_or_foreign_jwts_answer_401() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let mut expired = claims("owner@example.com", Some(&team.id));
    expired["exp"] = (jsonwebtoken::get_current_timestamp() - 3600).into();
    let mut foreign = claims("owner@example.com", Some(&team.id));
    foreign["iss"] = "https://evil.example".into();
    let valid = jwt(claims("owner@example.com", Some(&team.id)));
    let (head, rest) = valid.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let mut tampered_claims = claims("owner@example.com", Some(&team.id));
    tampered_claims["email"] = "someone-else@example.com".into();
    let tampered_body = jwt(tampered_claims).split('.').nth(1).unwrap().to_owned();
    let forged = format!("{head}.{tampered_body}.{signature}");
    for token in [jwt(expired), jwt(foreign), forged] {
        let response = app.get(&token, "/v1/team").await;
        assert_eq!(response.status, 401, "{response:?}");
    }
}

#[tokio::test]
async fn a_jwt_not_valid_yet_answers_401_and_one_within_a_minute_of_clock_drift_is_accepted() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let now = jsonwebtoken::get_current_timestamp();
    let mut early = claims("owner@example.com", Some(&team.id));
    early["nbf"] = (now + 600).into();
    let refused = app.get(&jwt(early), "/v1/team").await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(refused.message().contains("not valid yet"), "{refused:?}");
    let mut drifted = claims("owner@example.com", Some(&team.id));
    drifted["nbf"] = (now + 30).into();
    assert_eq!(app.get(&jwt(drifted), "/v1/team").await.status, 200);
}
