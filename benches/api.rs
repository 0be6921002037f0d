//! Latency and throughput of the API through the local stack: router, authentication,
//! pipeline and handlers in-process, on the embedded table (in memory, and persisted to a
//! data directory as `vellocity-local serve` runs it). Run: `cargo bench --bench api`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vellocity::app::{teams, App};
use vellocity::local::table::EmbeddedTable;
use vellocity::ports::table::Table;
use vellocity::ports::SystemClock;
use vellocity_local::{HttpRequest, Stack};

const REQUESTS: usize = 1_000;

fn request(method: &str, path: &str, query: &str, key: &str, body: Option<String>) -> HttpRequest {
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

fn report(name: &str, mut samples: Vec<Duration>, wall: Duration) {
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
}

async fn run(label: &str, table: Arc<dyn Table>) {
    let stack = Stack {
        app: App::new(table, Arc::new(SystemClock)),
    };
    let key = teams::create_team(&stack.app, "Bench", "bench@example.com")
        .await
        .unwrap()
        .key
        .secret;

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
    report(
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
    report(
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
    report(
        &format!("{label}: GET /v1/companies?limit=20"),
        samples,
        started.elapsed(),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        run("in memory", Arc::new(EmbeddedTable::in_memory())).await;
        let dir = std::env::temp_dir().join(format!("vellocity-bench-{}", std::process::id()));
        run(
            "persisted",
            Arc::new(EmbeddedTable::open(Path::new(&dir)).unwrap()),
        )
        .await;
        let _ = std::fs::remove_dir_all(dir);
    });
}
