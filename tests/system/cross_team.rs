//! No route crosses a team's boundary. One team holds one record of every kind; another
//! team's owner sends every route of the route table at those ids (a route whose path names a
//! kind this test does not know fails here, so every new route joins), and every listing of
//! theirs. Each id answers 404, each listing shows none of the first team's records, and the
//! first team's records are as they were.

use serde_json::{json, Value};
use vellocity::api::routes::ROUTES;
use vellocity::domain::access::Role;

use crate::helpers::{user_id_of, TestApp, ALL_SCOPES};

/// The first team's ids, by the path segment that names their kind.
struct Theirs {
    company: String,
    product: String,
    partner: String,
    agent: String,
    execution: String,
    api_key: String,
    member: String,
    conversation: String,
    webhook: String,
    delivery: String,
}

impl Theirs {
    /// The concrete path of `template` at the first team's records.
    fn path(&self, template: &str) -> String {
        let id = match template.split('/').nth(2) {
            Some("companies") => &self.company,
            Some("products") => &self.product,
            Some("partners") => &self.partner,
            Some("agents") => &self.agent,
            Some("executions") => &self.execution,
            Some("api-keys") => &self.api_key,
            Some("members") => &self.member,
            Some("conversations") => &self.conversation,
            Some("webhooks") => &self.webhook,
            other => panic!("the cross-team test does not know the ids of {other:?}: add them"),
        };
        template
            .replace("{id}", id)
            .replace("{user_id}", id)
            .replace("{delivery_id}", &self.delivery)
    }
}

/// A body the route would accept from its own team.
fn body(method: &str, template: &str) -> Option<Value> {
    match (method, template) {
        ("POST", "/v1/agents/{id}/executions") => Some(json!({"request": "Summarise"})),
        ("POST", "/v1/executions/{id}/approval") => Some(json!({"approved": true})),
        ("POST", "/v1/conversations/{id}/messages") => Some(json!({"content": "Hello"})),
        ("POST", _) => Some(json!({})),
        ("PATCH", "/v1/members/{user_id}") => Some(json!({"role": "viewer"})),
        ("PATCH", _) => Some(json!({"name": "Taken over"})),
        _ => None,
    }
}

#[tokio::test]
async fn another_teams_ids_answer_404_on_every_route_and_its_records_stay_as_they_were() {
    let app = TestApp::with_local_webhooks();
    let ours = app.create_team("Acme").await;
    let them = app.create_team("Other").await;
    let company = app.post_company(&ours.key, "Acme").await;
    let product = app
        .post(
            &ours.key,
            "/v1/products",
            json!({"company_id": company, "name": "Guard"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let partner = app
        .post(&ours.key, "/v1/partners", json!({"name": "Globex"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let agent = app
        .post_agent(
            &ours.key,
            json!({"name": "Careful", "allowed_capabilities": ["summarize"], "requires_approval": true}),
        )
        .await;
    let started = app
        .start_execution(&ours.key, &agent, json!({"request": "Summarise"}))
        .await;
    let execution = started.body["id"].as_str().unwrap().to_owned();
    app.wait_for(&ours.key, &execution, "awaiting_approval")
        .await;
    app.member_key(&ours, "mia@example.com", Role::Member, &ALL_SCOPES)
        .await;
    let member = user_id_of("mia@example.com");
    let keys = app.get(&ours.key, "/v1/api-keys").await;
    let api_key = keys.body["items"][0]["id"].as_str().unwrap().to_owned();
    let conversation = app
        .post_conversation(&ours.key, json!({"title": "Ideas", "company_id": company}))
        .await;
    let sent = app
        .post(
            &ours.key,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({"content": "Three headlines, please"}),
        )
        .await;
    assert_eq!(sent.status, 201, "{sent:?}");
    let hooked = app
        .post(
            &ours.key,
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hooks", "events": ["*"]}),
        )
        .await;
    let webhook = hooked.body["id"].as_str().unwrap().to_owned();
    app.post(
        &ours.key,
        &format!("/v1/webhooks/{webhook}/test"),
        json!({}),
    )
    .await;
    // Once its first attempt is recorded (nothing listens there), the delivery waits for a
    // retry the test's clock never reaches: it stays as it is.
    let delivery = loop {
        let listed = app
            .get(&ours.key, &format!("/v1/webhooks/{webhook}/deliveries"))
            .await;
        let first = &listed.body["items"][0];
        if first["attempts"].as_array().is_some_and(|a| !a.is_empty()) {
            break first["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let theirs = Theirs {
        company,
        product,
        partner,
        agent,
        execution,
        api_key,
        member,
        conversation,
        webhook,
        delivery,
    };
    let paths: Vec<String> = ROUTES
        .iter()
        .filter(|r| r.path.contains('{') && r.method == "GET")
        .map(|r| theirs.path(r.path))
        .collect();
    let before: Vec<Value> = {
        let mut seen = Vec::new();
        for path in &paths {
            seen.push(app.get(&ours.key, path).await.body);
        }
        seen
    };

    for route in ROUTES.iter().filter(|r| r.path.contains('{')) {
        let path = theirs.path(route.path);
        let answer = app
            .call(
                route.method,
                &path,
                &them.key,
                body(route.method, route.path),
            )
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (404, "not_found"),
            "{} {path} by another team: {answer:?}",
            route.method
        );
    }
    for route in ROUTES
        .iter()
        .filter(|r| !r.path.contains('{') && r.method == "GET")
    {
        let listing = app.get(&them.key, route.path).await;
        let text = listing.body.to_string();
        for id in [
            &theirs.company,
            &theirs.product,
            &theirs.partner,
            &theirs.agent,
            &theirs.execution,
            &theirs.api_key,
            &theirs.member,
            &theirs.conversation,
            &theirs.webhook,
        ] {
            assert!(!text.contains(id.as_str()), "{} shows {id}", route.path);
        }
    }
    for (path, was) in paths.iter().zip(before) {
        let now = app.get(&ours.key, path).await.body;
        assert_eq!(now, was, "{path} changed");
    }
}
