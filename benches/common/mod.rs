//! What the benches share.

use std::time::Duration;

use vellocity_local::engine::Runs;
use vellocity_local::{HttpRequest, Stack};

/// A request of the API as a client sends it, with its API key.
pub fn request(
    method: &str,
    path: &str,
    query: &str,
    key: &str,
    body: Option<String>,
) -> HttpRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
    if body.is_some() {
        headers.insert("content-type", "application/json".parse().unwrap());
    }
    HttpRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers,
        body: body.unwrap_or_default().into_bytes(),
    }
}

/// Creates the demo's agent (every capability its request plans) for the team of `key`;
/// returns the path that starts its executions and the demo's request as a body.
pub async fn demo_agent(stack: &Stack, key: &str) -> (String, String) {
    let agent = stack
        .handle(request(
            "POST",
            "/v1/agents",
            "",
            key,
            Some(r#"{"name":"Launch crew","allowed_capabilities":["generate_text","social_posts","generate_image","cosell_match","analyze_content"]}"#.into()),
        ))
        .await;
    let agent: serde_json::Value = serde_json::from_str(agent.body.as_deref().unwrap()).unwrap();
    let path = format!("/v1/agents/{}/executions", agent["id"].as_str().unwrap());
    let body = format!(r#"{{"request":"{}"}}"#, vellocity_local::demo::REQUEST);
    (path, body)
}

/// Starts an execution (`POST path`) and waits for its runs to end, the last successfully;
/// its id and the runs.
pub async fn run_execution(stack: &Stack, path: &str, key: &str, body: &str) -> (String, Runs) {
    let response = stack
        .handle(request("POST", path, "", key, Some(body.to_owned())))
        .await;
    assert_eq!(response.status, 202, "{:?}", response.body);
    let created: serde_json::Value =
        serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let runs = loop {
        if let Some(runs) = stack.workflows.wait(&id).await {
            break runs;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let last = &runs.0.last().unwrap().outcome;
    assert!(last.result.is_ok(), "{:?}", last.result);
    (id, runs)
}
