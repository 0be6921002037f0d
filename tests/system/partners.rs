use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_partner_is_created_changed_and_deleted() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let body = json!({
        "name": "Globex", "industries": ["Retail"], "regions": ["EMEA"], "solution_areas": ["Data"],
        "tier": "advanced", "contact": {"name": "Hank", "email": "Hank@Globex.example"}
    });
    let created = app.post(&team.key, "/v1/partners", body).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["contact"]["email"], "hank@globex.example");
    assert!(
        created.body.get("effective_privacy").is_none(),
        "partners have no privacy level"
    );
    let path = format!("/v1/partners/{}", created.body["id"].as_str().unwrap());
    let patched = app
        .patch(
            &team.key,
            &path,
            json!({"tier": "premier", "regions": ["NA", "EMEA"]}),
        )
        .await;
    assert_eq!(patched.body["tier"], "premier");
    assert_eq!(patched.body["regions"], json!(["NA", "EMEA"]));
    assert_eq!(app.delete(&team.key, &path).await.status, 204);
    assert_eq!(app.get(&team.key, &path).await.status, 404);
}

#[tokio::test]
async fn an_unknown_tier_or_a_bad_contact_is_refused() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let tier = app
        .post(
            &team.key,
            "/v1/partners",
            json!({"name": "G", "tier": "platinum"}),
        )
        .await;
    assert_eq!(tier.status, 400);
    assert_eq!(tier.fields(), ["tier"]);
    let contact = app
        .post(
            &team.key,
            "/v1/partners",
            json!({"name": "G", "contact": {"name": "", "email": "nope"}}),
        )
        .await;
    assert_eq!(contact.status, 422);
    assert_eq!(contact.fields(), ["contact.name", "contact.email"]);
}
