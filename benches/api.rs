//! Latency and throughput of the API through the local stack: router, authentication,
//! pipeline and handlers in-process, on the embedded table (in memory, and persisted to a
//! data directory as `vellocity-local serve` runs it); and whole AgentCore executions (POST,
//! queue, dispatcher, the deployed state machine in the interpreter, the offline model) with
//! their state transitions and table writes; and an hourly Marketplace metering run for many
//! customers; and usage reports over many settlements; and one team's requests while another
//! floods the API past its plan's limits; and the local interpreter's two query languages on
//! the same Map. Run: `cargo bench --bench api`.
//!
//! Every team here is on a plan whose request limits the bench does not reach (set through
//! `VELLOCITY_PLANS`, as an operator would), except the flooding team of [`noisy_neighbour`]:
//! the figures include the limiter's two conditional writes per request.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{demo_agent, request, run_execution};
use vellocity::app::{keys, teams, App};
use vellocity::domain::plans::Plans;
use vellocity::local::table::EmbeddedTable;
use vellocity::ports::table::{Condition, Table, Update};
use vellocity::ports::{Clock, SystemClock};
use vellocity_local::asl::definition::parse_machine;
use vellocity_local::asl::run::{Failure, Interpreter, TaskRunner};
use vellocity_local::{offline, Stack};

mod common;
#[path = "../tests/system/support/counting_table.rs"]
mod counting_table;

use counting_table::CountingTable;

const REQUESTS: usize = 1_000;

/// `trial` as the flooding team of [`noisy_neighbour`] has it; every other plan roomy.
const PLANS: &str = r#"{
    "trial": {"credits": 200, "requests_per_second": 5, "burst": 10},
    "enterprise": {"credits": 50000, "requests_per_second": 1000, "burst": 1000000, "requests_per_day": 100000000},
    "marketplace": 10000
}"#;

/// The local stack's app on `table`, its plans [`PLANS`].
fn bench_app(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> App {
    App {
        plans: Arc::new(Plans::from_env().unwrap()),
        ..offline(App::new(table, clock))
    }
}

/// A team on the roomy plan; returns its API key.
async fn roomy_team(app: &App, name: &str) -> String {
    let created = teams::create_team(app, name, "bench@example.com")
        .await
        .unwrap();
    move_to_plan(app, &created.team.id, "enterprise").await;
    created.key.secret
}

async fn move_to_plan(app: &App, team: &vellocity::domain::ids::TeamId, plan: &str) {
    app.table
        .update(Update {
            key: keys::team(team),
            actions: vec![vellocity::ports::table::UpdateAction::Set(
                "plan".into(),
                plan.into(),
            )],
            condition: Some(Condition::item_exists()),
        })
        .await
        .unwrap();
}

/// Prints a figure's median, p95 and throughput; returns the median.
fn report(name: &str, mut samples: Vec<Duration>, wall: Duration) -> Duration {
    samples.sort();
    let median = samples[samples.len() / 2];
    let p95 = samples[samples.len() * 95 / 100];
    let throughput = samples.len() as f64 / wall.as_secs_f64();
    println!(
        "{name:<44} n={:<5} median {:>8.1} µs   p95 {:>8.1} µs   {:>8.0} req/s",
        samples.len(),
        median.as_secs_f64() * 1e6,
        p95.as_secs_f64() * 1e6,
        throughput
    );
    median
}

/// Prints how a figure compares with the same figure's baseline measured in the same run.
fn ratio(name: &str, measured: Duration, baseline: Duration) {
    println!(
        "{name:<44} {:.2}× the in-memory median",
        measured.as_secs_f64() / baseline.as_secs_f64()
    );
}

/// POST, GET and list companies; returns the three medians.
async fn run(label: &str, table: Arc<dyn Table>) -> [Duration; 3] {
    let stack = Stack::new(bench_app(table, Arc::new(SystemClock)), 1.0).unwrap();
    let key = roomy_team(&stack.app, "Bench").await;

    let mut samples = Vec::with_capacity(REQUESTS);
    let mut ids = Vec::with_capacity(REQUESTS);
    let started = Instant::now();
    for i in 0..REQUESTS {
        let body = format!(
            r#"{{"name":"Company {i}","brand_voice":{{"tone":"bold","banned_phrases":["synergy"]}}}}"#
        );
        let t = Instant::now();
        let response = stack
            .handle(request("POST", "/v1/companies", "", &key, Some(body)))
            .await;
        samples.push(t.elapsed());
        assert_eq!(response.status, 201);
        let created: serde_json::Value =
            serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let post = report(
        &format!("{label}: POST /v1/companies"),
        samples,
        started.elapsed(),
    );

    let mut samples = Vec::with_capacity(REQUESTS);
    let started = Instant::now();
    for id in &ids {
        let t = Instant::now();
        let response = stack
            .handle(request(
                "GET",
                &format!("/v1/companies/{id}"),
                "",
                &key,
                None,
            ))
            .await;
        samples.push(t.elapsed());
        assert_eq!(response.status, 200);
    }
    let get = report(
        &format!("{label}: GET /v1/companies/{{id}}"),
        samples,
        started.elapsed(),
    );

    let mut samples = Vec::with_capacity(REQUESTS);
    let started = Instant::now();
    for _ in 0..REQUESTS {
        let t = Instant::now();
        let response = stack
            .handle(request("GET", "/v1/companies", "limit=20", &key, None))
            .await;
        samples.push(t.elapsed());
        assert_eq!(response.status, 200);
    }
    let list = report(
        &format!("{label}: GET /v1/companies?limit=20"),
        samples,
        started.elapsed(),
    );
    [post, get, list]
}

const EXECUTIONS: usize = 50;

/// Whole executions one after another: the POST's 202 to the settled execution, as a client
/// polling every millisecond sees it; in memory with the table's writes counted, and kept in
/// a data directory as `serve` keeps them (the table and the run histories, durably).
async fn executions() {
    let table = Arc::new(CountingTable::in_memory());
    let stack = Stack::new(bench_app(table.clone(), Arc::new(SystemClock)), 1.0).unwrap();
    let in_memory = execute("in memory", &stack, Some(&table)).await;
    let dir = std::env::temp_dir().join(format!("vellocity-bench-runs-{}", std::process::id()));
    let persisted = execute("persisted", &Stack::open(&dir).unwrap(), None).await;
    ratio("persisted: execution", persisted, in_memory);
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs [`EXECUTIONS`] executions on `stack`; returns their median time.
async fn execute(label: &str, stack: &Stack, table: Option<&CountingTable>) -> Duration {
    let writes_so_far = || table.map_or(0, |t| t.writes.load(Ordering::Relaxed));
    let queried_so_far = || table.map_or(0, |t| t.queried.load(Ordering::Relaxed));
    let caller = teams::create_team(&stack.app, "Bench", "bench@example.com")
        .await
        .unwrap();
    move_to_plan(&stack.app, &caller.team.id, "enterprise").await;
    let key = caller.key.secret.clone();
    vellocity::app::credits::adjust(&stack.app, &caller.team.id, 1_000_000, "bench")
        .await
        .unwrap();
    let (path, body) = demo_agent(stack, &key).await;
    let (mut samples, mut transitions, mut writes) = (Vec::new(), Vec::new(), Vec::new());
    let mut queried = Vec::new();
    let started = Instant::now();
    for _ in 0..EXECUTIONS {
        let (before, read_before) = (writes_so_far(), queried_so_far());
        let t = Instant::now();
        let (_, outcome) = run_execution(stack, &path, &key, &body).await;
        samples.push(t.elapsed());
        transitions.push(outcome.transitions(false) + outcome.transitions(true));
        writes.push(writes_so_far() - before);
        queried.push(queried_so_far() - read_before);
    }
    let median = report(
        &format!("{label}: execution, POST to settled (4 steps)"),
        samples,
        started.elapsed(),
    );
    transitions.sort();
    writes.sort();
    if table.is_some() {
        println!(
            "{label}: execution: median {} state transitions, {} table item writes (POST and workflow)",
            transitions[EXECUTIONS / 2],
            writes[EXECUTIONS / 2]
        );
        // Memory (and every other query) reads a bounded number of items: the team's tenth
        // execution reads as many as its fiftieth.
        println!(
            "{label}: execution: items read by queries (memory recall included): {} with 0-9 earlier executions, {} with {}-{} (median of ten each)",
            median_of(&queried[..10]),
            median_of(&queried[EXECUTIONS - 10..]),
            EXECUTIONS - 10,
            EXECUTIONS - 1
        );
    }
    median
}

fn median_of(counts: &[usize]) -> usize {
    let mut sorted = counts.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

const CUSTOMERS: usize = 1_000;

/// One hourly metering run for many subscribed customers (three dimensions each), against the
/// local Marketplace stand-in: the records and `BatchMeterUsage` calls it makes, its table
/// writes and time; then the same hour again, which must send nothing.
async fn metering() {
    use vellocity::domain::marketplace::SubscriptionChange;
    use vellocity::local::marketplace::LocalMarketplace;
    use vellocity::marketplace::events::SubscriptionEvent;
    use vellocity::marketplace::{fulfillment, metering, subscriptions, Settings};

    let table = Arc::new(CountingTable::in_memory());
    let clock = Arc::new(vellocity::local::clock::ManualClock::new(
        time::macros::datetime!(2026-11-21 12:00 UTC),
    ));
    let app = App {
        marketplace: Arc::new(LocalMarketplace::default()),
        ..App::new(table.clone(), clock.clone())
    };
    let settings = Settings::from_env(&app.plans, false).unwrap();
    for n in 0..CUSTOMERS {
        let account = format!("{:012}", 100_000_000_000u64 + n as u64);
        let token = LocalMarketplace::token("prod-bench", &account);
        fulfillment::fulfill(&app, &settings, &token, None)
            .await
            .unwrap();
        let event = SubscriptionEvent {
            change: SubscriptionChange::Subscribed,
            at: clock.now(),
            product_code: Some("prod-bench".into()),
            customer_identifier: None,
            aws_account_id: Some(account),
            license_arn: None,
            agreement_id: None,
            event_id: format!("bench-{n}"),
        };
        subscriptions::apply_event(&app, &settings, &event)
            .await
            .unwrap();
    }
    clock.advance(time::Duration::minutes(70));
    for label in ["first run", "same hour again"] {
        let before = table.writes.load(Ordering::Relaxed);
        let t = Instant::now();
        let report = metering::run(&app, &settings, metering::Scope::All)
            .await
            .unwrap();
        println!(
            "metering {label}: {} customers, {} records sent in {} BatchMeterUsage calls, {} table writes, {:.1} ms",
            report.customers,
            report.sent,
            report.calls,
            table.writes.load(Ordering::Relaxed) - before,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// What one settlement adds to the usage aggregates: an execution (a plan and two steps, of
/// one of five agents, by one of ten members) or a chat reply, on one of 30 days.
async fn settle_usage(table: &dyn Table, team: &vellocity::domain::ids::TeamId, n: usize) {
    use vellocity::app::records::commit;
    use vellocity::app::usage::aggregate_writes;
    use vellocity::domain::catalog::{DEFAULT_CHAT, DEFAULT_TEXT};
    use vellocity::domain::usage::{Attribution, Line, CHAT, EXECUTION, PLANNING};

    let line = |model: &str, capability: &str, credits| Line {
        model: Some(model.into()),
        capability: capability.into(),
        tokens: vellocity::domain::tokens::TokenUsage {
            input: 1_200,
            output: 600,
            ..Default::default()
        },
        images: 0,
        credits,
    };
    let chat = n % 2 == 1;
    let who = Attribution {
        day: format!("2026-11-{:02}", n % 30 + 1),
        agent: (!chat).then(|| format!("agent-{}", n % 5)),
        member: format!("member-{}", n % 10),
        source: if chat { CHAT } else { EXECUTION },
    };
    let lines = if chat {
        vec![line(DEFAULT_CHAT, CHAT, 3)]
    } else {
        vec![
            line(DEFAULT_TEXT, PLANNING, 2),
            line(DEFAULT_CHAT, "summarize", 4),
            line(DEFAULT_TEXT, "generate_text", 8),
        ]
    };
    commit(table, aggregate_writes(team, &who, &lines))
        .await
        .unwrap();
}

/// `GET /v1/usage` for 30 days by day, with 200 and with 20,000 executions and messages
/// behind it (half each): the report reads the days' aggregates, so its cost does not grow.
async fn usage_reports() {
    let table = Arc::new(CountingTable::in_memory());
    let clock = Arc::new(vellocity::local::clock::ManualClock::new(
        time::macros::datetime!(2026-11-30 12:00 UTC),
    ));
    let stack = Stack::new(bench_app(table.clone(), clock), 1.0).unwrap();
    let mut medians = Vec::new();
    for settled in [200, 20_000] {
        let created = teams::create_team(&stack.app, "Bench", "bench@example.com")
            .await
            .unwrap();
        move_to_plan(&stack.app, &created.team.id, "enterprise").await;
        for n in 0..settled {
            settle_usage(table.as_ref(), &created.team.id, n).await;
        }
        let key = created.key.secret;
        let mut samples = Vec::with_capacity(200);
        let before = table.queried.load(Ordering::Relaxed);
        let started = Instant::now();
        for _ in 0..200 {
            let query = "from=2026-11-01&to=2026-11-30&group_by=day";
            let t = Instant::now();
            let response = stack
                .handle(request("GET", "/v1/usage", query, &key, None))
                .await;
            samples.push(t.elapsed());
            assert_eq!(response.status, 200);
        }
        let read = (table.queried.load(Ordering::Relaxed) - before) / 200;
        medians.push(report(
            &format!("GET /v1/usage 30 days, {settled} behind ({read} items read)"),
            samples,
            started.elapsed(),
        ));
    }
    println!(
        "{:<44} {:.2}× the report with 200 behind it",
        "GET /v1/usage with 20,000 behind it",
        medians[1].as_secs_f64() / medians[0].as_secs_f64()
    );
}

/// One team's reads alone, then while another team (on a plan of 5 requests a second) floods
/// the API from four tasks and is refused: the limiter keeps the flood from the quiet team.
async fn noisy_neighbour() {
    let stack = Stack::new(
        bench_app(Arc::new(EmbeddedTable::in_memory()), Arc::new(SystemClock)),
        1.0,
    )
    .unwrap();
    let quiet = roomy_team(&stack.app, "Quiet").await;
    let noisy = teams::create_team(&stack.app, "Noisy", "noisy@example.com")
        .await
        .unwrap()
        .key
        .secret;
    let reads = |label: &'static str| {
        let (stack, quiet) = (stack.clone(), quiet.clone());
        async move {
            let mut samples = Vec::with_capacity(REQUESTS);
            let started = Instant::now();
            for _ in 0..REQUESTS {
                let t = Instant::now();
                let response = stack
                    .handle(request("GET", "/v1/team", "", &quiet, None))
                    .await;
                samples.push(t.elapsed());
                assert_eq!(response.status, 200);
            }
            report(label, samples, started.elapsed())
        }
    };
    let alone = reads("quiet team alone: GET /v1/team").await;
    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut flooders = Vec::new();
    for _ in 0..4 {
        let (stack, noisy, flooding, refused) = (
            stack.clone(),
            noisy.clone(),
            flooding.clone(),
            refused.clone(),
        );
        flooders.push(tokio::spawn(async move {
            while flooding.load(Ordering::Relaxed) {
                let response = stack
                    .handle(request("GET", "/v1/companies", "", &noisy, None))
                    .await;
                if response.status == 429 {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let beside = reads("quiet team beside a flood: GET /v1/team").await;
    flooding.store(false, Ordering::Relaxed);
    for flooder in flooders {
        flooder.await.unwrap();
    }
    println!(
        "{:<44} {} refused meanwhile",
        "the flooding team",
        refused.load(Ordering::Relaxed)
    );
    println!(
        "{:<44} {:.2}× its median alone",
        "quiet team beside a flood",
        beside.as_secs_f64() / alone.as_secs_f64()
    );
}

fn main() {
    // Before any thread starts: the plans every stack of the bench reads.
    unsafe { std::env::set_var("VELLOCITY_PLANS", PLANS) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let in_memory = run("in memory", Arc::new(EmbeddedTable::in_memory())).await;
        let dir = std::env::temp_dir().join(format!("vellocity-bench-{}", std::process::id()));
        let persisted = run(
            "persisted",
            Arc::new(EmbeddedTable::open(Path::new(&dir)).unwrap()),
        )
        .await;
        let names = [
            "POST /v1/companies",
            "GET /v1/companies/{id}",
            "GET /v1/companies?limit=20",
        ];
        for ((name, measured), baseline) in names.iter().zip(persisted).zip(in_memory) {
            ratio(&format!("persisted: {name}"), measured, baseline);
        }
        let _ = std::fs::remove_dir_all(dir);
        executions().await;
        metering().await;
        usage_reports().await;
        noisy_neighbour().await;
        query_languages().await;
    });
}

/// The same Map of 1,000 items, its items and `ItemSelector` written in JSONPath and in
/// JSONata, run by the local interpreter: what JSONata costs against JSONPath.
async fn query_languages() {
    let jsonpath = serde_json::json!({"StartAt": "Make", "States": {
        "Make": {"Type": "Pass", "Parameters": {"items.$": "States.ArrayRange(1, 1000, 1)"}, "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "End": true,
                 "ItemSelector": {"n.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
                 "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": true}}}}}});
    let jsonata = serde_json::json!({"QueryLanguage": "JSONata", "StartAt": "Make", "States": {
        "Make": {"Type": "Pass", "Output": {"items": "{% $range(1, 1000, 1) %}"}, "Next": "Each"},
        "Each": {"Type": "Map", "Items": "{% $states.input.items %}", "End": true,
                 "ItemSelector": {"n": "{% $states.context.Map.Item.Value %}", "i": "{% $states.context.Map.Item.Index %}"},
                 "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": true}}}}}});
    let time = |definition: serde_json::Value, label: &'static str| async move {
        let machine = parse_machine(&definition).unwrap();
        let interpreter = Interpreter::new(Arc::new(NoTasks));
        let (mut samples, started) = (Vec::new(), Instant::now());
        for _ in 0..MAP_RUNS {
            let t = Instant::now();
            let outcome = interpreter
                .run(&machine, "bench", serde_json::json!({}))
                .await;
            assert_eq!(outcome.result.unwrap().as_array().map(Vec::len), Some(1000));
            samples.push(t.elapsed());
        }
        report(label, samples, started.elapsed())
    };
    let by_path = time(jsonpath, "interpreter: JSONPath Map of 1,000 items").await;
    let by_jsonata = time(jsonata, "interpreter: JSONata Map of 1,000 items").await;
    println!(
        "{:<44} {:.2}× the JSONPath median",
        "interpreter: JSONata Map",
        by_jsonata.as_secs_f64() / by_path.as_secs_f64()
    );
}

/// Runs of each Map in [`query_languages`].
const MAP_RUNS: usize = 30;

/// A task runner for machines without tasks.
struct NoTasks;

#[async_trait::async_trait]
impl TaskRunner for NoTasks {
    async fn invoke(
        &self,
        function: &str,
        _: serde_json::Value,
    ) -> Result<serde_json::Value, Failure> {
        Err(Failure::new(
            "States.Runtime",
            format!("no task {function} here"),
        ))
    }
}
