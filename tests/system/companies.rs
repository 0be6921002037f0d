use serde_json::json;
use vellocity::domain::access::Role;

use crate::helpers::{TestApp, ALL_SCOPES};

#[tokio::test]
async fn an_owner_creates_reads_updates_lists_and_deletes_a_company() {
    let app = TestApp::new();
    let team = app.create_team("Acme GTM").await;
    let body = json!({
        "name": "  Acme  ", "website": "https://acme.example",
        "brand_voice": {"tone": "bold", "audience": "CTOs", "value_propositions": ["Ship faster"], "banned_phrases": ["synergy"]}
    });
    let created = app.post(&team.key, "/v1/companies", body).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["name"], "Acme");
    let id = created.body["id"].as_str().unwrap().to_owned();

    let fetched = app.get(&team.key, &format!("/v1/companies/{id}")).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(
        fetched.body["brand_voice"]["banned_phrases"],
        json!(["synergy"])
    );

    let patched = app
        .patch(
            &team.key,
            &format!("/v1/companies/{id}"),
            json!({"brand_voice": {"tone": null, "guidelines": "Short sentences."}}),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(
        patched.body["brand_voice"]["audience"], "CTOs",
        "fields not in the patch are kept"
    );
    assert!(
        patched.body["brand_voice"].get("tone").is_none(),
        "null removes a field"
    );
    assert_eq!(
        patched.body["brand_voice"]["guidelines"],
        "Short sentences."
    );

    let listed = app.get(&team.key, "/v1/companies").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        listed.body["items"][0]["brand_voice"]["guidelines"],
        "Short sentences."
    );

    assert_eq!(
        app.delete(&team.key, &format!("/v1/companies/{id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        app.get(&team.key, &format!("/v1/companies/{id}"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn every_invalid_field_is_named_with_its_limit() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let body = json!({"name": "", "website": "acme", "brand_voice": {"tone": "x".repeat(201), "banned_phrases": ["a", "A"]}});
    let refused = app.post(&team.key, "/v1/companies", body).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.code(), "validation_failed");
    assert_eq!(
        refused.fields(),
        [
            "name",
            "website",
            "brand_voice.tone",
            "brand_voice.banned_phrases[1]"
        ]
    );
    assert!(refused.body["error"]["details"][2]["message"]
        .as_str()
        .unwrap()
        .contains("at most 200"));
    assert_eq!(
        app.get(&team.key, "/v1/companies").await.body["items"],
        json!([]),
        "nothing was written"
    );
}

#[tokio::test]
async fn wrong_types_and_unknown_fields_are_refused_with_the_field() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let wrong_type = app
        .post(&team.key, "/v1/companies", json!({"name": 42}))
        .await;
    assert_eq!(
        (wrong_type.status, wrong_type.code()),
        (400, "invalid_body")
    );
    assert_eq!(wrong_type.fields(), ["name"]);
    let unknown = app
        .post(
            &team.key,
            "/v1/companies",
            json!({"name": "A", "brand_voice": {"colour": "red"}}),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.fields(), ["brand_voice.colour"]);
    let missing = app
        .post(
            &team.key,
            "/v1/companies",
            json!({"website": "https://a.example"}),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert!(missing.message().contains("missing field `name`"));
}

#[tokio::test]
async fn a_patch_naming_a_field_that_does_not_exist_is_refused_even_as_a_removal() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let id = app.post_company(&team.key, "Acme Cloud").await;
    let path = format!("/v1/companies/{id}");
    for (patch, field) in [
        (json!({"nmae": null}), "nmae"),
        (json!({"brand_voice": {"tonne": null}}), "brand_voice.tonne"),
    ] {
        let refused = app.patch(&team.key, &path, patch).await;
        assert_eq!((refused.status, refused.code()), (400, "invalid_body"));
        assert_eq!(refused.fields(), [field]);
    }
    let team_patch = app.patch(&team.key, "/v1/team", json!({"": null})).await;
    assert_eq!(team_patch.status, 400);
    let removal = app
        .patch(&team.key, &path, json!({"brand_voice": {"tone": null}}))
        .await;
    assert_eq!(removal.status, 200, "a known optional field is removed");
}

#[tokio::test]
async fn another_teams_company_is_not_found_and_never_listed() {
    let app = TestApp::new();
    let ours = app.create_team("Ours").await;
    let theirs = app.create_team("Theirs").await;
    let their_company = app.post_company(&theirs.key, "Globex").await;
    let path = format!("/v1/companies/{their_company}");
    assert_eq!(app.get(&ours.key, &path).await.status, 404);
    assert_eq!(
        app.patch(&ours.key, &path, json!({"name": "Mine now"}))
            .await
            .status,
        404
    );
    assert_eq!(app.delete(&ours.key, &path).await.status, 404);
    assert_eq!(
        app.get(&ours.key, "/v1/companies").await.body["items"],
        json!([])
    );
    assert_eq!(
        app.get(&theirs.key, &path).await.body["name"],
        "Globex",
        "untouched"
    );
}

#[tokio::test]
async fn a_malformed_id_is_answered_as_not_found() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    for id in [
        "nope",
        "prd_01J0000000000000000000000A",
        "cmp_lower_case_is_not_an_id",
    ] {
        let response = app.get(&team.key, &format!("/v1/companies/{id}")).await;
        assert_eq!(
            (response.status, response.code()),
            (404, "not_found"),
            "{id}"
        );
    }
}

#[tokio::test]
async fn members_edit_only_their_own_companies_and_viewers_only_read() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let member = app
        .member_key(&team, "mia@example.com", Role::Member, &ALL_SCOPES)
        .await;
    let viewer = app
        .member_key(&team, "vic@example.com", Role::Viewer, &ALL_SCOPES)
        .await;
    let owners = app.post_company(&team.key, "Owner's").await;
    let mine = app.post_company(&member, "Mia's").await;

    assert_eq!(
        app.patch(
            &member,
            &format!("/v1/companies/{mine}"),
            json!({"name": "Mia's brand"})
        )
        .await
        .status,
        200
    );
    let refused = app
        .patch(
            &member,
            &format!("/v1/companies/{owners}"),
            json!({"name": "Taken"}),
        )
        .await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    assert_eq!(
        app.delete(&member, &format!("/v1/companies/{owners}"))
            .await
            .status,
        403
    );
    assert_eq!(
        app.patch(
            &team.key,
            &format!("/v1/companies/{mine}"),
            json!({"name": "Fixed"})
        )
        .await
        .status,
        200,
        "owners edit anything"
    );

    assert_eq!(
        app.get(&viewer, "/v1/companies").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.post(&viewer, "/v1/companies", json!({"name": "V"}))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn privacy_settings_cascade_from_team_to_company() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    app.patch(
        &team.key,
        "/v1/team",
        json!({"privacy_defaults": {"analytics_opt_in": true, "training_data_opt_out": false}}),
    )
    .await;
    let created = app
        .post(
            &team.key,
            "/v1/companies",
            json!({"name": "A", "privacy": {"training_data_opt_out": true}}),
        )
        .await;
    assert_eq!(
        created.body["effective_privacy"],
        json!({"training_data_opt_out": true, "analytics_opt_in": true, "data_isolation_enabled": true, "kb_cross_brand_sharing": false})
    );
}

#[tokio::test]
async fn lists_are_paginated_with_an_opaque_cursor() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    for i in 0..5 {
        app.post_company(&team.key, &format!("Company {i}")).await;
    }
    let first = app.get(&team.key, "/v1/companies?limit=2").await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(&team.key, &format!("/v1/companies?limit=2&cursor={cursor}"))
        .await;
    let third_cursor = second.body["next_cursor"].as_str().unwrap().to_owned();
    let third = app
        .get(
            &team.key,
            &format!("/v1/companies?limit=2&cursor={third_cursor}"),
        )
        .await;
    let names: Vec<String> = [&first, &second, &third]
        .iter()
        .flat_map(|page| {
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        names,
        (0..5).map(|i| format!("Company {i}")).collect::<Vec<_>>()
    );
    assert_eq!(third.body["next_cursor"], serde_json::Value::Null);
}
