//! The console `serve` shows at `/`, as a person uses it in headless Chromium: paste an API
//! key, start an execution of an agent that needs approval, watch its steps fill in live,
//! approve it, and see this month's usage drawn.

use serde_json::json;

use crate::browser::{Browser, Driver};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_starts_an_execution_watches_it_live_approves_it_and_sees_the_usage() {
    let app = TestApp::new();
    let addr = app.serve().await;
    let team = app.create_team("Acme").await;
    app.run_summary(&team.key, "Summarise last week").await;
    let careful = app
        .post_agent(
            &team.key,
            json!({"name": "Careful", "allowed_capabilities": ["summarize"], "requires_approval": true}),
        )
        .await;

    let driver = Driver::start().await;
    let browser = Browser::open(&driver).await;
    browser.go(&format!("http://{addr}/")).await;
    browser.fill("#api-key", &team.key).await;
    browser.click("#connect").await;
    browser.wait_for_text("#team", "Acme").await;
    browser.wait_for_text("#agent", "Careful").await;
    browser
        .script(&format!(
            "document.getElementById('agent').value = '{careful}';"
        ))
        .await;
    browser.fill("#request", "Summarise the launch notes").await;
    browser.click("#start").await;

    browser.wait_for_text("#status", "awaiting_approval").await;
    browser.wait_for_text("#steps", "pending").await;
    browser.click("#approve").await;
    browser.wait_for_text("#status", "succeeded").await;
    let steps = browser.wait_for_text("#steps", "succeeded").await;
    assert!(steps.contains("credits"), "{steps}");
    let bars = browser
        .script("return document.querySelectorAll('#usage rect').length;")
        .await;
    assert!(
        bars.as_u64().unwrap_or(0) >= 1,
        "the month's usage is drawn: {bars}"
    );
    assert_eq!(browser.text("#error").await, "", "no error shown");
    browser.close().await;

    let listed = app.get(&team.key, "/v1/executions?status=succeeded").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
}
