//! What deploys agrees with what runs: the route table, the function binaries, the template's
//! functions and API events, and the sample events in `events/` (each of which is run through
//! its function's real handler, as `cargo lambda invoke --data-file` would).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use http_body_util::BodyExt;
use serde_json::json;
use serde_yaml::Value as Yaml;
use vellocity::agentcore::task::Task;
use vellocity::agentcore::watchdog;
use vellocity::agentcore::workflow;
use vellocity::api::routes::{RouteId, ROUTES};
use vellocity::api::stream;
use vellocity::api::{authorizer, handlers, openapi};
use vellocity::app::api_keys::secret_hash;
use vellocity::app::{executions, keys, App};
use vellocity::aws::dynamodb::DynamoDbTable;
use vellocity::domain::execution::ExecutionStatus;
use vellocity::domain::ids::{ExecutionId, TeamId};
use vellocity::domain::plans::Plans;
use vellocity::lambda::agentcore::{dispatch_batch, settle_dead_letters};
use vellocity::lambda::routes::{handle_event, stream_event};
use vellocity::local::table::EmbeddedTable;
use vellocity::marketplace::pages::PAGES;
use vellocity::ports::table::{Table, INDEXES, PK, SK, TTL};
use vellocity::ports::unconfigured::Unconfigured;
use vellocity::ports::SystemClock;
use vellocity_local::samples::{self, owner, seed_execution, wait_while, SAMPLE_SECRET, TEAM};

use crate::dynamodb;
use crate::helpers::seeded_stack;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn template() -> Yaml {
    serde_yaml::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap()).unwrap()
}

#[test]
fn every_route_has_a_binary_a_template_function_and_a_sample_event() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut api_events = BTreeSet::new();
    for (_, resource) in resources {
        if let Some(events) = resource["Properties"]["Events"].as_mapping() {
            for (_, event) in events {
                if event["Type"] == "Api" {
                    let props = &event["Properties"];
                    api_events.insert((
                        props["Method"].as_str().unwrap().to_uppercase(),
                        props["Path"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
    }
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .chain(
            PAGES
                .iter()
                .map(|p| (p.method.to_owned(), p.path.to_owned())),
        )
        .chain([("GET".to_owned(), openapi::PATH.to_owned())])
        .collect();
    assert_eq!(
        api_events, routes,
        "the template's API events are exactly the route table, the public pages and the OpenAPI document"
    );
    let document = &template["Resources"]["GetOpenApiFunction"];
    assert_eq!(
        document["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("get-openapi")
    );
    let api = &document["Properties"]["Events"]["Api"]["Properties"];
    assert_eq!(api["Path"].as_str(), Some(openapi::PATH));
    assert_eq!(
        api["Auth"]["Authorizer"], "NONE",
        "the contract is readable without credentials"
    );
    assert!(
        document["Properties"]["Policies"].is_null(),
        "the document function touches nothing"
    );
    for page in PAGES {
        let function = &template["Resources"][page.function];
        assert_eq!(
            function["Metadata"]["BuildProperties"]["Binary"].as_str(),
            Some(page.binary)
        );
        let api = &function["Properties"]["Events"]["Api"]["Properties"];
        assert_eq!(api["Path"].as_str(), Some(page.path));
        assert_eq!(
            api["Auth"]["Authorizer"], "NONE",
            "{}: Marketplace posts buyers here without credentials",
            page.binary
        );
        let event: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root().join(format!("events/{}.json", page.binary))).unwrap(),
        )
        .unwrap();
        assert_eq!(event["resource"], page.path);
    }

    for route in ROUTES {
        let source =
            std::fs::read_to_string(root().join(format!("functions/src/bin/{}.rs", route.binary)))
                .unwrap_or_else(|e| panic!("binary for {}: {e}", route.binary));
        let endpoint = format!("handlers::endpoints::{:?}", route.id);
        assert!(
            source
                .match_indices(&endpoint)
                .any(|(at, _)| !source[at + endpoint.len()..].starts_with(char::is_alphanumeric)),
            "{} serves its own route's endpoint (and links no other handler)",
            route.binary
        );
        // A client is linked where the entry point wires it, configured where the template
        // sets it: the two agree.
        let variables =
            &template["Resources"][route.function]["Properties"]["Environment"]["Variables"];
        let set = |name: &str| !variables[name].is_null();
        let wires = |wire: &str| source.contains(&format!("wire::{wire}"));
        for (wire, wired, needed) in [
            (
                "queues",
                wires("queues"),
                set("EXECUTIONS_QUEUE_URL") || set("WEBHOOK_QUEUE_URL"),
            ),
            (
                "state_machine",
                wires("state_machine"),
                set("STATE_MACHINE_ARN"),
            ),
            ("result_links", wires("result_links"), set("RESULTS_BUCKET")),
        ] {
            assert_eq!(wired, needed, "{}: {wire}", route.binary);
        }
        assert!(
            !wires("bucket"),
            "{}: a route links to results and stores none, without the S3 client",
            route.binary
        );
        let function = &template["Resources"][route.function];
        assert_eq!(
            function["Type"], "AWS::Serverless::Function",
            "{} in template.yaml",
            route.function
        );
        assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda");
        assert_eq!(
            function["Metadata"]["BuildProperties"]["Binary"].as_str(),
            Some(route.binary)
        );
        let api = &function["Properties"]["Events"]["Api"]["Properties"];
        assert_eq!(api["Path"].as_str(), Some(route.path));
        assert_eq!(
            api["Method"].as_str().map(str::to_uppercase).as_deref(),
            Some(route.method)
        );
        let actions = serde_yaml::to_string(&function["Properties"]["Policies"]).unwrap();
        assert_eq!(
            route.method == "GET",
            !actions.contains("PutItem"),
            "{}: read-only routes get read-only access",
            route.binary
        );

        let event: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root().join(format!("events/{}.json", route.binary))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            event["resource"], route.path,
            "events/{}.json",
            route.binary
        );
        assert_eq!(event["httpMethod"], route.method);
    }

    let binaries: BTreeSet<String> = std::fs::read_dir(root().join("functions/src/bin"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let expected: BTreeSet<String> = ROUTES
        .iter()
        .map(|r| r.binary.to_owned())
        .chain(PAGES.iter().map(|p| p.binary.to_owned()))
        .chain(
            [
                "authorizer",
                "dispatcher",
                "marketplace-events",
                "meter-usage",
                "workflow-ended",
                "executions-dead-letters",
                "events-stream",
                "webhook-deliveries",
                "get-openapi",
            ]
            .map(String::from),
        )
        .chain(Task::ALL.iter().map(|t| t.binary().to_owned()))
        .collect();
    assert_eq!(
        binaries, expected,
        "a binary per route, page and workflow task, the authorizer, the dispatcher, the Marketplace consumers and the events outbox's"
    );
    let manifest = std::fs::read_to_string(root().join("functions/Cargo.toml")).unwrap();
    for binary in &binaries {
        assert!(
            manifest.contains(&format!("name = \"{binary}\"\ntest = false")),
            "functions/Cargo.toml declares {binary} without a test harness"
        );
    }
    assert_eq!(
        template["Resources"]["AuthorizerFunction"]["Metadata"]["BuildProperties"]["Binary"],
        "authorizer"
    );
}

/// The records the sample events name, in a fresh in-memory table.
async fn seeded_app() -> App {
    seeded_stack(Arc::new(EmbeddedTable::in_memory())).await.app
}

async fn seeded(table: Arc<dyn Table>) -> App {
    seeded_stack(table).await.app
}

/// Reads a sample event.
fn sample(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join(format!("events/{name}.json")))
        .unwrap_or_else(|e| panic!("events/{name}.json: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn every_task_sample_event_runs_through_its_task_function() {
    let app = seeded_app().await;
    // The samples name two executions: one run from start to finish, one parked for
    // approval and then failed.
    let (whole, parked) = (
        "exe_01JV8X2M7Q000000000000000A",
        "exe_01JV8X2M7Q000000000000000B",
    );
    seed_execution(&app, &owner(), whole, ExecutionStatus::Queued)
        .await
        .unwrap();
    seed_execution(&app, &owner(), parked, ExecutionStatus::Running)
        .await
        .unwrap();
    let order = [
        Task::LoadContext,
        Task::Plan,
        Task::RunStep,
        Task::Finish,
        Task::RequestApproval,
        Task::Fail,
    ];
    assert_eq!(order.len(), Task::ALL.len(), "every task has a sample");
    for task in order {
        let payload = sample(task.binary());
        let result = workflow::run_task(&app, task, &payload).await;
        assert!(result.is_ok(), "events/{}.json: {result:?}", task.binary());
    }
    let team_id = TeamId::parse(TEAM).unwrap();
    let find = |id: &str| {
        let (app, team_id, id) = (&app, &team_id, ExecutionId::parse(id).unwrap());
        async move { executions::find(app, team_id, &id).await.unwrap().unwrap() }
    };
    assert_eq!(find(whole).await.status, ExecutionStatus::Succeeded);
    let failed = find(parked).await;
    assert_eq!(
        (failed.status, failed.error.unwrap().code.as_str()),
        (ExecutionStatus::Failed, "StepFailed")
    );
    assert_eq!(
        failed.credits.refunded, failed.credits.reserved,
        "nothing ran"
    );
}

#[tokio::test]
async fn the_dispatcher_sample_starts_the_valid_message_and_reports_the_poison_one() {
    let app = seeded_app().await;
    let queued = "exe_01JV8X2M7Q000000000000000C";
    seed_execution(&app, &owner(), queued, ExecutionStatus::Queued)
        .await
        .unwrap();
    let event: SqsEvent = serde_json::from_value(sample("dispatcher")).unwrap();
    let poison = event.records[1].message_id.clone().unwrap();
    let response = dispatch_batch(&app, event).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, vec![poison], "only the poison message is reported");
    let started = wait_while(&app, queued, ExecutionStatus::Queued)
        .await
        .unwrap();
    assert_ne!(started, ExecutionStatus::Failed);
}

#[tokio::test]
async fn a_message_that_cannot_start_its_run_by_its_last_receive_fails_its_execution_with_a_refund()
{
    let seeded = seeded_app().await;
    let app = App {
        workflows: Arc::new(Unconfigured("STATE_MACHINE_ARN")),
        ..seeded
    };
    let queued = "exe_01JV8X2M7Q000000000000000C";
    seed_execution(&app, &owner(), queued, ExecutionStatus::Queued)
        .await
        .unwrap();
    let mut event: SqsEvent = serde_json::from_value(sample("dispatcher")).unwrap();
    event.records.truncate(1);
    let (team, id) = (
        TeamId::parse(TEAM).unwrap(),
        ExecutionId::parse(queued).unwrap(),
    );
    let before = executions::find(&app, &team, &id).await.unwrap().unwrap();

    let early = dispatch_batch(&app, event.clone()).await;
    assert_eq!(
        early.batch_item_failures.len(),
        1,
        "redelivered while receives remain"
    );
    let waiting = executions::find(&app, &team, &id).await.unwrap().unwrap();
    assert_eq!(waiting.status, ExecutionStatus::Queued);

    let receives = watchdog::MAX_RECEIVES.to_string();
    event.records[0]
        .attributes
        .insert("ApproximateReceiveCount".into(), receives);
    let last = dispatch_batch(&app, event).await;
    assert!(
        last.batch_item_failures.is_empty(),
        "consumed: nothing left to retry"
    );
    let failed = executions::find(&app, &team, &id).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.error.unwrap().code.as_str()),
        (ExecutionStatus::Failed, "DispatchFailed")
    );
    assert_eq!(
        failed.credits.refunded, before.credits.reserved,
        "nothing ran"
    );
}

#[tokio::test]
async fn the_dead_letter_sample_settles_its_execution_and_drops_the_message_naming_none() {
    let app = seeded_app().await;
    let queued = "exe_01JV8X2M7Q000000000000000C";
    seed_execution(&app, &owner(), queued, ExecutionStatus::Queued)
        .await
        .unwrap();
    let (team, id) = (
        TeamId::parse(TEAM).unwrap(),
        ExecutionId::parse(queued).unwrap(),
    );
    let before = team_credits(&app).await;
    let event: SqsEvent = serde_json::from_value(sample("executions-dead-letters")).unwrap();
    let response = settle_dead_letters(&app, event.clone()).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "nothing left to retry"
    );
    let failed = executions::find(&app, &team, &id).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.error.unwrap().code.as_str()),
        (ExecutionStatus::Failed, "DispatchFailed")
    );
    assert_eq!(failed.credits.refunded, failed.credits.reserved);
    let after = team_credits(&app).await;
    assert_eq!(after.reserved, before.reserved - failed.credits.reserved);
    // Delivered again: already settled, nothing moves.
    assert!(settle_dead_letters(&app, event)
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(team_credits(&app).await, after);
}

#[tokio::test]
async fn the_workflow_ended_sample_settles_the_execution_its_run_stranded() {
    let app = seeded_app().await;
    let (team, id) = (
        TeamId::parse(TEAM).unwrap(),
        ExecutionId::parse(samples::EXECUTION).unwrap(),
    );
    let waiting = executions::find(&app, &team, &id).await.unwrap().unwrap();
    assert_eq!(waiting.status, ExecutionStatus::AwaitingApproval);
    let before = team_credits(&app).await;

    let event: watchdog::RunEnded = serde_json::from_value(sample("workflow-ended")).unwrap();
    let ended = watchdog::on_run_ended(&app, event.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status, ExecutionStatus::Failed);
    assert_eq!(ended.error.as_ref().unwrap().code, "WorkflowTimedOut");
    let credits = ended.credits;
    assert_eq!(credits.reserved, credits.used + credits.refunded);
    let after = team_credits(&app).await;
    assert_eq!(after.reserved, before.reserved - credits.reserved);
    assert_eq!(after.balance, before.balance + credits.refunded);

    // Delivered twice, or after the run settled it itself: nothing changes.
    let again = watchdog::on_run_ended(&app, event).await.unwrap().unwrap();
    assert_eq!(again, ended);
    assert_eq!(team_credits(&app).await, after);
}

/// The samples' team's credits as stored.
async fn team_credits(app: &App) -> vellocity::domain::team::Credits {
    let team = TeamId::parse(TEAM).unwrap();
    let item = app.table.get(&keys::team(&team)).await.unwrap().unwrap();
    vellocity::app::items::from_item::<vellocity::domain::team::Team>(&item)
        .unwrap()
        .credits
}

#[test]
fn the_runs_and_queues_that_strand_nothing_are_wired_in_the_template() {
    let template = template();
    let resources = &template["Resources"];
    let redrive = &resources["ExecutionsQueue"]["Properties"]["RedrivePolicy"];
    assert_eq!(
        redrive["maxReceiveCount"].as_u64(),
        Some(u64::from(watchdog::MAX_RECEIVES)),
        "the dispatcher gives up on the receive the queue would dead-letter"
    );
    let function = &resources["WorkflowEndedFunction"];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("workflow-ended")
    );
    let pattern = &function["Properties"]["Events"]["RunEnded"]["Properties"]["Pattern"];
    assert_eq!(pattern["source"][0].as_str(), Some("aws.states"));
    let statuses: Vec<&str> = pattern["detail"]["status"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["FAILED", "TIMED_OUT", "ABORTED"]);
}

#[test]
fn the_routes_that_stream_are_deployed_behind_response_streaming_and_no_other() {
    let template = template();
    // The runners of the streaming routes (the chat route's with its model).
    let streams = |source: &str| {
        source.contains("run_streaming_route(") || source.contains("run_chat_route(")
    };
    for route in ROUTES {
        let function = &template["Resources"][route.function];
        let api = &function["Properties"]["Events"]["Api"]["Properties"];
        let binary =
            std::fs::read_to_string(root().join(format!("functions/src/bin/{}.rs", route.binary)))
                .unwrap();
        if stream::STREAMING.contains(&route.id) {
            // SAM's value; `STREAM` would silently deploy a buffered integration.
            assert_eq!(
                api["ResponseTransferMode"].as_str(),
                Some("RESPONSE_STREAM")
            );
            let timeout = function["Properties"]["Timeout"].as_u64().unwrap();
            assert_eq!(api["TimeoutInMillis"].as_u64(), Some(timeout * 1_000));
            assert!(
                stream::MAX_STREAM.as_secs() < timeout || route.id != RouteId::ListExecutionEvents,
                "an events stream ends before its function times out"
            );
            assert!(streams(&binary), "{}", route.binary);
        } else {
            assert!(api["ResponseTransferMode"].is_null(), "{}", route.binary);
            assert!(!streams(&binary), "{}", route.binary);
        }
    }
}

#[test]
fn each_default_plan_has_a_usage_plan_at_its_limits_and_the_authorizer_selects_it() {
    let template = template();
    let resources = &template["Resources"];
    assert_eq!(
        resources["Api"]["Properties"]["ApiKeySourceType"],
        "AUTHORIZER"
    );
    assert_eq!(
        resources["Api"]["Properties"]["Auth"]["ApiKeyRequired"],
        true
    );
    let named = reference(
        &resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
            ["VELLOCITY_USAGE_PLANS"],
    );
    let defaults = Plans::default();
    for plan in ["trial", "starter", "growth", "enterprise", "marketplace"] {
        let logical = format!("{}{}UsagePlan", plan[..1].to_uppercase(), &plan[1..]);
        let usage_plan = &resources[logical.as_str()]["Properties"];
        let limits = defaults.limits(plan);
        assert_eq!(
            usage_plan["Throttle"]["RateLimit"].as_u64(),
            Some(u64::from(limits.requests_per_second)),
            "{logical}"
        );
        assert_eq!(
            usage_plan["Throttle"]["BurstLimit"].as_u64(),
            Some(u64::from(limits.burst))
        );
        assert_eq!(
            usage_plan["Quota"]["Limit"].as_u64(),
            Some(u64::from(limits.requests_per_day))
        );
        assert_eq!(usage_plan["Quota"]["Period"], "DAY");
        assert!(
            named.contains(&format!("\"{plan}\":\"${{{logical}}}\"")),
            "the authorizer knows {logical}: {named}"
        );
    }
    for resource in resources.as_mapping().unwrap().values() {
        if let Some(events) = resource["Properties"]["Events"].as_mapping() {
            for event in events.values() {
                let auth = &event["Properties"]["Auth"];
                if auth["Authorizer"] == "NONE" {
                    assert_eq!(
                        auth["ApiKeyRequired"], false,
                        "a public route needs no usage key"
                    );
                }
            }
        }
    }
}

#[test]
fn every_function_that_ends_or_parks_an_execution_can_wake_the_next_waiting_one() {
    let template = template();
    let ending = [
        "CancelExecutionFunction",
        "DecideApprovalFunction",
        "FinishFunction",
        "FailFunction",
        "RequestApprovalFunction",
        "WorkflowEndedFunction",
        "ExecutionsDeadLettersFunction",
        "DispatcherFunction",
    ];
    for name in ending {
        let properties = &template["Resources"][name]["Properties"];
        assert_eq!(
            reference(&properties["Environment"]["Variables"]["EXECUTIONS_QUEUE_URL"]),
            "!Ref ExecutionsQueue",
            "{name} queues the dispatch of the oldest waiting execution when it gives a slot back"
        );
        let policies = serde_yaml::to_string(&properties["Policies"]).unwrap();
        assert!(policies.contains("sqs:SendMessage"), "{name}: {policies}");
        assert!(
            policies.contains("dynamodb:UpdateItem"),
            "{name}: {policies}"
        );
    }
    assert_eq!(
        reference(&template["Globals"]["Function"]["Environment"]["Variables"]["VELLOCITY_PLANS"]),
        "!Ref Plans",
        "the plan catalog (credits and limits) is the template's parameter"
    );
}

/// A value of the template as written, e.g. `!Ref ExecutionsQueue`.
fn reference(value: &Yaml) -> String {
    serde_yaml::to_string(value).unwrap().trim().to_owned()
}

/// The `${…}` placeholders of a definition file.
fn placeholders(file: &str) -> BTreeSet<String> {
    let definition = std::fs::read_to_string(root().join(file)).unwrap();
    let mut placeholders = BTreeSet::new();
    let mut rest = definition.as_str();
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').unwrap() + start;
        placeholders.insert(rest[start + 2..end].to_owned());
        rest = &rest[end..];
    }
    placeholders
}

/// Checks that `machine` deploys `file` as `kind`, substitutes exactly its placeholders, and
/// that each task placeholder is its function's ARN, which the machine may invoke.
fn check_machine(template: &Yaml, machine: &str, file: &str, kind: &str) -> BTreeSet<String> {
    let machine = &template["Resources"][machine]["Properties"];
    assert_eq!(machine["DefinitionUri"].as_str(), Some(file));
    assert_eq!(machine["Type"].as_str(), Some(kind));
    let placeholders = placeholders(file);
    let substitutions: BTreeSet<String> = machine["DefinitionSubstitutions"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(placeholders, substitutions, "{file}");
    let invoke = serde_yaml::to_string(&machine["Policies"]).unwrap();
    for task in Task::ALL
        .into_iter()
        .filter(|t| placeholders.contains(t.placeholder()))
    {
        let arn =
            serde_yaml::to_string(&machine["DefinitionSubstitutions"][task.placeholder()]).unwrap();
        assert!(
            arn.contains(&format!("{}.Arn", task.function())),
            "{} is {}'s ARN: {arn}",
            task.placeholder(),
            task.function()
        );
        assert_eq!(
            template["Resources"][task.function()]["Metadata"]["BuildProperties"]["Binary"]
                .as_str(),
            Some(task.binary())
        );
        assert!(
            invoke.contains(task.function()),
            "{file}'s machine may invoke {}",
            task.function()
        );
    }
    placeholders
}

#[test]
fn every_placeholder_of_the_state_machines_has_a_substitution_and_the_other_way_round() {
    let template = template();
    let standard = check_machine(
        &template,
        "AgentCoreStateMachine",
        "statemachines/agentcore.asl.json",
        "STANDARD",
    );
    let tasks: BTreeSet<String> = Task::ALL
        .iter()
        .map(|t| t.placeholder().to_owned())
        .collect();
    assert_eq!(standard, tasks, "every placeholder is a task function");

    let express = check_machine(
        &template,
        "AgentCoreExpressStateMachine",
        "statemachines/agentcore-express.asl.json",
        "EXPRESS",
    );
    let without_approval: BTreeSet<String> = Task::ALL
        .iter()
        .filter(|t| **t != Task::RequestApproval)
        .map(|t| t.placeholder().to_owned())
        .chain(["AgentCoreStateMachineArn".to_owned()])
        .collect();
    assert_eq!(
        express, without_approval,
        "the express machine waits for no approval; it continues on the standard one"
    );
    let express_machine = &template["Resources"]["AgentCoreExpressStateMachine"]["Properties"];
    assert_eq!(
        reference(&express_machine["DefinitionSubstitutions"]["AgentCoreStateMachineArn"]),
        "!Ref AgentCoreStateMachine"
    );
    assert!(
        serde_yaml::to_string(&express_machine["Policies"])
            .unwrap()
            .contains("StepFunctionsExecutionPolicy"),
        "the express machine may start the standard one's runs"
    );
    let dispatcher = &template["Resources"]["DispatcherFunction"];
    assert_eq!(
        dispatcher["Metadata"]["BuildProperties"]["Binary"],
        "dispatcher"
    );
    let variables = &dispatcher["Properties"]["Environment"]["Variables"];
    assert_eq!(
        reference(&variables["EXPRESS_STATE_MACHINE_ARN"]),
        "!Ref AgentCoreExpressStateMachine",
        "the dispatcher starts express runs"
    );
    assert_eq!(
        reference(&variables["STATE_MACHINE_ARN"]),
        "!Ref AgentCoreStateMachine",
        "and continues them durably after its check"
    );
}

#[tokio::test]
async fn every_sample_event_succeeds_through_its_functions_handler() {
    every_route_sample_succeeds(&seeded_app().await).await;
}

#[tokio::test]
async fn every_sample_event_succeeds_against_dynamodb_local_after_create_table_and_seeding() {
    let client = dynamodb::client().await;
    let table = DynamoDbTable::new(client, format!("vellocity-samples-{}", ulid::Ulid::new()));
    assert!(
        table.create().await.unwrap(),
        "create-table made a new table"
    );
    assert!(!table.create().await.unwrap(), "and again finds it there");
    every_route_sample_succeeds(&seeded(Arc::new(table)).await).await;
}

#[test]
fn the_table_template_yaml_deploys_has_the_shape_create_table_creates() {
    let template = template();
    let table = &template["Resources"]["Table"]["Properties"];
    let keys = |schema: &Yaml| -> Vec<(String, String)> {
        schema
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| {
                let text = |f: &str| k[f].as_str().unwrap().to_owned();
                (text("AttributeName"), text("KeyType"))
            })
            .collect()
    };
    let pair = |pk: &str, sk: &str| {
        vec![
            (pk.to_owned(), "HASH".to_owned()),
            (sk.to_owned(), "RANGE".to_owned()),
        ]
    };
    assert_eq!(keys(&table["KeySchema"]), pair(PK, SK));
    let indexes = table["GlobalSecondaryIndexes"].as_sequence().unwrap();
    assert_eq!(indexes.len(), INDEXES.len());
    for ((name, pk, sk), index) in INDEXES.iter().zip(indexes) {
        assert_eq!(index["IndexName"].as_str(), Some(*name));
        assert_eq!(keys(&index["KeySchema"]), pair(pk, sk));
        assert_eq!(index["Projection"]["ProjectionType"].as_str(), Some("ALL"));
    }
    let mut declared: Vec<&str> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a["AttributeName"].as_str().unwrap())
        .collect();
    declared.sort();
    let mut expected: Vec<&str> = [PK, SK]
        .into_iter()
        .chain(INDEXES.iter().flat_map(|(_, pk, sk)| [*pk, *sk]))
        .collect();
    expected.sort();
    assert_eq!(declared, expected);
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(TTL)
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"].as_str(),
        Some("NEW_IMAGE"),
        "the events outbox leaves through the stream, as create-table makes it"
    );
}

/// Runs every route's sample event through its handler, as `cargo lambda invoke` would.
async fn every_route_sample_succeeds(app: &App) {
    // Reads and changes first, removals last, as a person trying the samples would.
    let removes = |binary: &str| {
        binary.starts_with("delete-")
            || binary.starts_with("remove-")
            || binary.starts_with("revoke-")
    };
    let ordered = ROUTES
        .iter()
        .filter(|r| !removes(r.binary))
        .chain(ROUTES.iter().filter(|r| removes(r.binary)));
    for route in ordered {
        let text =
            std::fs::read_to_string(root().join(format!("events/{}.json", route.binary))).unwrap();
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("events/{}.json: {e}", route.binary));
        let response = handle_event(app, handlers::endpoint(route.id), request).await;
        let status = response.status().as_u16();
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        assert!(
            (200..300).contains(&status),
            "events/{}.json answered {status}: {body}",
            route.binary
        );
        assert_eq!(
            response.headers()["x-request-id"],
            "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
        );
    }
}

/// The send-message sample event asking for a stream (and without its Idempotency-Key, which
/// asks for a whole answer).
fn streaming_message_event() -> lambda_http::Request {
    let mut event = sample("send-message");
    for headers in ["headers", "multiValueHeaders"] {
        let map = event[headers].as_object_mut().unwrap();
        map.remove("Idempotency-Key");
        map.insert(
            "Accept".into(),
            match headers {
                "headers" => json!("text/event-stream"),
                _ => json!(["text/event-stream"]),
            },
        );
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn the_streaming_message_function_streams_the_reply_when_asked_and_answers_whole_otherwise() {
    let app = seeded_app().await;
    let response = stream_event(
        &app,
        handlers::endpoints::SendMessage,
        streaming_message_event(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().contains_key("ratelimit"));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.starts_with("event: delta\n"), "{text}");
    assert!(text.contains("\n\nevent: reply\ndata: {"), "{text}");

    let whole = lambda_http::request::from_str(
        &std::fs::read_to_string(root().join("events/send-message.json")).unwrap(),
    )
    .unwrap();
    let response = stream_event(&app, handlers::endpoints::SendMessage, whole).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let exchange: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(exchange["reply"]["role"], "assistant");
}

#[tokio::test]
async fn the_authorizer_sample_event_is_allowed_with_the_team_context() {
    let app = seeded_app().await;
    let text = std::fs::read_to_string(root().join("events/authorizer.json")).unwrap();
    let request = serde_json::from_str(&text).unwrap();
    let response = authorizer::authorize(&app, request).await.unwrap();
    assert_eq!(response.policy_document["Statement"][0]["Effect"], "Allow");
    assert_eq!(
        response.policy_document["Statement"][0]["Resource"],
        "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"
    );
    assert_eq!(response.context["team_id"], TEAM);
    assert_eq!(response.context["role"], "owner");
}

#[tokio::test]
async fn the_authorizer_refuses_a_revoked_key_with_unauthorized() {
    let app = seeded_app().await;
    app.table
        .delete(&keys::api_key_lookup(&secret_hash(SAMPLE_SECRET)), None)
        .await
        .unwrap();
    let text = std::fs::read_to_string(root().join("events/authorizer.json")).unwrap();
    let error = authorizer::authorize(&app, serde_json::from_str(&text).unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), authorizer::UNAUTHORIZED);
}

#[tokio::test]
async fn the_events_stream_sample_hands_its_event_to_the_sample_endpoint_and_a_spent_attempt_changes_nothing(
) {
    use vellocity::lambda::events::{attempt_batch, handle_stream};
    use vellocity::ports::table::Key;

    let app = seeded_app().await;
    let stream = serde_json::from_value(sample("events-stream")).unwrap();
    let answer = handle_stream(&app, stream).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let delivery = Key::new(
        format!("TEAM#{}", samples::TEAM),
        format!(
            "WHDELIVERY#{}#evt_01JV8X2M7Q000000000000000D",
            samples::WEBHOOK
        ),
    );
    assert!(
        app.table.get(&delivery).await.unwrap().is_some(),
        "the sample endpoint wants every event"
    );
    let batch: SqsEvent = serde_json::from_value(sample("webhook-deliveries")).unwrap();
    let answer = attempt_batch(&app, batch).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
}

#[tokio::test]
async fn every_marketplace_sample_event_runs_through_its_function() {
    use vellocity::lambda::marketplace::{apply_batch, handle_page_event};
    use vellocity::local::marketplace::LocalMarketplace;
    use vellocity::marketplace::metering::{self, Scope};
    use vellocity::marketplace::pages::PageId;

    let mut app = App::new(Arc::new(EmbeddedTable::in_memory()), Arc::new(SystemClock));
    app.marketplace = Arc::new(LocalMarketplace::default());
    let settings = vellocity::marketplace::Settings::from_env(&app.plans, false).unwrap();

    let fulfillment = lambda_http::request::from_str(
        &std::fs::read_to_string(root().join("events/marketplace-fulfillment.json")).unwrap(),
    )
    .unwrap();
    let answered = handle_page_event(&app, &settings, PageId::Fulfillment, fulfillment).await;
    assert_eq!(
        answered.status(),
        303,
        "the sample token resolves and redirects"
    );
    // The sample references are signed by another deployment's key: a friendly 400 page.
    for (page, binary) in [
        (PageId::RegistrationForm, "registration-form"),
        (PageId::Register, "register"),
    ] {
        let event = lambda_http::request::from_str(
            &std::fs::read_to_string(root().join(format!("events/{binary}.json"))).unwrap(),
        )
        .unwrap();
        let answered = handle_page_event(&app, &settings, page, event).await;
        assert_eq!(answered.status(), 400, "{binary}");
        assert_eq!(
            answered.headers()["content-type"],
            "text/html; charset=utf-8"
        );
    }

    let batch: SqsEvent = serde_json::from_value(sample("marketplace-events")).unwrap();
    let records = batch.records.len();
    let response = apply_batch(&app, &settings, batch).await;
    assert!(records >= 9);
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );

    let _scheduled: serde_json::Value = sample("meter-usage");
    metering::run(&app, &settings, Scope::All).await.unwrap();
}

#[test]
fn a_task_function_links_the_model_and_the_results_bucket_only_where_the_template_configures_them()
{
    let template = template();
    for task in Task::ALL {
        let source =
            std::fs::read_to_string(root().join(format!("functions/src/bin/{}.rs", task.binary())))
                .unwrap();
        let policies = serde_yaml::to_string(
            &template["Resources"][task.function()]["Properties"]["Policies"],
        )
        .unwrap();
        assert_eq!(
            source.contains("run_model_task"),
            policies.contains("bedrock:InvokeModel"),
            "{}: the Bedrock client",
            task.binary()
        );
        assert_eq!(
            source.contains("wire::bucket"),
            policies.contains("s3:PutObject"),
            "{}: the S3 client",
            task.binary()
        );
        let variables =
            &template["Resources"][task.function()]["Properties"]["Environment"]["Variables"];
        assert_eq!(
            source.contains("wire::bucket"),
            !variables["RESULTS_BUCKET"].is_null(),
            "{}: the bucket's name",
            task.binary()
        );
        assert_eq!(
            source.contains("wire::memory"),
            !variables["AGENTCORE_MEMORY_ID"].is_null()
                && !variables["AGENTCORE_MEMORY_ROLE_ARN"].is_null()
                && policies.contains("sts:TagSession"),
            "{}: AgentCore Memory, on the role assumed per team",
            task.binary()
        );
    }
}

/// IAM's `StringLike`: `*` matches any run of characters, `?` any one.
fn string_like(pattern: &str, value: &str) -> bool {
    match (pattern.chars().next(), value.chars().next()) {
        (None, None) => true,
        (Some('*'), _) => {
            string_like(&pattern[1..], value)
                || value
                    .chars()
                    .next()
                    .is_some_and(|c| string_like(pattern, &value[c.len_utf8()..]))
        }
        (Some(p), Some(v)) if p == '?' || p == v => {
            string_like(&pattern[p.len_utf8()..], &value[v.len_utf8()..])
        }
        _ => false,
    }
}

#[test]
fn a_teams_agentcore_memory_role_reaches_its_own_actors_and_namespaces_and_no_other_teams() {
    use vellocity::aws::agentcore_memory::{brand_actor, namespace_of, shared_actor};
    use vellocity::domain::ids::CompanyId;

    let template = template();
    let role = &template["Resources"]["AgentCoreMemoryTeamRole"]["Properties"];
    let statements = role["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    let condition = |action: &str, key: &str| -> String {
        let statement = statements
            .iter()
            .find(|s| {
                serde_yaml::to_string(&s["Action"])
                    .unwrap()
                    .contains(action)
            })
            .unwrap();
        statement["Condition"]["StringLike"][key]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let actors = condition("CreateEvent", "bedrock-agentcore:actorId");
    let namespaces = condition("RetrieveMemoryRecords", "bedrock-agentcore:namespace");
    let strategy = &template["Resources"]["AgentCoreMemory"]["Properties"]["MemoryStrategies"][0]
        ["SemanticMemoryStrategy"]["Namespaces"][0];
    let (ours, theirs) = (TeamId::generate(), TeamId::generate());
    let as_session_of =
        |team: &TeamId, pattern: &str| pattern.replace("${aws:PrincipalTag/team}", team.as_str());
    for (team, allowed) in [(&ours, true), (&theirs, false)] {
        for actor in [
            brand_actor(team, Some(&CompanyId::generate())),
            brand_actor(team, None),
            shared_actor(team),
        ] {
            let namespace = namespace_of(&actor);
            assert_eq!(
                namespace,
                strategy.as_str().unwrap().replace("{actorId}", &actor),
                "the adapter searches where the strategy keeps records"
            );
            assert_eq!(
                string_like(&as_session_of(&ours, &actors), &actor),
                allowed,
                "{actor}"
            );
            assert_eq!(
                string_like(&as_session_of(&ours, &namespaces), &namespace),
                allowed,
                "{namespace}"
            );
        }
    }
    assert!(string_like("team_*", ours.as_str()));
    let trust = serde_yaml::to_string(&role["AssumeRolePolicyDocument"]).unwrap();
    assert!(trust.contains("sts:TagSession") && trust.contains("aws:RequestTag/team"));
}
