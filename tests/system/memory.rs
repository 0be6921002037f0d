//! Agent memory: what a team's earlier work produced reaches the planner and the writers of
//! later executions for the same brand, and what other brands share — never an isolated
//! brand's work, never another team's — in reads that stay bounded as the history grows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};
use vellocity::app::memory::TableMemory;
use vellocity::domain::ids::{CompanyId, ExecutionId, TeamId, UserId};
use vellocity::local::table::EmbeddedTable;
use vellocity::ports::ai::{AiError, Llm, TextRequest, TextResponse};
use vellocity::ports::memory::{Memory, MemoryRecord, RecallQuery};
use vellocity::ports::table::{
    Condition, Item, Key, Page, Query, Table, TableError, Update, WriteOp,
};

use crate::helpers::{TestApp, TestTeam};

/// The offline model, keeping every system prompt it was given.
#[derive(Default)]
struct Recording(Mutex<Vec<String>>);

#[async_trait]
impl Llm for Recording {
    async fn converse(&self, request: TextRequest) -> Result<TextResponse, AiError> {
        self.0.lock().unwrap().push(request.system.clone());
        vellocity::local::offline::OfflineModel
            .converse(request)
            .await
    }
}

impl Recording {
    /// The prompts given since `from`, and where the next call's start.
    fn since(&self, from: usize) -> (Vec<String>, usize) {
        let prompts = self.0.lock().unwrap();
        (prompts[from..].to_vec(), prompts.len())
    }
}

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
}

#[tokio::test]
async fn a_brand_recalls_its_own_work_and_what_other_brands_share_never_an_isolated_brands() {
    let model = Arc::new(Recording::default());
    let app = TestApp::with_llm(model.clone());
    let team = app.create_team("Acme").await;
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

/// A table that counts the items its queries return.
struct CountingReads {
    inner: EmbeddedTable,
    items_read: AtomicUsize,
}

#[async_trait]
impl Table for CountingReads {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        self.inner.put(item, condition).await
    }
    async fn update(&self, update: Update) -> Result<Item, TableError> {
        self.inner.update(update).await
    }
    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, TableError> {
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, TableError> {
        let page = self.inner.query(query).await?;
        self.items_read
            .fetch_add(page.items.len(), Ordering::SeqCst);
        Ok(page)
    }
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), TableError> {
        self.inner.transact(writes).await
    }
}

#[tokio::test]
async fn recalling_reads_the_same_few_records_after_ten_or_two_hundred_earlier_executions() {
    let table = Arc::new(CountingReads {
        inner: EmbeddedTable::in_memory(),
        items_read: AtomicUsize::new(0),
    });
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
            let record = MemoryRecord {
                team: team.clone(),
                brand: brand.clone(),
                execution: ExecutionId::generate(),
                actor: UserId::generate(),
                request: format!("post {kept}"),
                line: format!("- post {kept}"),
                shared_across_brands: kept % 2 == 0,
                learnable: false,
            };
            memory.remember(&record).await.unwrap();
        }
        table.items_read.store(0, Ordering::SeqCst);
        let lines = memory.recall(&query).await.unwrap();
        assert_eq!(
            lines,
            [history, history - 1, history - 2].map(|n| format!("- post {n}"))
        );
        reads.push(table.items_read.load(Ordering::SeqCst));
    }
    assert_eq!(
        reads[0], reads[1],
        "reads do not grow with history: {reads:?}"
    );
    assert!(reads[1] <= 6, "two queries of three: {reads:?}");
}
