//! What deploys agrees with what runs: the route table, the function binaries, the template's
//! functions and API events, and the sample events in `events/` (each of which is run through
//! its function's real handler, as `cargo lambda invoke --data-file` would).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use serde_yaml::Value as Yaml;
use vellocity::agentcore::lambda::dispatch_batch;
use vellocity::agentcore::workflow::{self, Task};
use vellocity::api::authorizer;
use vellocity::api::lambda::handle_event;
use vellocity::api::routes::ROUTES;
use vellocity::app::api_keys::{secret_hash, KeyLookup};
use vellocity::app::items::to_item;
use vellocity::app::records::Record;
use vellocity::app::{executions, keys, members, App, Caller};
use vellocity::domain::access::{Role, Scope};
use vellocity::domain::agent::AgentDraft;
use vellocity::domain::execution::{Execution, ExecutionCredits, ExecutionStatus};
use vellocity::domain::ids::{AgentId, ApiKeyId, ExecutionId, TeamId, UserId};
use vellocity::domain::resources::{CompanyDraft, PartnerDraft, ProductDraft};
use vellocity::domain::team::{ApiKey, Credits, Member, MemberStatus, Team};
use vellocity::domain::validation::Email;
use vellocity::local::table::EmbeddedTable;
use vellocity::marketplace::pages::PAGES;
use vellocity::ports::table::{Key, Table, Update, UpdateAction, Value};
use vellocity::ports::SystemClock;
use vellocity_local::Stack;

const TEAM: &str = "team_01JV8X2M7Q0000000000000001";
const COMPANY: &str = "cmp_01JV8X2M7Q0000000000000002";
const PRODUCT: &str = "prd_01JV8X2M7Q0000000000000003";
const PARTNER: &str = "ptn_01JV8X2M7Q0000000000000004";
const API_KEY: &str = "key_01JV8X2M7Q0000000000000005";
const SPARE_COMPANY: &str = "cmp_01JV8X2M7Q0000000000000006";
const AGENT: &str = "agt_01JV8X2M7Q0000000000000007";
const EXECUTION: &str = "exe_01JV8X2M7Q0000000000000008";
const EXECUTION_TO_CANCEL: &str = "exe_01JV8X2M7Q0000000000000009";
const SAMPLE_SECRET: &str = "vk_sample_owner_key_for_events_0000000000000000";

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
        .collect();
    assert_eq!(
        api_events, routes,
        "the template's API events are exactly the route table and the public pages"
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
        assert!(
            root()
                .join(format!("functions/src/bin/{}.rs", route.binary))
                .exists(),
            "binary for {}",
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
            ]
            .map(String::from),
        )
        .chain(Task::ALL.iter().map(|t| t.binary().to_owned()))
        .collect();
    assert_eq!(
        binaries, expected,
        "a binary per route, page and workflow task, the authorizer, the dispatcher and the Marketplace consumers"
    );
    assert_eq!(
        template["Resources"]["AuthorizerFunction"]["Metadata"]["BuildProperties"]["Binary"],
        "authorizer"
    );
}

fn record<D>(id: &str, data: D, owner: &UserId) -> Record<D> {
    let at = "2026-11-21T12:00:00Z".to_owned();
    Record {
        id: id.into(),
        data,
        created_by: owner.clone(),
        created_at: at.clone(),
        updated_at: at,
        version: 1,
    }
}

/// The records the sample events refer to.
async fn seeded_app() -> App {
    let table = EmbeddedTable::in_memory();
    let team_id = TeamId::parse(TEAM).unwrap();
    let at = "2026-11-21T12:00:00Z".to_owned();
    let team = Team {
        id: team_id.clone(),
        name: "Acme GTM".into(),
        plan: "trial".into(),
        credits: Credits {
            balance: 500,
            reserved: 0,
        },
        privacy_defaults: Default::default(),
        owner_count: 1,
        marketplace: None,
        created_at: at.clone(),
        updated_at: at.clone(),
    };
    table
        .put(to_item(&team, &keys::team(&team_id), "team").unwrap(), None)
        .await
        .unwrap();
    let member = |email: &str, role| {
        let email = Email::parse(email).unwrap();
        Member {
            user_id: UserId::for_email(&email),
            email,
            role,
            status: MemberStatus::Active,
            privacy: Default::default(),
            created_at: at.clone(),
            updated_at: at.clone(),
        }
    };
    let owner = member("owner@example.com", Role::Owner);
    for m in [&owner, &member("member@example.com", Role::Member)] {
        table
            .put(members::member_item(&team_id, m).unwrap(), None)
            .await
            .unwrap();
    }
    let team_pk = keys::team_partition(&team_id);
    let company = |name: &str| CompanyDraft {
        name: name.into(),
        website: None,
        description: None,
        brand_voice: Default::default(),
        privacy: Default::default(),
    };
    let mut acme = to_item(
        &record(COMPANY, company("Acme"), &owner.user_id),
        &Key::new(&team_pk, format!("COMPANY#{COMPANY}")),
        "company",
    )
    .unwrap();
    acme.insert("product_count".into(), Value::N(1));
    table.put(acme, None).await.unwrap();
    let spare = record(SPARE_COMPANY, company("Spare"), &owner.user_id);
    table
        .put(
            to_item(
                &spare,
                &Key::new(&team_pk, format!("COMPANY#{SPARE_COMPANY}")),
                "company",
            )
            .unwrap(),
            None,
        )
        .await
        .unwrap();
    let product: ProductDraft =
        serde_json::from_value(serde_json::json!({"company_id": COMPANY, "name": "Deploy Guard"}))
            .unwrap();
    let product = record(PRODUCT, product, &owner.user_id);
    table
        .put(
            to_item(
                &product,
                &Key::new(&team_pk, format!("PRODUCT#{PRODUCT}")),
                "product",
            )
            .unwrap(),
            None,
        )
        .await
        .unwrap();
    let partner: PartnerDraft =
        serde_json::from_value(serde_json::json!({"name": "Globex"})).unwrap();
    let partner = record(PARTNER, partner, &owner.user_id);
    table
        .put(
            to_item(
                &partner,
                &Key::new(&team_pk, format!("PARTNER#{PARTNER}")),
                "partner",
            )
            .unwrap(),
            None,
        )
        .await
        .unwrap();

    let agent: AgentDraft = serde_json::from_value(
        serde_json::json!({"name": "Launch writer", "allowed_capabilities": ["generate_text", "social_posts"], "requires_approval": true}),
    )
    .unwrap();
    let agent = record(AGENT, agent, &owner.user_id);
    table
        .put(
            to_item(
                &agent,
                &Key::new(&team_pk, format!("AGENT#{AGENT}")),
                "agent",
            )
            .unwrap(),
            None,
        )
        .await
        .unwrap();

    let key_id = ApiKeyId::parse(API_KEY).unwrap();
    let scopes = vec![Scope::Read, Scope::Write, Scope::Admin];
    let listing = ApiKey {
        id: key_id.clone(),
        team_id: team_id.clone(),
        name: "Sample".into(),
        scopes: scopes.clone(),
        prefix: SAMPLE_SECRET[..10].into(),
        created_by: owner.user_id.clone(),
        created_at: at.clone(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        revoked_reason: None,
    };
    let hash = secret_hash(SAMPLE_SECRET);
    let mut listing_item = to_item(
        &listing,
        &keys::api_key_listing(&team_id, &key_id),
        "api_key",
    )
    .unwrap();
    listing_item.insert("secret_sha256".into(), Value::S(hash.clone()));
    table.put(listing_item, None).await.unwrap();
    let lookup = KeyLookup {
        key_id,
        team_id,
        scopes,
        created_by: owner.user_id.clone(),
        expires_at: None,
        last_used_at: None,
    };
    table
        .put(
            to_item(&lookup, &keys::api_key_lookup(&hash), "api_key_lookup").unwrap(),
            None,
        )
        .await
        .unwrap();
    let stack = Stack::new(App::new(Arc::new(table), Arc::new(SystemClock)), 0.0).unwrap();
    seed_waiting_executions(&stack, &owner.user_id).await;
    stack.app
}

/// Writes an execution of the sample agent in `status` with its credits reserved, as a POST
/// would have.
async fn seed_execution(app: &App, owner: &UserId, id: &str, status: ExecutionStatus) {
    let team_id = TeamId::parse(TEAM).unwrap();
    let caller = Caller {
        team_id: team_id.clone(),
        user_id: owner.clone(),
        role: Role::Owner,
        scopes: vec![Scope::Read],
        credential: "seed".into(),
    };
    let agent = vellocity::app::resources::get::<AgentDraft>(app, &caller, AGENT)
        .await
        .unwrap();
    let reserved = executions::reservation(&agent.data);
    let id = ExecutionId::parse(id).unwrap();
    let execution = Execution {
        id: id.clone(),
        agent_id: AgentId::parse(AGENT).unwrap(),
        request: "Announce Deploy Guard on LinkedIn and X.".into(),
        company_id: None,
        product_id: None,
        partner_id: None,
        inputs: Default::default(),
        status,
        credits: ExecutionCredits {
            reserved,
            used: 0,
            refunded: 0,
        },
        steps: Vec::new(),
        tokens: Default::default(),
        error: None,
        created_by: owner.clone(),
        created_at: "2026-11-21T12:00:00Z".into(),
        finished_at: None,
        approval_token: None,
        approval: None,
    };
    let key = executions::execution_key(&team_id, &id);
    app.table
        .put(to_item(&execution, &key, "execution").unwrap(), None)
        .await
        .unwrap();
    app.table
        .update(Update {
            key: keys::team(&team_id),
            actions: vec![
                UpdateAction::Add("credits_balance".into(), -reserved),
                UpdateAction::Add("credits_reserved".into(), reserved),
            ],
            condition: None,
        })
        .await
        .unwrap();
}

/// Waits until the workflow has moved an execution out of `from`.
async fn wait_while(app: &App, id: &str, from: ExecutionStatus) -> ExecutionStatus {
    let (team_id, id) = (
        TeamId::parse(TEAM).unwrap(),
        ExecutionId::parse(id).unwrap(),
    );
    for _ in 0..2_000 {
        let current = executions::find(app, &team_id, &id).await.unwrap().unwrap();
        if current.status != from {
            return current.status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("execution {id} stayed {}", from.as_str());
}

/// The executions the samples read, approve and cancel: queued, then run by the local
/// workflow engine until they wait for approval.
async fn seed_waiting_executions(stack: &Stack, owner: &UserId) {
    let app = &stack.app;
    for id in [EXECUTION, EXECUTION_TO_CANCEL] {
        seed_execution(app, owner, id, ExecutionStatus::Queued).await;
        let input = serde_json::json!({"team_id": TEAM, "execution_id": id});
        app.workflows.start(id, &input).await.unwrap();
        let mut status = ExecutionStatus::Queued;
        while status != ExecutionStatus::AwaitingApproval {
            status = wait_while(app, id, status).await;
        }
    }
}

/// Reads a sample event.
fn sample(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join(format!("events/{name}.json")))
        .unwrap_or_else(|e| panic!("events/{name}.json: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn owner() -> UserId {
    UserId::for_email(&Email::parse("owner@example.com").unwrap())
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
    seed_execution(&app, &owner(), whole, ExecutionStatus::Queued).await;
    seed_execution(&app, &owner(), parked, ExecutionStatus::Running).await;
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
    seed_execution(&app, &owner(), queued, ExecutionStatus::Queued).await;
    let event: SqsEvent = serde_json::from_value(sample("dispatcher")).unwrap();
    let poison = event.records[1].message_id.clone().unwrap();
    let response = dispatch_batch(app.workflows.as_ref(), event).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, vec![poison], "only the poison message is reported");
    let started = wait_while(&app, queued, ExecutionStatus::Queued).await;
    assert_ne!(started, ExecutionStatus::Failed);
}

#[test]
fn every_placeholder_of_the_state_machine_has_a_substitution_and_the_other_way_round() {
    let definition =
        std::fs::read_to_string(root().join("statemachines/agentcore.asl.json")).unwrap();
    let mut placeholders = BTreeSet::new();
    let mut rest = definition.as_str();
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').unwrap() + start;
        placeholders.insert(rest[start + 2..end].to_owned());
        rest = &rest[end..];
    }
    let template = template();
    let machine = &template["Resources"]["AgentCoreStateMachine"]["Properties"];
    assert_eq!(machine["DefinitionUri"], "statemachines/agentcore.asl.json");
    assert_eq!(machine["Type"], "STANDARD");
    let substitutions: BTreeSet<String> = machine["DefinitionSubstitutions"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(placeholders, substitutions);
    let tasks: BTreeSet<String> = Task::ALL
        .iter()
        .map(|t| t.placeholder().to_owned())
        .collect();
    assert_eq!(placeholders, tasks, "every placeholder is a task function");
    let invoke = serde_yaml::to_string(&machine["Policies"]).unwrap();
    for task in Task::ALL {
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
            "the state machine may invoke {}",
            task.function()
        );
    }
    assert_eq!(
        template["Resources"]["DispatcherFunction"]["Metadata"]["BuildProperties"]["Binary"],
        "dispatcher"
    );
}

#[tokio::test]
async fn every_sample_event_succeeds_through_its_functions_handler() {
    let app = seeded_app().await;
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
        let response = handle_event(&app, route.id, request).await;
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
async fn every_marketplace_sample_event_runs_through_its_function() {
    use vellocity::local::marketplace::LocalMarketplace;
    use vellocity::marketplace::lambda::{apply_batch, handle_page_event};
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
