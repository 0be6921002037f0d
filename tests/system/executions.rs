//! The executions API through the local stack: a POST reserves credits and queues the
//! execution, the in-process queue and dispatcher start the deployed state machine, and the
//! credits are settled exactly — also under concurrency, on the embedded table and on
//! DynamoDB Local.

use std::sync::Arc;

use crate::helpers::seeded_stack;
use serde_json::{json, Value};
use vellocity::agentcore::dispatch::{deliver, Delivery, EXPRESS_RUN_CHECK_DELAY};
use vellocity::agentcore::task::Task;
use vellocity::agentcore::task::TaskError;
use vellocity::agentcore::workflow::load_context;
use vellocity::app::credits;
use vellocity::app::executions::{self, Settlement};
use vellocity::app::records::PageRequest;
use vellocity::app::usage;
use vellocity::domain::execution::TaskInput;
use vellocity::domain::execution::{ExecutionError, ExecutionStatus};
use vellocity::domain::ids::{ExecutionId, TeamId};
use vellocity::local::table::EmbeddedTable;
use vellocity::ports::table::Table;
use vellocity::ports::unconfigured::Unconfigured;
use vellocity::ports::workflows::Workflows;
use vellocity::ports::Clock;
use vellocity_local::samples::{owner, seed_execution, wait_while, TEAM};
use vellocity_local::Stack;

use crate::helpers::{Response, TestApp, TestTeam};

/// A team with a company, a product and an agent allowed two text capabilities.
struct Fixture {
    app: TestApp,
    team: TestTeam,
    agent: String,
}

fn writer() -> Value {
    json!({"name": "Writer", "allowed_capabilities": ["summarize", "seo_optimize"]})
}

/// What every execution of the fixture's agent reserves.
fn writer_reservation() -> i64 {
    executions::reservation(&serde_json::from_value(writer()).unwrap())
}

async fn fixture(app: TestApp) -> Fixture {
    let team = app.create_team("Acme").await;
    let agent = app.post_agent(&team.key, writer()).await;
    Fixture { app, team, agent }
}

impl Fixture {
    async fn start(&self, body: Value) -> Response {
        self.app
            .start_execution(&self.team.key, &self.agent, body)
            .await
    }

    async fn started(&self, request: &str) -> String {
        let started = self.start(json!({ "request": request })).await;
        assert_eq!(started.status, 202, "{started:?}");
        started.body["id"].as_str().unwrap().to_owned()
    }

    async fn approval_agent(&self) -> String {
        self.app
            .post_agent(
                &self.team.key,
                json!({"name": "Careful", "allowed_capabilities": ["summarize"], "requires_approval": true}),
            )
            .await
    }

    /// Starts an execution of `agent` (one that needs approval) and waits until it waits.
    async fn waiting_for_approval(&self, agent: &str) -> String {
        let started = self
            .app
            .start_execution(&self.team.key, agent, json!({"request": "Summarise"}))
            .await;
        let id = started.body["id"].as_str().unwrap().to_owned();
        self.app
            .wait_for(&self.team.key, &id, "awaiting_approval")
            .await;
        id
    }

    async fn ledger_sum(&self) -> i64 {
        let team_id = TeamId::parse(&self.team.id).unwrap();
        let mut page = PageRequest {
            limit: 100,
            cursor: None,
        };
        let mut sum = 0;
        loop {
            let listing = credits::ledger(&self.app.stack.app, &team_id, page.clone())
                .await
                .unwrap();
            sum += listing.items.iter().map(|e| e.amount).sum::<i64>();
            match listing.next_cursor {
                Some(cursor) => page.cursor = vellocity::ports::table::Cursor::decode(&cursor),
                None => return sum,
            }
        }
    }
}

fn credits_of(execution: &Response) -> (i64, i64, i64) {
    let c = &execution.body["credits"];
    (
        c["reserved"].as_i64().unwrap(),
        c["used"].as_i64().unwrap(),
        c["refunded"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn an_execution_is_queued_with_its_credits_reserved_then_runs_and_settles_exactly() {
    let f = fixture(TestApp::new()).await;
    let started = f
        .start(json!({"request": "Summarise our launch and write SEO metadata for it"}))
        .await;
    assert_eq!(started.status, 202, "{started:?}");
    assert_eq!(started.body["status"], "queued");
    assert_eq!(credits_of(&started), (writer_reservation(), 0, 0));
    let id = started.body["id"].as_str().unwrap();

    let done = f.app.wait_for(&f.team.key, id, "succeeded").await;
    assert_eq!(done.body["status"], "succeeded", "{done:?}");
    let (reserved, used, refunded) = credits_of(&done);
    assert_eq!(reserved, used + refunded);
    assert!(used > 2, "planning and the steps are charged");
    let total = done.body["progress"]["total"].as_u64().unwrap();
    assert!(total >= 1);
    assert_eq!(done.body["progress"]["completed"].as_u64(), Some(total));
    let plan = done.body["plan"].as_array().unwrap();
    assert!(plan
        .iter()
        .all(|s| s["status"] == "succeeded" && s["output"].is_object()));
    assert!(done.body["tokens"]["vellocity.offline-text-v1"]["output"].as_i64() > Some(0));
    assert!(done.body["duration_seconds"].is_i64());
    assert!(done.body.get("approval_token").is_none());

    assert_eq!(f.app.credits(&f.team.key).await, (200 - used, 0));
    assert_eq!(
        f.ledger_sum().await,
        200 - used,
        "the ledger explains the balance"
    );
}

#[tokio::test]
async fn a_finished_execution_records_its_usage_for_its_hour() {
    let f = fixture(TestApp::new()).await;
    let id = f.started("Summarise our launch").await;
    let done = f.app.wait_for(&f.team.key, &id, "succeeded").await;
    let (_, used, _) = credits_of(&done);

    let team = TeamId::parse(&f.team.id).unwrap();
    let hour = usage::hour(f.app.clock.now());
    let meter = f
        .app
        .stack
        .app
        .table
        .get(&usage::meter_key(&team, &hour))
        .await
        .unwrap()
        .expect("the hour's usage item");
    assert_eq!(meter["executions"].as_i64(), Some(1));
    assert_eq!(meter["credits"].as_i64(), Some(used));
    assert!(meter["words"].as_i64() > Some(0));
    assert_eq!(meter["images"].as_i64(), Some(0));

    // Settling again (a retried task) changes nothing and counts nothing twice.
    let id = ExecutionId::parse(&id).unwrap();
    let failure = ExecutionError {
        code: "Late".into(),
        message: "a retried failure".into(),
    };
    let again = executions::settle(&f.app.stack.app, &team, &id, Settlement::failed(failure))
        .await
        .unwrap();
    assert_eq!(again.status, ExecutionStatus::Succeeded);
    let meter = f
        .app
        .stack
        .app
        .table
        .get(&usage::meter_key(&team, &hour))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meter["executions"].as_i64(), Some(1));
    assert_eq!(f.app.credits(&f.team.key).await, (200 - used, 0));
}

#[tokio::test]
async fn a_replayed_post_starts_one_execution() {
    let f = fixture(TestApp::new()).await;
    let path = format!("/v1/agents/{}/executions", f.agent);
    let send = |body| f.app.post_once(&f.team.key, &path, "launch-1", body);
    let first = send(r#"{"request": "Summarise our launch"}"#).await;
    let replay = send(r#"{"request": "Summarise our launch"}"#).await;
    assert_eq!((first.status, replay.status), (202, 202));
    assert_eq!(first.body["id"], replay.body["id"]);
    let changed = send(r#"{"request": "Something else"}"#).await;
    assert_eq!(changed.status, 422, "{changed:?}");

    let listed = f.app.get(&f.team.key, "/v1/executions").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    let id = first.body["id"].as_str().unwrap();
    let done = f.app.wait_for(&f.team.key, id, "succeeded").await;
    let (_, used, _) = credits_of(&done);
    assert_eq!(f.app.credits(&f.team.key).await, (200 - used, 0));
}

#[tokio::test]
async fn a_duplicated_queue_message_starts_a_second_express_run_that_does_no_work_twice() {
    let f = fixture(TestApp::new()).await;
    let id = f.started("Summarise our launch").await;
    let app = &f.app.stack.app;
    // The queue dispatched it; the same message again, as SQS may deliver it: the express
    // service starts a second run (it does not deduplicate names).
    let message = json!({"team_id": f.team.id, "execution_id": id}).to_string();
    let delivered = deliver(app, &message, 1).await;
    assert!(matches!(delivered, Delivery::Started(_)), "{delivered:?}");
    let done = f.app.wait_for(&f.team.key, &id, "succeeded").await;
    while f.app.stack.workflows.wait(&id).await.is_some() {}

    let (_, used, _) = credits_of(&done);
    assert_eq!(f.app.credits(&f.team.key).await, (200 - used, 0));
    assert_eq!(
        f.ledger_sum().await,
        200 - used,
        "one reservation, one refund"
    );
    let team = TeamId::parse(&f.team.id).unwrap();
    let events = executions::events_after(app, &team, &ExecutionId::parse(&id).unwrap(), None, 100)
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    for once in [
        "execution.started",
        "execution.planned",
        "execution.succeeded",
    ] {
        assert_eq!(
            kinds.iter().filter(|k| **k == once).count(),
            1,
            "{once}: {kinds:?}"
        );
    }
    assert!(f.app.stack.queue.dead_letters().is_empty());

    let poison = deliver(app, "{\"hello\": 1}", 1).await;
    assert!(
        matches!(poison, Delivery::DeadLetter(_)),
        "a message that is not an execution is refused: {poison:?}"
    );
}

/// The sample team's agent's execution `status`, written as a POST would (not dispatched).
async fn sample_execution(stack: &Stack, status: ExecutionStatus) -> TaskInput {
    let id = ExecutionId::generate();
    seed_execution(&stack.app, &owner(), id.as_str(), status)
        .await
        .unwrap();
    TaskInput {
        team_id: TeamId::parse(TEAM).unwrap(),
        execution_id: id,
    }
}

#[tokio::test]
async fn only_the_express_run_that_claimed_an_execution_goes_on_and_a_durable_run_always_does() {
    let stack = seeded_stack(Arc::new(EmbeddedTable::in_memory())).await;
    let input = sample_execution(&stack, ExecutionStatus::Queued).await;
    let app = &stack.app;

    load_context(app, &input, Some("run-a")).await.unwrap();
    let again = load_context(app, &input, Some("run-a")).await;
    assert!(
        again.is_ok(),
        "the claiming run's own retry goes on: {again:?}"
    );
    let other = load_context(app, &input, Some("run-b")).await;
    assert!(
        matches!(other, Err(TaskError::DuplicateRun(_))),
        "{other:?}"
    );
    let durable = load_context(app, &input, None).await;
    assert!(
        durable.is_ok(),
        "the durable run continues what the express one began: {durable:?}"
    );
}

/// The check the dispatcher queues after an express run, due `due_in` seconds from now.
fn check(input: &TaskInput, app: &vellocity::app::App, due_in: i64) -> String {
    let at = app.clock.now().unix_timestamp() + due_in;
    json!({"team_id": input.team_id, "execution_id": input.execution_id, "check_at": at})
        .to_string()
}

#[tokio::test]
async fn the_check_after_an_express_run_continues_an_unsettled_execution_durably_once_it_is_due() {
    let stack = seeded_stack(Arc::new(EmbeddedTable::in_memory())).await;
    let app = &stack.app;
    // An express run that claimed its execution and then ended (timed out) mid-way.
    let stranded = sample_execution(&stack, ExecutionStatus::Running).await;
    let id = stranded.execution_id.as_str();

    let pending = stack.queue.pending().unwrap();
    let early = deliver(app, &check(&stranded, app, 600), 1).await;
    assert!(matches!(early, Delivery::Checked(_)), "{early:?}");
    assert_eq!(
        stack.queue.pending().unwrap(),
        pending + 1,
        "an early check is queued again for the rest of its delay"
    );
    assert!(
        stack.workflows.wait(id).await.is_none(),
        "not before it is due"
    );

    let due = deliver(app, &check(&stranded, app, 0), 1).await;
    assert!(matches!(due, Delivery::Continued(_)), "{due:?}");
    // The sample agent needs approval: the durable run plans and waits for it.
    let continued = wait_while(app, id, ExecutionStatus::Running).await.unwrap();
    assert_eq!(continued, ExecutionStatus::AwaitingApproval);
    let decided = approve(&stack, id).await;
    assert_eq!(
        decided,
        ExecutionStatus::Succeeded,
        "and runs on once approved"
    );
    let runs = stack.workflows.wait(id).await.expect("its run");
    assert!(
        runs.0.iter().all(|run| run.durable),
        "a durable run, no express one"
    );

    let settled = sample_execution(&stack, ExecutionStatus::Cancelled).await;
    let nothing = deliver(app, &check(&settled, app, 0), 1).await;
    assert!(matches!(nothing, Delivery::Checked(_)), "{nothing:?}");
    assert!(stack
        .workflows
        .wait(settled.execution_id.as_str())
        .await
        .is_none());
}

/// Approves the sample execution `id`'s plan as its owner; the status it ends in.
async fn approve(stack: &Stack, id: &str) -> ExecutionStatus {
    let caller = vellocity::app::Caller {
        team_id: TeamId::parse(TEAM).unwrap(),
        user_id: owner(),
        role: vellocity::domain::access::Role::Owner,
        scopes: vec![vellocity::domain::access::Scope::Write],
        credential: "test".into(),
        request_id: None,
    };
    let approve = vellocity::domain::execution::ApprovalRequest {
        approved: true,
        comment: None,
    };
    executions::decide(&stack.app, &caller, id, approve)
        .await
        .unwrap();
    wait_while(&stack.app, id, ExecutionStatus::Running)
        .await
        .unwrap()
}

#[test]
fn the_check_after_an_express_run_waits_out_the_run_and_its_slowest_task() {
    let template: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap(),
    )
    .unwrap();
    let express_limit = 300;
    let slowest_task = Task::ALL
        .iter()
        .map(|task| {
            template["Resources"][task.function()]["Properties"]["Timeout"]
                .as_u64()
                .or(template["Globals"]["Function"]["Timeout"].as_u64())
                .unwrap()
        })
        .max()
        .unwrap();
    assert!(EXPRESS_RUN_CHECK_DELAY.as_secs() >= express_limit + slowest_task);
    assert!(
        EXPRESS_RUN_CHECK_DELAY.as_secs() <= 900,
        "SQS delays a message 15 minutes at most"
    );
}

#[tokio::test]
async fn an_agents_listing_shows_executions_stored_before_listing_entries_among_newer_ones() {
    let f = fixture(TestApp::new()).await;
    let older = f.started("One").await;
    f.app.wait_for(&f.team.key, &older, "succeeded").await;
    let newer = f.started("Two").await;
    f.app.wait_for(&f.team.key, &newer, "succeeded").await;
    // The older one as the previous release stored it: the execution item itself on GSI1,
    // with no listing entry.
    let table = &f.app.stack.app.table;
    let partition = format!("TEAM#{}", f.team.id);
    let key = vellocity::ports::table::Key::new(partition.clone(), format!("EXEC#{older}"));
    let mut item = table.get(&key).await.unwrap().unwrap();
    item.insert(
        "GSI1PK".into(),
        format!("{partition}#AGENT#{}", f.agent).into(),
    );
    item.insert("GSI1SK".into(), format!("EXEC#{older}").into());
    table.put(item, None).await.unwrap();
    let entry = vellocity::ports::table::Key::new(partition, format!("AGENTEXEC#{older}"));
    assert!(table.delete(&entry, None).await.unwrap().is_some());

    let listed = |path: String| {
        let app = &f.app;
        let key = &f.team.key;
        async move { app.get(key, &path).await }
    };
    let first = listed(format!("/v1/executions?agent_id={}&limit=1", f.agent)).await;
    assert_eq!(first.body["items"][0]["id"], newer.as_str());
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = listed(format!(
        "/v1/executions?agent_id={}&limit=1&cursor={cursor}",
        f.agent
    ))
    .await;
    assert_eq!(second.body["items"][0]["id"], older.as_str());
    assert_eq!(second.body["items"][0]["status"], "succeeded");
    let activity = listed(format!("/v1/agents/{}/activity", f.agent)).await;
    let requests: Vec<&str> = activity.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"].as_str().unwrap())
        .collect();
    assert_eq!(requests, ["Two", "One"]);
}

#[tokio::test]
async fn executions_are_listed_newest_first_by_agent_and_status_a_page_at_a_time() {
    let f = fixture(TestApp::new()).await;
    let careful = f.approval_agent().await;
    let first = f.started("One").await;
    f.app.wait_for(&f.team.key, &first, "succeeded").await;
    let waiting = f
        .app
        .start_execution(&f.team.key, &careful, json!({"request": "Two"}))
        .await;
    let waiting = waiting.body["id"].as_str().unwrap().to_owned();
    f.app
        .wait_for(&f.team.key, &waiting, "awaiting_approval")
        .await;
    let third = f.started("Three").await;
    f.app.wait_for(&f.team.key, &third, "succeeded").await;

    let ids = |r: &Response| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = f.app.get(&f.team.key, "/v1/executions").await;
    assert_eq!(
        ids(&all),
        vec![third.clone(), waiting.clone(), first.clone()]
    );
    assert!(
        all.body["items"][0]["plan"][0].get("output").is_none(),
        "summaries only"
    );

    let by_agent = f
        .app
        .get(&f.team.key, &format!("/v1/executions?agent_id={}", f.agent))
        .await;
    assert_eq!(ids(&by_agent), vec![third.clone(), first.clone()]);
    let by_status = f
        .app
        .get(&f.team.key, "/v1/executions?status=awaiting_approval")
        .await;
    assert_eq!(ids(&by_status), vec![waiting.clone()]);

    let page = f
        .app
        .get(&f.team.key, "/v1/executions?status=succeeded&limit=1")
        .await;
    assert_eq!(ids(&page), vec![third.clone()]);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next = f
        .app
        .get(
            &f.team.key,
            &format!("/v1/executions?status=succeeded&limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(ids(&next), vec![first.clone()]);

    for bad in [
        "status=done",
        "agent_id=cmp_01JV8X2M7Q0000000000000002",
        "colour=red",
    ] {
        let refused = f
            .app
            .get(&f.team.key, &format!("/v1/executions?{bad}"))
            .await;
        assert_eq!(
            (refused.status, refused.code()),
            (400, "invalid_query"),
            "{bad}"
        );
    }
    let other = f.app.create_team("Other").await;
    let theirs = f.app.get(&other.key, "/v1/executions").await;
    assert!(ids(&theirs).is_empty(), "another team sees none of them");
    let foreign = f
        .app
        .get(&other.key, &format!("/v1/executions/{first}"))
        .await;
    assert_eq!(foreign.status, 404);
}

#[tokio::test]
async fn approval_resumes_the_workflow_and_rejection_ends_it_with_a_refund() {
    let f = fixture(TestApp::new()).await;
    let careful = f.approval_agent().await;
    let start = |request: &'static str| {
        let (app, key, careful) = (&f.app, f.team.key.clone(), careful.clone());
        async move {
            let started = app
                .start_execution(&key, &careful, json!({ "request": request }))
                .await;
            let id = started.body["id"].as_str().unwrap().to_owned();
            let waiting = app.wait_for(&key, &id, "awaiting_approval").await;
            assert_eq!(waiting.body["status"], "awaiting_approval", "{waiting:?}");
            assert!(waiting.body.get("approval_token").is_none());
            id
        }
    };
    let decide = |id: &str, body: Value| {
        let (app, key, path) = (&f.app, &f.team.key, format!("/v1/executions/{id}/approval"));
        async move { app.post(key, &path, body).await }
    };

    let approved = start("Summarise the launch").await;
    for (body, status) in [
        (json!({"approved": "yes"}), 400),
        (json!({"approved": true, "comment": "x".repeat(1_001)}), 422),
        (json!({"approved": true, "extra": 1}), 400),
    ] {
        let refused = decide(&approved, body).await;
        assert_eq!(refused.status, status, "{refused:?}");
    }
    let resumed = decide(
        &approved,
        json!({"approved": true, "comment": "Looks right"}),
    )
    .await;
    assert_eq!(resumed.status, 200, "{resumed:?}");
    assert_eq!(resumed.body["approval"]["approved"], true);
    let done = f.app.wait_for(&f.team.key, &approved, "succeeded").await;
    assert_eq!(done.body["status"], "succeeded");
    assert_eq!(done.body["approval"]["comment"], "Looks right");
    let again = decide(&approved, json!({"approved": true})).await;
    assert_eq!((again.status, again.code()), (409, "not_awaiting_approval"));

    let rejected = start("Summarise something off-brand").await;
    let before = f.app.credits(&f.team.key).await;
    let ended = decide(
        &rejected,
        json!({"approved": false, "comment": "Not this quarter"}),
    )
    .await;
    assert_eq!(ended.status, 200, "{ended:?}");
    assert_eq!(ended.body["status"], "cancelled");
    assert_eq!(ended.body["error"]["code"], "Rejected");
    assert_eq!(ended.body["error"]["message"], "Not this quarter");
    let (reserved, used, refunded) = credits_of(&ended);
    assert_eq!((used, refunded), (2, reserved - 2), "planning only");
    assert_eq!(
        f.app.credits(&f.team.key).await,
        (before.0 + refunded, before.1 - reserved)
    );
}

#[tokio::test]
async fn an_approval_that_can_no_longer_resume_its_workflow_ends_the_execution_with_a_refund() {
    let f = fixture(TestApp::new()).await;
    let id = f.waiting_for_approval(&f.approval_agent().await).await;
    // The run stops waiting behind the execution's back, as a timed-out wait would.
    f.app.stack.workflows.stop(&id, "gone").await.unwrap();

    let path = format!("/v1/executions/{id}/approval");
    let late = f
        .app
        .post(&f.team.key, &path, json!({"approved": true}))
        .await;
    assert_eq!((late.status, late.code()), (409, "approval_expired"));
    let ended = f
        .app
        .get(&f.team.key, &format!("/v1/executions/{id}"))
        .await;
    assert_eq!(ended.body["status"], "failed", "{ended:?}");
    assert_eq!(ended.body["error"]["code"], "ApprovalExpired");
    let (reserved, used, refunded) = credits_of(&ended);
    assert_eq!((used, refunded), (2, reserved - 2), "planning only");
    assert_eq!(f.app.credits(&f.team.key).await, (198, 0));
}

#[tokio::test]
async fn cancel_refunds_what_was_not_used_and_an_ended_execution_cannot_be_cancelled() {
    let f = fixture(TestApp::new()).await;
    let id = f.waiting_for_approval(&f.approval_agent().await).await;

    let cancel = format!("/v1/executions/{id}/cancel");
    let cancelled = f.app.post(&f.team.key, &cancel, json!({})).await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_eq!(cancelled.body["status"], "cancelled");
    let (reserved, used, refunded) = credits_of(&cancelled);
    assert_eq!((used, refunded), (2, reserved - 2));
    assert_eq!(f.app.credits(&f.team.key).await, (198, 0));

    let twice = f.app.post(&f.team.key, &cancel, json!({})).await;
    assert_eq!((twice.status, twice.code()), (409, "execution_finished"));
    let approve = f
        .app
        .post(
            &f.team.key,
            &format!("/v1/executions/{id}/approval"),
            json!({"approved": true}),
        )
        .await;
    assert_eq!(approve.status, 409);
    let unknown = f
        .app
        .post(
            &f.team.key,
            "/v1/executions/exe_01JV8X2M7Q0000000000000009/cancel",
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(f.app.credits(&f.team.key).await, (198, 0), "nothing moved");
}

#[tokio::test]
async fn bad_requests_are_refused_with_nothing_written_or_reserved() {
    let f = fixture(TestApp::new()).await;
    credits::adjust(
        &f.app.stack.app,
        &TeamId::parse(&f.team.id).unwrap(),
        -190,
        "Leave 10",
    )
    .await
    .unwrap();
    let poor = f.start(json!({"request": "x"})).await;
    assert_eq!((poor.status, poor.code()), (402, "insufficient_credits"));
    credits::adjust(
        &f.app.stack.app,
        &TeamId::parse(&f.team.id).unwrap(),
        190,
        "Restore",
    )
    .await
    .unwrap();

    let other = f.app.create_team("Other").await;
    let foreign_company = f.app.post_company(&other.key, "Theirs").await;
    let cases = [
        (json!({"request": "x", "company_id": foreign_company}), 422),
        (json!({"request": "   "}), 422),
        (json!({"request": "x".repeat(4_001)}), 422),
        (
            json!({"request": "x", "inputs": {"blob": "y".repeat(17_000)}}),
            422,
        ),
        (json!({"request": 7}), 400),
        (json!({"request": "x", "priority": "high"}), 400),
    ];
    for (body, status) in cases {
        let refused = f.start(body.clone()).await;
        assert_eq!(refused.status, status, "{body}: {refused:?}");
    }
    let unknown = f
        .app
        .start_execution(
            &f.team.key,
            "agt_01JV8X2M7Q0000000000000000",
            json!({"request": "x"}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let huge = f
        .start(json!({"request": "x", "inputs": {"blob": "y".repeat(300_000)}}))
        .await;
    assert_eq!(huge.status, 413);

    let listed = f.app.get(&f.team.key, "/v1/executions").await;
    assert_eq!(listed.body["items"], json!([]));
    assert_eq!(f.app.credits(&f.team.key).await, (200, 0));
    assert_eq!(f.ledger_sum().await, 200);
}

#[tokio::test]
async fn a_queue_that_refuses_the_message_fails_the_execution_with_a_full_refund() {
    let mut f = fixture(TestApp::new()).await;
    f.app.stack.app.queue = Arc::new(Unconfigured("EXECUTIONS_QUEUE_URL"));
    let refused = f.start(json!({"request": "x"})).await;
    assert_eq!(
        (refused.status, refused.code()),
        (503, "service_unavailable")
    );
    assert!(
        !refused.message().contains("EXECUTIONS_QUEUE_URL"),
        "what broke is for the log, not the client: {refused:?}"
    );
    let listed = f.app.get(&f.team.key, "/v1/executions").await;
    let execution = &listed.body["items"][0];
    assert_eq!(execution["status"], "failed");
    assert_eq!(execution["error"]["code"], "QueueUnavailable");
    assert_eq!(f.app.credits(&f.team.key).await, (200, 0));
}

/// 50 executions started at once on a team with credits for only some of them, each run to
/// its end by the workflow: nothing is lost, no balance goes negative, and the ledger explains
/// the final balance.
async fn credits_are_conserved_under_concurrency(app: TestApp) {
    let f = Arc::new(fixture(app).await);
    let starts: Vec<_> = (0..50)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move { f.start(json!({ "request": format!("job {i}") })).await })
        })
        .collect();
    let mut started = Vec::new();
    for start in starts {
        let response = start.await.unwrap();
        match response.status {
            202 => started.push(response.body["id"].as_str().unwrap().to_owned()),
            status => assert!(matches!(status, 402 | 409), "{response:?}"),
        }
    }
    assert!(
        !started.is_empty() && started.len() < 50,
        "{} started: credits for only some of them",
        started.len()
    );
    let (mut used_total, mut refunded_total) = (0, 0);
    for id in &started {
        let (balance, _) = f.app.credits(&f.team.key).await;
        assert!(balance >= 0);
        let done = f.app.wait_for(&f.team.key, id, "succeeded").await;
        assert_eq!(done.body["status"], "succeeded", "{done:?}");
        let (reserved, used, refunded) = credits_of(&done);
        assert_eq!(reserved, used + refunded);
        used_total += used;
        refunded_total += refunded;
    }
    // Every start reserved from what was available: the grant, plus what executions that
    // ended while others were starting gave back.
    assert!(
        started.len() as i64 * writer_reservation() <= 200 + refunded_total,
        "{} started, {refunded_total} refunded",
        started.len()
    );
    assert_eq!(f.app.credits(&f.team.key).await, (200 - used_total, 0));
    assert_eq!(f.ledger_sum().await, 200 - used_total);
}

#[tokio::test]
async fn fifty_concurrent_executions_conserve_credits_on_the_embedded_table() {
    credits_are_conserved_under_concurrency(TestApp::new()).await;
}

#[tokio::test]
async fn fifty_concurrent_executions_conserve_credits_on_dynamodb_local() {
    let table: Arc<dyn Table> = Arc::new(crate::dynamodb::fresh_table().await);
    credits_are_conserved_under_concurrency(TestApp::with_table(table)).await;
}

/// Eight cancels and eight rejections of executions waiting for approval, all at once:
/// exactly one of each answers 200, the others 409, and the credits settle once.
async fn concurrent_requests_end_an_execution_once(app: TestApp) {
    let f = Arc::new(fixture(app).await);
    let careful = f.approval_agent().await;
    for (action, body, refused) in [
        ("cancel", json!({}), "execution_finished"),
        (
            "approval",
            json!({"approved": false}),
            "not_awaiting_approval",
        ),
    ] {
        let id = f.waiting_for_approval(&careful).await;
        let path = format!("/v1/executions/{id}/{action}");
        let requests: Vec<_> = (0..8)
            .map(|_| {
                let (f, path, body) = (f.clone(), path.clone(), body.clone());
                tokio::spawn(async move { f.app.post(&f.team.key, &path, body).await })
            })
            .collect();
        let mut statuses = Vec::new();
        for request in requests {
            let response = request.await.unwrap();
            if response.status == 409 {
                assert_eq!(response.code(), refused, "{response:?}");
            }
            statuses.push(response.status);
        }
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 409, 409, 409, 409, 409, 409, 409],
            "{action}"
        );
        let ended = f
            .app
            .get(&f.team.key, &format!("/v1/executions/{id}"))
            .await;
        let (reserved, used, refunded) = credits_of(&ended);
        assert_eq!((used, refunded), (2, reserved - 2));
    }
    assert_eq!(f.app.credits(&f.team.key).await, (196, 0));
    assert_eq!(f.ledger_sum().await, 196);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cancels_or_rejections_end_an_execution_once_on_the_embedded_table() {
    concurrent_requests_end_an_execution_once(TestApp::new()).await;
}

#[tokio::test]
async fn concurrent_cancels_or_rejections_end_an_execution_once_on_dynamodb_local() {
    let table: Arc<dyn Table> = Arc::new(crate::dynamodb::fresh_table().await);
    concurrent_requests_end_an_execution_once(TestApp::with_table(table)).await;
}

/// An approval and a rejection of one waiting execution at once: exactly one wins, and the
/// execution ends the way the winner said (never approved yet cancelled as rejected).
async fn approval_and_rejection_at_once_end_the_winners_way(app: TestApp) {
    let f = Arc::new(fixture(app).await);
    let careful = f.approval_agent().await;
    for _ in 0..3 {
        let id = f.waiting_for_approval(&careful).await;
        let path = format!("/v1/executions/{id}/approval");
        let decide = |approved: bool| {
            let (f, path) = (f.clone(), path.clone());
            tokio::spawn(async move {
                f.app
                    .post(&f.team.key, &path, json!({ "approved": approved }))
                    .await
            })
        };
        let (approve, reject) = (decide(true), decide(false));
        let (approve, reject) = (approve.await.unwrap(), reject.await.unwrap());
        let mut statuses = [approve.status, reject.status];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{approve:?} {reject:?}");
        let expected = if approve.status == 200 {
            "succeeded"
        } else {
            "cancelled"
        };
        let ended = f.app.wait_for(&f.team.key, &id, expected).await;
        assert_eq!(ended.body["status"], expected, "{ended:?}");
        let (reserved, used, refunded) = credits_of(&ended);
        assert_eq!(reserved, used + refunded);
    }
    assert_eq!(
        f.app.credits(&f.team.key).await.1,
        0,
        "nothing stays reserved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_and_a_rejection_at_once_end_one_way_on_the_embedded_table() {
    approval_and_rejection_at_once_end_the_winners_way(TestApp::new()).await;
}

#[tokio::test]
async fn an_approval_and_a_rejection_at_once_end_one_way_on_dynamodb_local() {
    let table: Arc<dyn Table> = Arc::new(crate::dynamodb::fresh_table().await);
    approval_and_rejection_at_once_end_the_winners_way(TestApp::with_table(table)).await;
}

#[tokio::test]
async fn parking_for_approval_again_with_the_same_token_is_the_same_wait() {
    let f = fixture(TestApp::new()).await;
    let id = f.waiting_for_approval(&f.approval_agent().await).await;
    let team = TeamId::parse(&f.team.id).unwrap();
    let execution = ExecutionId::parse(&id).unwrap();
    let stored = executions::find(&f.app.stack.app, &team, &execution)
        .await
        .unwrap()
        .unwrap();
    let token = stored.approval_token.unwrap();
    // The approval task run again after its result was lost: still waiting, same token.
    assert!(
        executions::await_approval(&f.app.stack.app, &team, &execution, &token)
            .await
            .unwrap()
    );
    assert!(
        !executions::await_approval(&f.app.stack.app, &team, &execution, "another-token")
            .await
            .unwrap()
    );
    let approved = f
        .app
        .post(
            &f.team.key,
            &format!("/v1/executions/{id}/approval"),
            json!({"approved": true}),
        )
        .await;
    assert_eq!(approved.status, 200, "{approved:?}");
    f.app.wait_for(&f.team.key, &id, "succeeded").await;
}
