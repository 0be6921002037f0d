//! Usage analytics: after a mix of executions (succeeded, a failed step, a rejected plan) and
//! chat replies, every grouping's rows add up to the totals, and the totals equal what the
//! executions and the conversations themselves say they used.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};
use vellocity::domain::capabilities::WritingBrief;
use vellocity::local::offline::OfflineModel;
use vellocity::ports::ai::{AiError, Llm, ModelTask, TextRequest, TextResponse};

use crate::helpers::{TestApp, TestTeam};

/// The offline model's answers, priced as the model asked for (so costs are not zero), and a
/// refusal for any writing step whose request says "refuse".
struct Priced;

#[async_trait]
impl Llm for Priced {
    async fn converse(&self, request: TextRequest) -> Result<TextResponse, AiError> {
        if let Some(ModelTask::Write(WritingBrief { request: asked, .. })) = &request.task {
            if asked.contains("refuse") {
                return Err(AiError::Rejected("content filtered".into()));
            }
        }
        let model = request.model.clone();
        let mut response = OfflineModel.converse(request).await?;
        response.model = model;
        Ok(response)
    }
}

const GROUPINGS: [&str; 6] = ["day", "model", "agent", "member", "capability", "source"];

/// What the executions and conversations of a team say they used: (tokens in, tokens out,
/// cost, credits).
async fn used_by_records(app: &TestApp, team: &TestTeam) -> (i64, i64, i64, i64) {
    let (mut input, mut output, mut cost, mut credits) = (0, 0, 0, 0);
    let executions = app.get(&team.key, "/v1/executions?limit=100").await;
    for summary in executions.body["items"].as_array().unwrap() {
        let id = summary["id"].as_str().unwrap();
        let execution = app
            .get(&team.key, &format!("/v1/executions/{id}"))
            .await
            .body;
        credits += execution["credits"]["used"].as_i64().unwrap();
        cost += execution["cost_micro_usd"].as_i64().unwrap();
        let mut by_model = 0;
        for usage in execution["tokens"].as_object().unwrap().values() {
            input += usage["input"].as_i64().unwrap();
            output += usage["output"].as_i64().unwrap();
            by_model += usage["cost_micro_usd"].as_i64().unwrap();
        }
        assert_eq!(
            by_model, execution["cost_micro_usd"],
            "no images, so the models' costs add up"
        );
    }
    let conversations = app.get(&team.key, "/v1/conversations").await;
    for conversation in conversations.body["items"].as_array().unwrap() {
        input += conversation["tokens"]["input"].as_i64().unwrap();
        output += conversation["tokens"]["output"].as_i64().unwrap();
        cost += conversation["cost_micro_usd"].as_i64().unwrap();
        credits += conversation["credits_used"].as_i64().unwrap();
    }
    (input, output, cost, credits)
}

fn figures(row: &Value) -> (i64, i64, i64, i64) {
    let n = |f: &str| row[f].as_i64().unwrap();
    (
        n("input_tokens"),
        n("output_tokens"),
        n("cost_micro_usd"),
        n("credits"),
    )
}

#[tokio::test]
async fn every_grouping_adds_up_to_totals_that_equal_the_executions_and_messages() {
    let app = TestApp::with_llm(Arc::new(Priced));
    let team = app.create_team("Acme").await;
    let agent = app
        .post_agent(
            &team.key,
            json!({"name": "Writer", "allowed_capabilities": ["summarize", "analyze_content"],
                   "models": {"writer": "anthropic.claude-3-5-haiku-20241022-v1:0"}}),
        )
        .await;
    let careful = app
        .post_agent(
            &team.key,
            json!({"name": "Careful", "allowed_capabilities": ["summarize"], "requires_approval": true}),
        )
        .await;
    for request in [
        "Summarise our launch notes and analyze the content",
        "Summarise and refuse",
    ] {
        let started = app
            .start_execution(&team.key, &agent, json!({ "request": request }))
            .await;
        let id = started.body["id"].as_str().unwrap().to_owned();
        app.wait_for(&team.key, &id, "succeeded").await;
    }
    let waiting = app
        .start_execution(&team.key, &careful, json!({"request": "Summarise"}))
        .await;
    let id = waiting.body["id"].as_str().unwrap().to_owned();
    app.wait_for(&team.key, &id, "awaiting_approval").await;
    let rejected = app
        .post(
            &team.key,
            &format!("/v1/executions/{id}/approval"),
            json!({"approved": false}),
        )
        .await;
    assert_eq!(rejected.body["status"], "cancelled", "{rejected:?}");
    let conversation = app.post_conversation(&team.key, json!({})).await;
    for content in ["Hello", "Three headlines"] {
        let sent = app
            .post(
                &team.key,
                &format!("/v1/conversations/{conversation}/messages"),
                json!({ "content": content }),
            )
            .await;
        assert_eq!(sent.status, 201, "{sent:?}");
    }

    let expected = used_by_records(&app, &team).await;
    assert!(expected.2 > 0 && expected.3 > 0, "{expected:?}");
    for group_by in GROUPINGS {
        let report = app
            .get(
                &team.key,
                &format!("/v1/usage?from=2026-11-01&to=2026-11-30&group_by={group_by}"),
            )
            .await;
        assert_eq!(report.status, 200, "{report:?}");
        assert_eq!(figures(&report.body["totals"]), expected, "{group_by}");
        let rows = report.body["rows"].as_array().unwrap();
        let mut sum = (0, 0, 0, 0);
        let mut requests = 0;
        for row in rows {
            let (a, b, c, d) = figures(row);
            sum = (sum.0 + a, sum.1 + b, sum.2 + c, sum.3 + d);
            requests += row["requests"].as_i64().unwrap();
        }
        assert_eq!(sum, expected, "{group_by} rows");
        assert_eq!(
            requests,
            report.body["totals"]["requests"].as_i64().unwrap()
        );
        let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
        match group_by {
            "day" => assert_eq!(keys, ["2026-11-21"]),
            "source" => assert_eq!(keys, ["chat", "execution"]),
            "capability" => {
                for key in ["analyze_content", "chat", "planning", "summarize"] {
                    assert!(keys.contains(&key), "{keys:?}");
                }
            }
            "model" => assert!(
                keys.contains(&"none"),
                "the deterministic step's credits: {keys:?}"
            ),
            "agent" => assert_eq!(keys.len(), 3, "two agents and chat's none: {keys:?}"),
            _ => {}
        }
    }
    let outside = app
        .get(&team.key, "/v1/usage?from=2026-10-01&to=2026-10-31")
        .await;
    assert_eq!(outside.body["rows"], json!([]));
    assert_eq!(figures(&outside.body["totals"]), (0, 0, 0, 0));
}

#[tokio::test]
async fn bad_periods_and_groupings_are_refused_in_the_envelope() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    for (query, status, code) in [
        ("from=2026-13-01", 400, "invalid_query"),
        ("to=yesterday", 400, "invalid_query"),
        ("group_by=team", 400, "invalid_query"),
        ("from=2026-11-30&to=2026-11-01", 422, "validation_failed"),
        ("from=2025-01-01&to=2026-11-30", 422, "validation_failed"),
        ("period=month", 400, "invalid_query"),
    ] {
        let answer = app.get(&team.key, &format!("/v1/usage?{query}")).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{query}: {answer:?}"
        );
    }
    let default = app.get(&team.key, "/v1/usage").await;
    assert_eq!(
        (
            default.body["from"].clone(),
            default.body["to"].clone(),
            default.body["group_by"].clone()
        ),
        (json!("2026-11-01"), json!("2026-11-21"), json!("day"))
    );
}
