//! Whole AgentCore executions through the local stack: started through the API, the deployed
//! state machine file run by the local engine's interpreter, its tasks by the production task
//! handlers, the offline model (or a test's own text model).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use vellocity::agentcore::task::Task;
use vellocity::app::items::to_item;
use vellocity::app::{executions, keys};
use vellocity::domain::execution::{Execution, ExecutionStatus};
use vellocity::domain::ids::{ExecutionId, TeamId};
use vellocity::domain::step::StepStatus;
use vellocity::local::offline::LABEL;
use vellocity::ports::ai::{AiError, Llm, ModelTask, TextRequest, TextResponse};
use vellocity::ports::table::{Index, Query};
use vellocity_local::asl::run::Outcome;
use vellocity_local::workflow;

use crate::helpers::{Recording, TestApp};

/// A team with a brand: a company with a voice, its product, two partners; made through the
/// API like every other test's.
struct Team {
    app: TestApp,
    key: String,
    id: TeamId,
    company: String,
    product: String,
}

async fn team(app: TestApp) -> Team {
    let created = app.create_team("Acme").await;
    let key = created.key;
    let company = json!({"name": "Acme Cloud", "brand_voice": {"tone": "warm", "banned_phrases": ["synergy"]}});
    let company = app.post(&key, "/v1/companies", company).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let product = json!({"company_id": company, "name": "Deploy Guard", "categories": ["DevOps"], "use_cases": ["Safe deployments"]});
    let product = app.post(&key, "/v1/products", product).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, area) in [("Globex", "DevOps"), ("Initech", "Analytics")] {
        let partner = json!({"name": name, "solution_areas": [area]});
        assert_eq!(app.post(&key, "/v1/partners", partner).await.status, 201);
    }
    Team {
        id: TeamId::parse(&created.id).unwrap(),
        app,
        key,
        company,
        product,
    }
}

async fn agent(team: &Team, capabilities: &[&str]) -> String {
    let agent = json!({
        "name": "Launch crew", "allowed_capabilities": capabilities,
        "default_company_id": team.company, "default_product_id": team.product
    });
    team.app.post_agent(&team.key, agent).await
}

/// Starts an execution through the API and waits for its run: the stored execution and the
/// run's history.
async fn execute(team: &Team, agent: &str, request: &str) -> (Execution, Outcome) {
    let started = team
        .app
        .start_execution(&team.key, agent, json!({ "request": request }))
        .await;
    assert_eq!(started.status, 202, "{started:?}");
    let id = started.body["id"].as_str().unwrap().to_owned();
    let outcome = loop {
        if let Some(runs) = team.app.stack.workflows.wait(&id).await {
            break runs.outcome();
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    };
    let app = &team.app.stack.app;
    let id = ExecutionId::parse(&id).unwrap();
    let stored = executions::find(app, &team.id, &id).await.unwrap().unwrap();
    let stored = executions::with_outputs(app, &team.id, stored)
        .await
        .unwrap();
    (stored, outcome)
}

#[tokio::test]
async fn a_landing_page_step_writes_a_hero_sections_and_one_call_to_action_in_the_brand_voice() {
    let team = team(TestApp::new()).await;
    let agent = agent(&team, &["landing_page", "generate_text"]).await;
    let (execution, outcome) = execute(&team, &agent, "A landing page for Deploy Guard").await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.steps.len(), 1);
    let step = &execution.steps[0];
    assert_eq!(step.capability, "landing_page");
    let output = step.output.as_ref().unwrap();
    let page = output["text"].as_str().unwrap();
    assert!(page.starts_with(&format!("{LABEL} # ")), "{page}");
    assert_eq!(
        page.matches("\n## ").count(),
        3,
        "three sections by default"
    );
    assert_eq!(page.lines().filter(|l| l.starts_with("CTA: ")).count(), 1);
    assert_eq!(output["compliance"]["compliant"], true, "{output}");
    let credits = execution.credits;
    assert_eq!(credits.reserved, credits.used + credits.refunded);
    assert!(step.credits > 0);
}

#[tokio::test]
async fn an_execution_plans_runs_every_step_in_the_brand_voice_and_settles_its_credits() {
    let team = team(TestApp::new()).await;
    let agent = agent(
        &team,
        &[
            "generate_text",
            "social_posts",
            "generate_image",
            "cosell_match",
        ],
    )
    .await;
    let (execution, outcome) = execute(&team, &agent, "Write a launch blog post for Deploy Guard, LinkedIn posts, a banner image, and find co-sell partners").await;

    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    let capabilities: Vec<&str> = execution
        .steps
        .iter()
        .map(|s| s.capability.as_str())
        .collect();
    assert_eq!(
        capabilities,
        [
            "generate_text",
            "social_posts",
            "generate_image",
            "cosell_match"
        ]
    );
    assert!(execution
        .steps
        .iter()
        .all(|s| s.status == StepStatus::Succeeded));
    let blog = execution.steps[0].output.as_ref().unwrap();
    assert!(
        blog["text"].as_str().unwrap().starts_with(LABEL),
        "offline output is labelled"
    );
    assert_eq!(blog["compliance"]["compliant"], true);
    let image_key = execution.steps[2].output.as_ref().unwrap()["image_key"]
        .as_str()
        .unwrap();
    let png = team
        .app
        .stack
        .app
        .objects
        .get(image_key)
        .await
        .unwrap()
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let matches = &execution.steps[3].output.as_ref().unwrap()["matches"];
    assert_eq!(
        matches[0]["name"], "Globex",
        "the partner covering the product's solution area ranks first"
    );

    let credits = execution.credits;
    assert_eq!(credits.reserved, credits.used + credits.refunded);
    let step_credits: i64 = execution.steps.iter().map(|s| s.credits).sum();
    assert_eq!(credits.used, 2 + step_credits, "planning plus every step");
    assert_eq!(team.app.credits(&team.key).await, (200 - credits.used, 0));
    assert!(execution.tokens.contains_key("vellocity.offline-text-v1"));
    assert!(
        outcome.transitions() >= 9,
        "load, plan, choice, map, 4 steps, settle, done"
    );
}

/// A text model that refuses every request.
struct Refusing;

#[async_trait]
impl Llm for Refusing {
    async fn converse(&self, request: TextRequest) -> Result<TextResponse, AiError> {
        if matches!(request.task, Some(ModelTask::Plan(_))) {
            return vellocity::local::offline::OfflineModel
                .converse(request)
                .await;
        }
        Err(AiError::Rejected(
            "ValidationException: content filtered".into(),
        ))
    }
}

#[tokio::test]
async fn the_planner_and_the_writers_are_reminded_of_the_teams_recent_results() {
    let model = Arc::new(Recording::default());
    let team = team(TestApp::with_llm(model.clone())).await;
    let agent = agent(&team, &["generate_text"]).await;
    let (first, _) = execute(&team, &agent, "Write a launch blog post for Deploy Guard").await;
    assert_eq!(first.status, ExecutionStatus::Succeeded);
    let (first_prompts, from) = model.since(0);
    assert!(first_prompts.iter().all(|p| !p.contains("Recent results")));

    execute(&team, &agent, "Write a follow-up post on customer results").await;
    let (later, _) = model.since(from);
    assert!(!later.is_empty());
    for prompt in &later {
        assert!(
            prompt.contains("Recent results of this team:")
                && prompt.contains("Write a launch blog post for Deploy Guard"),
            "{prompt}"
        );
    }
}

#[tokio::test]
async fn each_step_output_is_kept_in_its_own_item_and_shown_with_the_execution() {
    let team = team(TestApp::new()).await;
    let agent = agent(&team, &["generate_text", "social_posts"]).await;
    let (execution, _) = execute(
        &team,
        &agent,
        "A blog post and social posts for Deploy Guard",
    )
    .await;
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert!(execution.steps.iter().all(|s| s.output.is_some()));

    // Progress rewrites the execution item: it keeps no output, so it stays small.
    let table = &team.app.stack.app.table;
    let item = table
        .get(&keys::execution(&team.id, &execution.id))
        .await
        .unwrap()
        .unwrap();
    let stored = item["steps"].as_str().unwrap();
    assert!(!stored.contains("\"output\""), "{stored}");
    let outputs = table
        .query(Query::prefix(
            Index::Table,
            keys::team_partition(&team.id),
            keys::step_outputs_prefix(&execution.id),
        ))
        .await
        .unwrap();
    assert_eq!(outputs.items.len(), execution.steps.len());

    let shown = team
        .app
        .get(&team.key, &format!("/v1/executions/{}", execution.id))
        .await;
    for (step, stored) in shown.body["plan"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&execution.steps)
    {
        assert_eq!(Some(&step["output"]), stored.output.as_ref());
        assert!(step["output"].is_object());
    }
}

#[tokio::test]
async fn an_execution_stored_with_its_outputs_inline_still_reads_with_them() {
    let team = team(TestApp::new()).await;
    let agent = agent(&team, &["generate_text"]).await;
    let (execution, _) = execute(&team, &agent, "A blog post for Deploy Guard").await;
    // As executions were stored before outputs were kept apart.
    let table = &team.app.stack.app.table;
    let older = Execution {
        outputs_apart: false,
        ..execution.clone()
    };
    let key = keys::execution(&team.id, &execution.id);
    table
        .put(to_item(&older, &key, "execution").unwrap(), None)
        .await
        .unwrap();
    table
        .delete(&keys::step_output(&team.id, &execution.id, 0), None)
        .await
        .unwrap();

    let shown = team
        .app
        .get(&team.key, &format!("/v1/executions/{}", execution.id))
        .await;
    assert_eq!(shown.status, 200);
    assert_eq!(
        Some(&shown.body["plan"][0]["output"]),
        execution.steps[0].output.as_ref()
    );
}

#[tokio::test]
async fn an_output_written_inline_by_the_previous_release_is_moved_to_its_own_item_when_read() {
    let team = team(TestApp::new()).await;
    let agent = agent(&team, &["generate_text"]).await;
    let (execution, _) = execute(&team, &agent, "A blog post for Deploy Guard").await;
    // A function of the previous release, mid-deployment, writes outputs inline.
    let table = &team.app.stack.app.table;
    let key = keys::execution(&team.id, &execution.id);
    table
        .put(to_item(&execution, &key, "execution").unwrap(), None)
        .await
        .unwrap();
    let output = keys::step_output(&team.id, &execution.id, 0);
    table.delete(&output, None).await.unwrap();

    let read = executions::find(&team.app.stack.app, &team.id, &execution.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.steps[0].output, execution.steps[0].output);
    assert!(
        table.get(&output).await.unwrap().is_some(),
        "the output has its own item again, so the next write of the steps keeps it"
    );
}

#[tokio::test]
async fn the_planner_recalls_the_three_latest_results_and_no_older_ones() {
    let model = Arc::new(Recording::default());
    let team = team(TestApp::with_llm(model.clone())).await;
    let agent = agent(&team, &["generate_text"]).await;
    for n in 1..=4 {
        let (execution, _) = execute(&team, &agent, &format!("Write launch post number {n}")).await;
        assert_eq!(execution.status, ExecutionStatus::Succeeded);
    }
    let (_, before) = model.since(0);
    execute(&team, &agent, "Write a recap of the launch").await;
    let (prompts, _) = model.since(before);
    let planner = &prompts[0];
    for n in 2..=4 {
        assert!(
            planner.contains(&format!("Write launch post number {n}")),
            "{planner}"
        );
    }
    assert!(!planner.contains("Write launch post number 1"), "{planner}");
    let newest = planner.find("number 4").unwrap();
    assert!(
        newest < planner.find("number 2").unwrap(),
        "newest first: {planner}"
    );
}

#[tokio::test]
async fn a_failing_step_fails_the_execution_and_refunds_what_was_not_used() {
    let team = team(TestApp::with_llm(Arc::new(Refusing))).await;
    let agent = agent(&team, &["cosell_match", "generate_text"]).await;
    let (execution, outcome) = execute(
        &team,
        &agent,
        "Find co-sell partners, then write a blog post",
    )
    .await;

    assert_eq!(outcome.result.unwrap_err().error, "ExecutionFailed");
    assert_eq!(execution.status, ExecutionStatus::Failed);
    let error = execution.error.unwrap();
    assert_eq!(error.code, "StepFailed");
    assert!(error.message.contains("content filtered"));
    assert_eq!(
        execution.steps[0].status,
        StepStatus::Succeeded,
        "the step before the failure ran and is charged"
    );
    assert_eq!(execution.steps[1].status, StepStatus::Pending);
    assert_eq!(execution.credits.used, 2 + execution.steps[0].credits);
    assert_eq!(
        execution.credits.reserved,
        execution.credits.used + execution.credits.refunded
    );
    assert_eq!(
        team.app.credits(&team.key).await,
        (200 - execution.credits.used, 0)
    );
}

#[test]
fn the_deployed_definition_loads_with_every_placeholder_filled() {
    assert!(workflow::machine().is_ok());
    for task in Task::ALL {
        let placeholder = task.placeholder();
        assert!(
            workflow::DEFINITION.contains(&format!("${{{placeholder}}}")),
            "{placeholder} is used"
        );
    }
}

#[tokio::test]
async fn the_demo_runs_the_main_job_to_a_succeeded_execution_with_results() {
    let app = TestApp::new();
    let mut out = Vec::new();
    let finished = vellocity_local::demo::run(&app.stack, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(finished.status, ExecutionStatus::Succeeded);
    assert!(finished.steps.len() >= 3);
    assert!(text.contains(&format!("Execution {}: succeeded", finished.id)));
    assert!(
        text.contains(LABEL),
        "results are printed, labelled as offline"
    );
    assert!(text.contains(&format!(
        "used {}, refunded {}",
        finished.credits.used, finished.credits.refunded
    )));
    assert_eq!(
        finished.credits.reserved,
        finished.credits.used + finished.credits.refunded
    );
}
