use serde_json::json;
use vellocity::domain::access::{Role, Scope};
use vellocity::domain::catalog::DEFAULT_CHAT;

use crate::helpers::TestApp;

#[tokio::test]
async fn an_agent_is_created_with_its_capabilities_models_and_defaults() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let company = app.post_company(&team.key, "Acme").await;
    let body = json!({
        "name": "Launch writer", "instructions": "Launch content.",
        "allowed_capabilities": ["generate_text", "social_posts"],
        "models": {"writer": "anthropic.claude-3-5-haiku-20241022-v1:0"},
        "requires_approval": true, "default_company_id": company
    });
    let created = app.post(&team.key, "/v1/agents", body).await;
    assert_eq!(created.status, 201, "{created:?}");
    let path = format!("/v1/agents/{}", created.body["id"].as_str().unwrap());
    assert!(created.body["id"].as_str().unwrap().starts_with("agt_"));
    assert_eq!(
        app.get(&team.key, &path).await.body["models"]["writer"],
        DEFAULT_CHAT,
        "a retired model is kept as the one that replaced it"
    );

    let patched = app
        .patch(
            &team.key,
            &path,
            json!({"requires_approval": false, "allowed_capabilities": ["summarize"]}),
        )
        .await;
    assert_eq!(patched.body["requires_approval"], false);
    assert_eq!(patched.body["allowed_capabilities"], json!(["summarize"]));
    assert_eq!(
        app.get(&team.key, "/v1/agents").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(app.delete(&team.key, &path).await.status, 204);
    assert_eq!(app.get(&team.key, &path).await.status, 404);
}

#[tokio::test]
async fn unknown_capabilities_and_models_are_named() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let body = json!({"name": "A", "allowed_capabilities": ["teleport"], "models": {"image": "anthropic.claude-3-5-haiku-20241022-v1:0"}});
    let refused = app.post(&team.key, "/v1/agents", body).await;
    assert_eq!(refused.status, 422);
    assert_eq!(
        refused.fields(),
        ["allowed_capabilities[0]", "models.image"]
    );
}

#[tokio::test]
async fn an_agents_default_company_must_be_the_teams_own() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let other = app.create_team("Other").await;
    let theirs = app.post_company(&other.key, "Globex").await;
    let body =
        json!({"name": "A", "allowed_capabilities": ["summarize"], "default_company_id": theirs});
    let refused = app.post(&team.key, "/v1/agents", body).await;
    assert_eq!(
        (refused.status, refused.fields()),
        (422, vec!["default_company_id".to_owned()])
    );
    assert_eq!(
        app.get(&team.key, "/v1/agents").await.body["items"],
        json!([]),
        "nothing half-written"
    );
}

#[tokio::test]
async fn everyone_reads_the_capability_registry() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let viewer = app
        .member_key(&team, "vic@example.com", Role::Viewer, &[Scope::Read])
        .await;
    let listed = app.get(&viewer, "/v1/capabilities").await;
    assert_eq!(listed.status, 200);
    let items = listed.body["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|c| c["id"].as_str().unwrap()).collect();
    for id in [
        "generate_text",
        "social_posts",
        "email_campaign",
        "generate_image",
        "analyze_content",
        "seo_optimize",
        "cosell_match",
        "joint_gtm_plan",
        "marketplace_listing",
        "summarize",
        "landing_page",
    ] {
        assert!(ids.contains(&id), "{id}");
    }
    let page = items.iter().find(|c| c["id"] == "landing_page").unwrap();
    assert_eq!(page["kind"], "text");
    assert_eq!(page["input_schema"]["required"], json!(["topic"]));
    let text = items.iter().find(|c| c["id"] == "generate_text").unwrap();
    let schema = &text["input_schema"];
    assert_eq!(schema["required"], json!(["format", "topic"]));
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown input fields are refused"
    );
    let formats: Vec<&str> = schema["$defs"]["TextFormat"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["const"].as_str().unwrap())
        .collect();
    assert_eq!(
        formats,
        ["blog_post", "landing_page", "case_study", "press_release"]
    );
    assert_eq!(
        text["credits"],
        json!({"rule": "tokens", "base": 2, "per_thousand_output_tokens": 4, "max_output_tokens": 4000})
    );
    assert_eq!(text["max_credits"], 18);
}

#[tokio::test]
async fn a_company_or_product_an_agent_uses_as_its_default_cannot_be_deleted_until_the_agent_lets_go(
) {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let company = app.post_company(&team.key, "Acme").await;
    let product = app
        .post(
            &team.key,
            "/v1/products",
            json!({"company_id": company, "name": "Guard"}),
        )
        .await;
    let product = product.body["id"].as_str().unwrap().to_owned();
    let agent = app
        .post_agent(
            &team.key,
            json!({"name": "Launch crew", "allowed_capabilities": ["summarize"],
                   "default_company_id": company, "default_product_id": product}),
        )
        .await;

    let refused = app
        .delete(&team.key, &format!("/v1/products/{product}"))
        .await;
    assert_eq!((refused.status, refused.code()), (409, "in_use_by_agents"));
    assert!(refused.message().contains(&agent), "{refused:?}");
    assert!(refused.message().contains("Launch crew"), "{refused:?}");

    // The agent lets go of the product; the product can go, the company is still named.
    let patched = app
        .patch(
            &team.key,
            &format!("/v1/agents/{agent}"),
            json!({"default_product_id": null}),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    let gone = app
        .delete(&team.key, &format!("/v1/products/{product}"))
        .await;
    assert_eq!(gone.status, 204, "{gone:?}");
    let refused = app
        .delete(&team.key, &format!("/v1/companies/{company}"))
        .await;
    assert_eq!((refused.status, refused.code()), (409, "in_use_by_agents"));

    // Once the agent is gone, so can the company be; the agent still runs until then.
    let run = app
        .start_execution(
            &team.key,
            &agent,
            json!({"request": "Summarise the launch"}),
        )
        .await;
    assert_eq!(run.status, 202, "{run:?}");
    assert_eq!(
        app.delete(&team.key, &format!("/v1/agents/{agent}"))
            .await
            .status,
        204
    );
    let gone = app
        .delete(&team.key, &format!("/v1/companies/{company}"))
        .await;
    assert_eq!(gone.status, 204, "{gone:?}");
}

#[tokio::test]
async fn everyone_reads_the_model_catalog_with_its_prices_and_defaults() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let viewer = app
        .member_key(&team, "vic@example.com", Role::Viewer, &[Scope::Read])
        .await;
    let listed = app.get(&viewer, "/v1/models").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let items = listed.body["items"].as_array().unwrap();
    let sonnet = items
        .iter()
        .find(|m| m["id"] == "global.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .unwrap();
    assert_eq!(sonnet["kind"], "text");
    assert_eq!(
        sonnet["prices_micro_usd"],
        json!({"per_million_input_tokens": 3_000_000, "per_million_output_tokens": 15_000_000,
               "per_million_cache_read_tokens": 300_000, "per_million_cache_write_tokens": 3_750_000,
               "per_image": 0})
    );
    assert_eq!(sonnet["default_for"], json!(["planner", "writer"]));
    assert_eq!(
        (
            sonnet["prompt_caching"].as_bool(),
            sonnet["structured_output"].as_str()
        ),
        (Some(true), Some("structured_output"))
    );
    assert_eq!(
        sonnet["replaces"],
        json!(["anthropic.claude-3-5-sonnet-20241022-v2:0"])
    );
    assert!(
        items
            .iter()
            .all(|m| !m["id"].as_str().unwrap().starts_with("anthropic.claude-3")),
        "retired models are not offered"
    );
    assert!(sonnet["purpose"].as_str().is_some_and(|p| !p.is_empty()));
    let canvas = items
        .iter()
        .find(|m| m["id"] == "amazon.nova-canvas-v1:0")
        .unwrap();
    assert_eq!(
        (canvas["kind"].as_str(), canvas["default_for"][0].as_str()),
        (Some("image"), Some("image"))
    );
    assert!(items.iter().all(|m| m["purpose"].is_string()));
    let refused = app.get(&viewer, "/v1/models?limit=5").await;
    assert_eq!((refused.status, refused.code()), (400, "invalid_query"));
    let anonymous = app.send("GET", "/v1/models", &[], Vec::new()).await;
    assert_eq!(anonymous.status, 401);
}
