//! Metrics as CloudWatch Embedded Metric Format: one JSON line per event on standard output,
//! which CloudWatch Logs turns into metrics (namespace `Vellocity`), keeping the properties
//! searchable in the log.

use std::io::Write;
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::ports::metrics::{MetricEvent, Metrics};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Vellocity";

/// The EMF line of an event at `timestamp_ms` (milliseconds since the Unix epoch).
pub fn line(event: &MetricEvent, timestamp_ms: i64) -> String {
    let mut root = Map::new();
    for (name, value) in &event.properties {
        root.insert((*name).to_owned(), Value::String(value.clone()));
    }
    for (name, value) in &event.dimensions {
        root.insert((*name).to_owned(), Value::String(value.clone()));
    }
    for (name, value, _) in &event.metrics {
        root.insert((*name).to_owned(), json!(value));
    }
    let dimensions: Vec<&str> = event.dimensions.keys().copied().collect();
    let metrics: Vec<Value> = event
        .metrics
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": metrics,
            }],
        }),
    );
    Value::Object(root).to_string()
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Where EMF lines go: standard output in a Lambda function (its log, where CloudWatch reads
/// them); the debug log in the local stack (`RUST_LOG=emf=debug` shows them), whose terminal
/// and standard output are for people and commands' results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmfWriter {
    /// Standard output.
    Stdout,
    /// The `emf` target of the debug log.
    DebugLog,
}

impl Metrics for EmfWriter {
    fn emit(&self, event: MetricEvent) {
        let line = line(&event, now_ms());
        match self {
            EmfWriter::Stdout => {
                if let Err(error) = writeln!(std::io::stdout().lock(), "{line}") {
                    tracing::warn!(%error, "a metric could not be written");
                }
            }
            EmfWriter::DebugLog => tracing::debug!(target: "emf", "{line}"),
        }
    }
}

/// Keeps the EMF lines it is given (the local stack's record of them, and the tests').
#[derive(Debug, Default)]
pub struct EmfLines(Mutex<Vec<String>>);

impl EmfLines {
    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Metrics for EmfLines {
    fn emit(&self, event: MetricEvent) {
        let line = line(&event, now_ms());
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
}
