//! Agent memory: what a team's earlier work produced reaches the planner and the writers of
//! later executions for the same brand, and what other brands share — never an isolated
//! brand's work, never another team's — in reads that stay bounded as the history grows.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};
use vellocity::app::memory::TableMemory;
use vellocity::app::App;
use vellocity::aws::agentcore_memory::AgentCoreMemory;
use vellocity::domain::ids::{CompanyId, ExecutionId, TeamId, UserId};
use vellocity::local::table::EmbeddedTable;
use vellocity::ports::memory::{Memory, MemoryRecord, RecallQuery};

use crate::counting_table::CountingTable;
use crate::helpers::{Recording, TestApp, TestTeam};
use crate::http_endpoint;

async fn company(app: &TestApp, team: &TestTeam, name: &str, privacy: Value) -> String {
    let body = json!({"name": name, "privacy": privacy});
    let created = app.post(&team.key, "/v1/companies", body).await;
    assert_eq!(created.status, 201, "{created:?}");
    created.body["id"].as_str().unwrap().to_owned()
}

async fn run(app: &TestApp, team: &TestTeam, agent: &str, company: &str, request: &str) {
    let body = json!({"request": request, "company_id": company});
    let started = app.start_execution(&team.key, agent, body).await;
    assert_eq!(started.status, 202, "{started:?}");
    let id = started.body["id"].as_str().unwrap();
    let done = app.wait_for(&team.key, id, "succeeded").await;
    assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);
    // Memory is kept by the finish task after the settlement: wait for the run to end.
    while app.stack.workflows.wait(id).await.is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// The local stack recording its prompts, its memory `memory` (the table's when `None`).
fn stack(model: Arc<Recording>, memory: Option<Arc<dyn Memory>>) -> TestApp {
    TestApp::with_ports(Arc::new(EmbeddedTable::in_memory()), |app| App {
        llm: model,
        memory: memory.unwrap_or(app.memory.clone()),
        ..app
    })
}

/// A team whose work models may learn from (its privacy defaults do not opt out of training).
async fn learnable_team(app: &TestApp) -> TestTeam {
    let team = app.create_team("Acme").await;
    let learnable = json!({"privacy_defaults": {"training_data_opt_out": false}});
    assert_eq!(
        app.patch(&team.key, "/v1/team", learnable).await.status,
        200
    );
    team
}

/// Three brands of one team, whose work may be learned from: Alpha (isolated, as by
/// default), Beta (shares with the other brands), Gamma. Gamma's work recalls Beta's and not
/// Alpha's; Alpha's recalls its own and Beta's.
async fn brands_recall_their_own_and_shared_work(memory: Option<Arc<dyn Memory>>) {
    let model = Arc::new(Recording::default());
    let app = stack(model.clone(), memory);
    let team = learnable_team(&app).await;
    let isolated = company(&app, &team, "Alpha", json!({})).await;
    let sharing = company(
        &app,
        &team,
        "Beta",
        json!({"data_isolation_enabled": false, "kb_cross_brand_sharing": true}),
    )
    .await;
    let other = company(&app, &team, "Gamma", json!({})).await;
    let agent = json!({"name": "Writer", "allowed_capabilities": ["generate_text"]});
    let agent = app.post_agent(&team.key, agent).await;

    run(
        &app,
        &team,
        &agent,
        &isolated,
        "Launch post for Alpha Vault",
    )
    .await;
    run(&app, &team, &agent, &sharing, "Launch post for Beta Stream").await;
    let (_, from) = model.since(0);
    run(&app, &team, &agent, &other, "Launch post for Gamma Grid").await;
    let (gamma, from) = model.since(from);
    run(&app, &team, &agent, &isolated, "Follow-up for Alpha Vault").await;
    let (alpha, _) = model.since(from);

    assert!(!gamma.is_empty() && !alpha.is_empty());
    for prompt in &gamma {
        assert!(
            prompt.contains("Launch post for Beta Stream"),
            "shared: {prompt}"
        );
        assert!(!prompt.contains("Alpha Vault"), "isolated: {prompt}");
    }
    for prompt in &alpha {
        assert!(
            prompt.contains("Launch post for Alpha Vault")
                && prompt.contains("Launch post for Beta Stream"),
            "its own and the shared: {prompt}"
        );
        assert!(!prompt.contains("Gamma Grid"), "{prompt}");
    }
}

#[tokio::test]
async fn a_brand_recalls_its_own_work_and_what_other_brands_share_never_an_isolated_brands() {
    brands_recall_their_own_and_shared_work(None).await;
}

#[tokio::test]
async fn a_team_never_recalls_another_teams_work() {
    let model = Arc::new(Recording::default());
    let app = TestApp::with_llm(model.clone());
    let sharing = json!({"data_isolation_enabled": false, "kb_cross_brand_sharing": true});
    let agent = json!({"name": "Writer", "allowed_capabilities": ["generate_text"]});
    let first = app.create_team("Acme").await;
    let brand = company(&app, &first, "Alpha", sharing.clone()).await;
    let first_agent = app.post_agent(&first.key, agent.clone()).await;
    run(
        &app,
        &first,
        &first_agent,
        &brand,
        "Secret launch of Alpha Vault",
    )
    .await;
    let (_, from) = model.since(0);

    let second = app.create_team("Globex").await;
    let brand = company(&app, &second, "Alpha", sharing).await;
    let second_agent = app.post_agent(&second.key, agent).await;
    run(&app, &second, &second_agent, &brand, "Launch post").await;
    let (prompts, _) = model.since(from);

    assert!(!prompts.is_empty());
    assert!(
        prompts.iter().all(|p| !p.contains("Alpha Vault")),
        "{prompts:?}"
    );
}

#[tokio::test]
async fn recalling_reads_the_same_few_records_after_ten_or_two_hundred_earlier_executions() {
    let table = Arc::new(CountingTable::in_memory());
    let memory = TableMemory::new(table.clone());
    let team = TeamId::generate();
    let brand = Some(CompanyId::generate());
    let query = RecallQuery {
        team: team.clone(),
        brand: brand.clone(),
        about: "a launch post".into(),
        limit: 3,
    };
    let mut reads = Vec::new();
    let mut kept = 0;
    for history in [10, 200] {
        while kept < history {
            kept += 1;
            let id = ExecutionId::generate().to_string();
            let record = MemoryRecord {
                team: team.clone(),
                brand: brand.clone(),
                session: id.clone(),
                work: id,
                actor: UserId::generate(),
                request: format!("post {kept}"),
                line: format!("- post {kept}"),
                shared_across_brands: kept % 2 == 0,
                learnable: false,
            };
            memory.remember(&record).await.unwrap();
        }
        table.queried.store(0, Ordering::SeqCst);
        let lines = memory.recall(&query).await.unwrap();
        assert_eq!(
            lines,
            [history, history - 1, history - 2].map(|n| format!("- post {n}"))
        );
        reads.push(table.queried.load(Ordering::SeqCst));
    }
    assert_eq!(
        reads[0], reads[1],
        "reads do not grow with history: {reads:?}"
    );
    assert!(reads[1] <= 6, "two queries of three: {reads:?}");
}

/// What the AgentCore Memory endpoint was sent: (path, JSON body).
type Sent = Arc<Mutex<Vec<(String, Value)>>>;

/// An Amazon Bedrock AgentCore Memory endpoint (restJson1) as the memory in `template.yaml`
/// behaves: `CreateEvent` keeps an event once per client token and, unless its extraction is
/// skipped, its semantic strategy extracts a record (the assistant's text) into
/// `/vellocity/{actorId}/`; `RetrieveMemoryRecords` searches one namespace, scoring records
/// by the words they share with the query, and answers the top K. A memory id other than
/// `vellocity-memory-0123456789` is not found.
async fn agentcore_memory_endpoint() -> (SocketAddr, Sent) {
    let sent: Sent = Arc::default();
    let log = sent.clone();
    let records: Mutex<Vec<(String, String)>> = Mutex::default();
    let tokens: Mutex<Vec<String>> = Mutex::default();
    let addr = http_endpoint::serve(move |parts, bytes| {
        let path = parts.uri.path().to_owned();
        let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        log.lock().unwrap().push((path.clone(), body.clone()));
        let reply = |status: u16, error: Option<&str>, body: Value| {
            let mut response = hyper::Response::builder()
                .status(status)
                .header("content-type", "application/json");
            if let Some(error) = error {
                response = response.header("x-amzn-errortype", error);
            }
            response
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap()
        };
        let Some(rest) = path.strip_prefix("/memories/vellocity-memory-0123456789/") else {
            return reply(404, Some("ResourceNotFoundException"), json!({"message": "Memory not found"}));
        };
        match rest {
            "events" => {
                let token = body["clientToken"].as_str().unwrap_or_default().to_owned();
                let first = !tokens.lock().unwrap().contains(&token);
                if first {
                    tokens.lock().unwrap().push(token);
                    if body["extractionMode"] != "SKIP" {
                        let said = body["payload"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|p| p["conversational"]["role"] == "ASSISTANT")
                            .map(|p| p["conversational"]["content"]["text"].as_str().unwrap().to_owned())
                            .unwrap_or_default();
                        let namespace = format!("/vellocity/{}/", body["actorId"].as_str().unwrap());
                        records.lock().unwrap().push((namespace, said));
                    }
                }
                reply(
                    201,
                    None,
                    json!({"event": {"memoryId": "vellocity-memory-0123456789", "actorId": body["actorId"],
                                     "sessionId": body["sessionId"], "eventId": "1700000000000#a1b2c3",
                                     "eventTimestamp": body["eventTimestamp"], "payload": body["payload"]}}),
                )
            }
            "retrieve" => {
                let namespace = body["namespace"].as_str().unwrap_or_default();
                let query: Vec<String> = body["searchCriteria"]["searchQuery"]
                    .as_str()
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_lowercase)
                    .collect();
                let top_k = body["searchCriteria"]["topK"].as_u64().unwrap_or(10) as usize;
                let mut scored: Vec<(f64, String)> = records
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(ns, _)| ns == namespace)
                    .map(|(_, text)| {
                        let shared = query
                            .iter()
                            .filter(|w| text.to_lowercase().contains(w.as_str()))
                            .count();
                        (shared as f64 / query.len().max(1) as f64, text.clone())
                    })
                    .collect();
                scored.sort_by(|a, b| b.0.total_cmp(&a.0));
                scored.truncate(top_k);
                let summaries: Vec<Value> = scored
                    .into_iter()
                    .enumerate()
                    .map(|(i, (score, text))| {
                        json!({"memoryRecordId": format!("mem-{i}"), "content": {"text": text},
                               "memoryStrategyId": "work-0123456789", "namespaces": [namespace],
                               "createdAt": 1_700_000_000, "score": score})
                    })
                    .collect();
                reply(200, None, json!({"memoryRecordSummaries": summaries}))
            }
            _ => reply(404, Some("UnknownOperationException"), json!({"message": "no such operation"})),
        }
    })
    .await;
    (addr, sent)
}

fn agentcore_memory(addr: SocketAddr, memory_id: &str) -> Arc<dyn Memory> {
    let config = aws_types::SdkConfig::builder()
        .behavior_version(aws_sdk_bedrockagentcore::config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("us-east-1"))
        .credentials_provider(aws_types::sdk_config::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new("test", "test", None, None, "tests"),
        ))
        .endpoint_url(format!("http://{addr}"))
        .http_client(vellocity::aws::https_client())
        .retry_config(
            aws_sdk_bedrockagentcore::config::retry::RetryConfig::standard().with_max_attempts(1),
        )
        .build();
    Arc::new(AgentCoreMemory::new(&config, memory_id.into(), None))
}

#[tokio::test]
async fn on_agentcore_memory_a_brand_recalls_its_own_work_and_what_other_brands_share() {
    let (addr, _) = agentcore_memory_endpoint().await;
    brands_recall_their_own_and_shared_work(Some(agentcore_memory(
        addr,
        "vellocity-memory-0123456789",
    )))
    .await;
}

#[tokio::test]
async fn each_execution_is_one_event_of_its_brand_and_work_opted_out_of_training_is_not_extracted()
{
    let (addr, sent) = agentcore_memory_endpoint().await;
    let model = Arc::new(Recording::default());
    let app = stack(
        model.clone(),
        Some(agentcore_memory(addr, "vellocity-memory-0123456789")),
    );
    let team = app.create_team("Acme").await;
    let opted_out = company(&app, &team, "Alpha", json!({})).await;
    let learnable = company(&app, &team, "Beta", json!({"training_data_opt_out": false})).await;
    let agent = json!({"name": "Writer", "allowed_capabilities": ["generate_text"]});
    let agent = app.post_agent(&team.key, agent).await;

    let mut follow_ups = Vec::new();
    for brand in [&opted_out, &learnable] {
        run(&app, &team, &agent, brand, "Launch post").await;
        let (_, from) = model.since(0);
        run(&app, &team, &agent, brand, "Follow-up post").await;
        follow_ups.push(model.since(from).0);
    }

    let events: Vec<Value> = sent
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.ends_with("/events"))
        .map(|(_, body)| body.clone())
        .collect();
    assert_eq!(events.len(), 4, "one event per execution");
    for (event, brand, skipped) in [
        (&events[0], &opted_out, true),
        (&events[2], &learnable, false),
    ] {
        assert_eq!(event["actorId"], format!("{}/{brand}", team.id));
        let session = event["sessionId"].as_str().unwrap();
        assert!(session.starts_with("exe_"), "{event}");
        assert_eq!(
            event["clientToken"], session,
            "a retried finish is the same event"
        );
        assert_eq!(event["payload"][0]["conversational"]["role"], "USER");
        assert_eq!(
            event["payload"][0]["conversational"]["content"]["text"],
            "Launch post"
        );
        assert_eq!(event["payload"][1]["conversational"]["role"], "ASSISTANT");
        assert_eq!(event["extractionMode"] == "SKIP", skipped, "{event}");
    }
    assert!(
        follow_ups[0].iter().all(|p| !p.contains("Recent results")),
        "nothing was learned from the opted-out launch: {:?}",
        follow_ups[0]
    );
    assert!(
        follow_ups[1].iter().all(|p| p.contains("\"Launch post\"")),
        "the learnable launch is recalled: {:?}",
        follow_ups[1]
    );
    let retrieved: Vec<Value> = sent
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.ends_with("/retrieve"))
        .map(|(_, body)| body.clone())
        .collect();
    assert!(retrieved.iter().all(|body| {
        let namespace = body["namespace"].as_str().unwrap();
        namespace.starts_with(&format!("/vellocity/{}/", team.id))
    }));
}

#[tokio::test]
async fn an_unreachable_or_unknown_agentcore_memory_is_unavailable_not_a_refusal() {
    let (addr, _) = agentcore_memory_endpoint().await;
    let query = RecallQuery {
        team: TeamId::generate(),
        brand: None,
        about: "a launch post".into(),
        limit: 3,
    };
    let unknown = agentcore_memory(addr, "vellocity-memory-9999999999");
    let error = unknown.recall(&query).await.unwrap_err();
    assert!(error.0.contains("ResourceNotFoundException"), "{error}");
}

/// A conversation's replies are work too: each is kept (session = the conversation) and
/// recalled by later work for the same brand — not by another, isolated, brand — on either
/// store.
#[tokio::test]
async fn a_conversations_reply_is_recalled_by_later_work_for_the_same_brand() {
    let (addr, sent) = agentcore_memory_endpoint().await;
    for memory in [
        None,
        Some(agentcore_memory(addr, "vellocity-memory-0123456789")),
    ] {
        let model = Arc::new(Recording::default());
        let app = stack(model.clone(), memory);
        let team = learnable_team(&app).await;
        let brand = company(&app, &team, "Alpha", json!({})).await;
        let conversation = app
            .post_conversation(&team.key, json!({"title": "Q", "company_id": brand}))
            .await;
        let path = format!("/v1/conversations/{conversation}/messages");
        let asked = app
            .post(
                &team.key,
                &path,
                json!({"content": "Which launch date works?"}),
            )
            .await;
        assert_eq!(asked.status, 201, "{asked:?}");
        let agent = json!({"name": "Writer", "allowed_capabilities": ["generate_text"]});
        let agent = app.post_agent(&team.key, agent).await;
        let (_, from) = model.since(0);
        run(&app, &team, &agent, &brand, "Launch post").await;
        let (prompts, _) = model.since(from);
        assert!(
            prompts
                .iter()
                .all(|p| p.contains("asked \"Which launch date works?\"")),
            "{prompts:?}"
        );
        // The reply's brand is isolated (the default): another brand's work never sees it.
        let other = company(&app, &team, "Beta", json!({})).await;
        let (_, from) = model.since(0);
        run(&app, &team, &agent, &other, "Launch post").await;
        let (prompts, _) = model.since(from);
        assert!(
            prompts
                .iter()
                .all(|p| !p.contains("Which launch date works?")),
            "{prompts:?}"
        );
    }
    let sent = sent.lock().unwrap();
    let reply_event = sent
        .iter()
        .find(|(path, body)| {
            path.ends_with("/events")
                && body["sessionId"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("cnv_"))
        })
        .map(|(_, body)| body.clone())
        .expect("the reply is an event of the conversation's session");
    assert!(
        reply_event["clientToken"]
            .as_str()
            .unwrap()
            .starts_with("msg_"),
        "{reply_event}"
    );
}
