//! Executions and credits: reservation on creation, settlement on the end, conservation under
//! concurrency (on the embedded table and on DynamoDB Local).

use std::sync::Arc;

use serde_json::json;
use vellocity::app::credits::{self, LedgerKind};
use vellocity::app::executions::{self, reservation, Settlement};
use vellocity::app::records::PageRequest;
use vellocity::app::{resources, teams, App, Caller};
use vellocity::domain::agent::AgentDraft;
use vellocity::domain::execution::{Execution, ExecutionError, ExecutionRequest, ExecutionStatus};
use vellocity::domain::ids::TeamId;
use vellocity::error::Error;
use vellocity::ports::SystemClock;

struct Fixture {
    app: App,
    caller: Caller,
    agent_id: String,
}

async fn fixture(app: App) -> Fixture {
    let created = teams::create_team(&app, "Acme", "owner@example.com")
        .await
        .unwrap();
    let caller = created.owner_caller("test");
    let agent: AgentDraft = serde_json::from_value(
        json!({"name": "Summariser", "allowed_capabilities": ["summarize"]}),
    )
    .unwrap();
    let agent = resources::create(&app, &caller, agent).await.unwrap();
    Fixture {
        app,
        caller,
        agent_id: agent.id,
    }
}

impl Fixture {
    /// Starts an execution of the fixture's agent.
    async fn start(&self, request: ExecutionRequest) -> Result<Execution, Error> {
        executions::create(&self.app, &self.caller, &self.agent_id, request).await
    }
}

fn request(text: &str) -> ExecutionRequest {
    serde_json::from_value(json!({ "request": text })).unwrap()
}

async fn balances(fixture: &Fixture) -> (i64, i64) {
    let team = teams::get_team(&fixture.app, &fixture.caller)
        .await
        .unwrap();
    (team.credits.balance, team.credits.reserved)
}

async fn ledger_sum(fixture: &Fixture) -> i64 {
    let mut sum = 0;
    let mut page = PageRequest {
        limit: 100,
        cursor: None,
    };
    loop {
        let listing = credits::ledger(&fixture.app, &fixture.caller.team_id, page.clone())
            .await
            .unwrap();
        sum += listing.items.iter().map(|e| e.amount).sum::<i64>();
        match listing.next_cursor {
            Some(cursor) => page.cursor = vellocity::ports::table::Cursor::decode(&cursor),
            None => return sum,
        }
    }
}

fn in_memory() -> App {
    App::new(
        Arc::new(vellocity::local::table::EmbeddedTable::in_memory()),
        Arc::new(SystemClock),
    )
}

#[tokio::test]
async fn an_execution_reserves_the_most_it_can_cost_and_settles_exactly() {
    let fixture = fixture(in_memory()).await;
    let agent: AgentDraft =
        serde_json::from_value(json!({"name": "S", "allowed_capabilities": ["summarize"]}))
            .unwrap();
    let reserved = reservation(&agent);
    assert_eq!(
        reserved,
        2 + 5 * 5,
        "planning + 5 steps of summarize (1 + 4 per started 1k tokens, ≤ 800 tokens)"
    );

    let execution = fixture
        .start(request("Summarise our launch"))
        .await
        .unwrap();
    assert_eq!(execution.status, ExecutionStatus::Queued);
    assert_eq!(balances(&fixture).await, (200 - reserved, reserved));

    let done = Settlement {
        status: ExecutionStatus::Succeeded,
        used: 9,
        error: None,
    };
    let settled = executions::settle(
        &fixture.app,
        &fixture.caller.team_id,
        &execution.id,
        done.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        (settled.credits.used, settled.credits.refunded),
        (9, reserved - 9)
    );
    assert_eq!(balances(&fixture).await, (191, 0));
    let again = executions::settle(
        &fixture.app,
        &fixture.caller.team_id,
        &execution.id,
        Settlement { used: 20, ..done },
    )
    .await
    .unwrap();
    assert_eq!(again.credits.used, 9, "settling twice charges once");
    assert_eq!(balances(&fixture).await, (191, 0));
    let kinds: Vec<LedgerKind> = credits::ledger(
        &fixture.app,
        &fixture.caller.team_id,
        PageRequest {
            limit: 10,
            cursor: None,
        },
    )
    .await
    .unwrap()
    .items
    .into_iter()
    .map(|e| e.kind)
    .collect();
    assert_eq!(
        kinds,
        [
            LedgerKind::Refund,
            LedgerKind::Reserve,
            LedgerKind::PlanGrant
        ]
    );
    assert_eq!(ledger_sum(&fixture).await, 191);
}

#[tokio::test]
async fn a_failed_execution_keeps_its_error_and_refunds_what_was_not_used() {
    let fixture = fixture(in_memory()).await;
    let execution = fixture.start(request("x")).await.unwrap();
    let error = ExecutionError {
        code: "InvalidPlan".into(),
        message: "no valid plan".into(),
    };
    let failed = Settlement {
        status: ExecutionStatus::Failed,
        used: 2,
        error: Some(error.clone()),
    };
    let settled = executions::settle(&fixture.app, &fixture.caller.team_id, &execution.id, failed)
        .await
        .unwrap();
    let stored = executions::find(&fixture.app, &fixture.caller.team_id, &execution.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, settled);
    assert_eq!(stored.error, Some(error));
    assert_eq!(
        stored.credits.reserved,
        stored.credits.used + stored.credits.refunded
    );
    assert_eq!(balances(&fixture).await, (198, 0));
}

#[tokio::test]
async fn any_json_inputs_are_kept_as_sent() {
    let fixture = fixture(in_memory()).await;
    let inputs = json!({"budget": 1234.56, "huge": u64::MAX, "tags": ["a", {"b": null}]});
    let request: ExecutionRequest =
        serde_json::from_value(json!({"request": "x", "inputs": inputs})).unwrap();
    let execution = fixture.start(request).await.unwrap();
    let stored = executions::find(&fixture.app, &fixture.caller.team_id, &execution.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(serde_json::Value::Object(stored.inputs), inputs);
}

#[tokio::test]
async fn too_few_credits_answer_402_and_write_nothing() {
    let fixture = fixture(in_memory()).await;
    credits::adjust(&fixture.app, &fixture.caller.team_id, -190, "Leave 10")
        .await
        .unwrap();
    let refused = fixture.start(request("x")).await.unwrap_err();
    assert_eq!(
        (refused.status, refused.code),
        (402, "insufficient_credits")
    );
    assert_eq!(balances(&fixture).await, (10, 0));
    assert_eq!(ledger_sum(&fixture).await, 10, "no reservation entry");
}

#[tokio::test]
async fn references_must_be_the_teams_own_and_unknown_agents_are_not_found() {
    let fixture = fixture(in_memory()).await;
    let other = TeamId::generate();
    let foreign: ExecutionRequest = serde_json::from_value(
        json!({"request": "x", "company_id": format!("cmp_{}", &other.as_str()[5..])}),
    )
    .unwrap();
    let refused = fixture.start(foreign).await.unwrap_err();
    assert_eq!(
        (refused.status, refused.details.unwrap()[0].field.as_str()),
        (422, "company_id")
    );
    assert_eq!(balances(&fixture).await, (200, 0), "nothing reserved");
    let unknown = executions::create(
        &fixture.app,
        &fixture.caller,
        "agt_01JV8X2M7Q0000000000000000",
        request("x"),
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.status, 404);
    let empty = fixture.start(request("   ")).await.unwrap_err();
    assert_eq!(empty.status, 422);
}

/// 50 executions started at once on a team with credits for only some of them, then all
/// settled: nothing is lost, nothing goes negative, and the ledger explains the balance.
async fn credits_are_conserved_under_concurrency(app: App) {
    let fixture = Arc::new(fixture(app).await);
    let starts = (0..50).map(|i| {
        let fixture = fixture.clone();
        tokio::spawn(async move { fixture.start(request(&format!("job {i}"))).await })
    });
    let mut started = Vec::new();
    for result in futures_join(starts).await {
        match result {
            Ok(execution) => started.push(execution),
            Err(error) => assert!(matches!(error.status, 402 | 409), "{error}"),
        }
    }
    let per_execution: i64 = 27;
    assert!(
        !started.is_empty() && started.len() as i64 <= 200 / per_execution,
        "{} started",
        started.len()
    );
    let (balance, reserved) = balances(&fixture).await;
    assert!(balance >= 0);
    assert_eq!(reserved, per_execution * started.len() as i64);
    assert_eq!(balance + reserved, 200);

    let settles = started.iter().enumerate().map(|(i, execution)| {
        let (fixture, id) = (fixture.clone(), execution.id.clone());
        let used = (i as i64 * 7) % 30;
        tokio::spawn(async move {
            let outcome = Settlement {
                status: ExecutionStatus::Succeeded,
                used,
                error: None,
            };
            executions::settle(&fixture.app, &fixture.caller.team_id, &id, outcome).await
        })
    });
    let mut used_total = 0;
    for settled in futures_join(settles).await {
        let settled = settled.unwrap();
        assert_eq!(
            settled.credits.reserved,
            settled.credits.used + settled.credits.refunded
        );
        used_total += settled.credits.used;
    }
    assert_eq!(balances(&fixture).await, (200 - used_total, 0));
    assert_eq!(ledger_sum(&fixture).await, 200 - used_total);
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut results = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        results.push(handle.await.unwrap());
    }
    results
}

#[tokio::test]
async fn fifty_concurrent_executions_conserve_credits_on_the_embedded_table() {
    credits_are_conserved_under_concurrency(in_memory()).await;
}

#[tokio::test]
async fn fifty_concurrent_executions_conserve_credits_on_dynamodb_local() {
    let table = crate::dynamodb::fresh_table().await;
    credits_are_conserved_under_concurrency(App::new(Arc::new(table), Arc::new(SystemClock))).await;
}
