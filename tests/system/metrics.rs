//! Business metrics as CloudWatch Embedded Metric Format: every line a valid EMF document (as
//! AWS specifies it: the `_aws` metadata with a millisecond timestamp and one metric
//! directive whose dimension sets and metrics name root members of the right types), the
//! events that happened counted with low-cardinality dimensions, and the team id a property,
//! never a dimension.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};
use vellocity::local::table::EmbeddedTable;
use vellocity::ports::table::{
    Condition, Item, Key, Page, Query, Table, TableError, Update, WriteOp,
};

use crate::helpers::TestApp;

/// The units CloudWatch accepts.
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one line against the EMF specification; returns the document.
fn valid_emf(line: &str) -> Value {
    let doc: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let root = doc.as_object().expect("an EMF document is an object");
    let aws = root["_aws"].as_object().expect("_aws metadata");
    assert!(
        aws["Timestamp"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "{line}"
    );
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("metric directives");
    assert!(!directives.is_empty(), "{line}");
    for directive in directives {
        let namespace = directive["Namespace"].as_str().expect("a namespace");
        assert!(!namespace.is_empty() && namespace.len() <= 255);
        let sets = directive["Dimensions"].as_array().expect("dimension sets");
        for set in sets {
            let names = set.as_array().expect("a dimension set is an array");
            assert!(names.len() <= 30, "{line}");
            for name in names {
                let name = name.as_str().expect("dimension names are strings");
                assert!(
                    root[name].is_string(),
                    "dimension {name} names a string member: {line}"
                );
            }
        }
        let metrics = directive["Metrics"].as_array().expect("metric definitions");
        assert!(!metrics.is_empty() && metrics.len() <= 100, "{line}");
        for metric in metrics {
            let name = metric["Name"].as_str().expect("a metric name");
            assert!(
                root[name].is_number(),
                "metric {name} names a number: {line}"
            );
            if let Some(unit) = metric.get("Unit") {
                assert!(UNITS.contains(&unit.as_str().unwrap_or_default()), "{line}");
            }
        }
    }
    doc
}

/// The documents that carry `metric`.
fn with_metric<'a>(docs: &'a [Value], metric: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| {
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["Name"] == metric))
        })
        .collect()
}

#[tokio::test]
async fn executions_steps_models_and_replays_are_published_as_valid_emf() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let agent = app.summary_agent(&team.key).await;
    let path = format!("/v1/agents/{agent}/executions");
    let started = app
        .post_once(
            &team.key,
            &path,
            "run-1",
            r#"{"request":"Summarise our launch"}"#,
        )
        .await;
    let id = started.body["id"].as_str().unwrap().to_owned();
    app.wait_for(&team.key, &id, "succeeded").await;
    let replayed = app
        .post_once(
            &team.key,
            &path,
            "run-1",
            r#"{"request":"Summarise our launch"}"#,
        )
        .await;
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));

    let docs: Vec<Value> = app.metrics.lines().iter().map(|l| valid_emf(l)).collect();
    for doc in &docs {
        let dimensions = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
            .as_array()
            .unwrap();
        assert!(
            !dimensions.contains(&json!("team_id")),
            "the team is a property: {doc}"
        );
    }
    let started = with_metric(&docs, "ExecutionsStarted");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["Plan"], "trial");
    assert_eq!(started[0]["team_id"], team.id.as_str());
    let ended = with_metric(&docs, "ExecutionsEnded");
    assert_eq!(ended.len(), 1, "ended once");
    assert_eq!(ended[0]["Outcome"], "succeeded");
    assert_eq!(ended[0]["execution_id"], id.as_str());
    assert!(ended[0]["ExecutionDuration"]
        .as_f64()
        .is_some_and(|ms| ms >= 0.0));
    let steps = with_metric(&docs, "StepsSucceeded");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["Capability"], "summarize");
    let models = with_metric(&docs, "OutputTokens");
    assert!(!models.is_empty());
    assert!(models
        .iter()
        .all(|m| m["Model"].is_string() && m["CostMicroUsd"].is_number()));
    let replays = with_metric(&docs, "IdempotentReplays");
    assert_eq!(replays.len(), 1);
    assert_eq!(replays[0]["Route"], "start-execution");
}

#[tokio::test]
async fn a_metering_run_is_published_as_valid_emf_without_a_team_dimension() {
    use vellocity::marketplace::{metering, Settings};
    let app = TestApp::new();
    let settings = Settings::from_env(&app.stack.app.plans, false).unwrap();
    let report = metering::run(&app.stack.app, &settings, metering::Scope::All)
        .await
        .unwrap();
    let docs: Vec<Value> = app.metrics.lines().iter().map(|l| valid_emf(l)).collect();
    let runs = with_metric(&docs, "MeteringRecordsSent");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["MeteringCalls"].as_f64(), Some(report.calls as f64));
    assert_eq!(
        runs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([[]])
    );
}

/// A table whose listings are throttled, as DynamoDB throttles a hot partition.
struct ThrottledListings(EmbeddedTable);

#[async_trait]
impl Table for ThrottledListings {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        self.0.get(key).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        self.0.put(item, condition).await
    }
    async fn update(&self, update: Update) -> Result<Item, TableError> {
        self.0.update(update).await
    }
    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, TableError> {
        self.0.delete(key, condition).await
    }
    async fn query(&self, _query: Query) -> Result<Page, TableError> {
        Err(TableError::Throttled)
    }
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), TableError> {
        self.0.transact(writes).await
    }
}

#[tokio::test]
async fn a_throttled_request_answers_429_and_is_counted_by_route() {
    let app = TestApp::with_table(Arc::new(ThrottledListings(EmbeddedTable::in_memory())));
    let team = app.create_team("Acme").await;
    let throttled = app.get(&team.key, "/v1/companies").await;
    assert_eq!(
        (throttled.status, throttled.code()),
        (429, "too_many_requests")
    );
    assert_eq!(throttled.header("retry-after"), Some("1"));
    let docs: Vec<Value> = app.metrics.lines().iter().map(|l| valid_emf(l)).collect();
    let throttles = with_metric(&docs, "Throttles");
    assert_eq!(throttles.len(), 1);
    assert_eq!(throttles[0]["Route"], "list-companies");
    assert_eq!(throttles[0]["team_id"], team.id.as_str());
}
