//! `vellocity-local asl run`: any state machine file run on this machine with canned task
//! answers, printing the execution's output or error and its state history, so a definition
//! can be tried without AWS.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};

use super::definition::parse_definition;
use super::run::{Event, Failure, Interpreter, TaskRunner};

/// Task answers by function name. An answer `{"Error": …, "Cause": …}` (those keys only)
/// fails the task; anything else is its output. A function without an answer fails with
/// `Local.NoCannedAnswer`.
struct Canned {
    answers: BTreeMap<String, Value>,
    /// What each task was sent, in order.
    calls: Mutex<Vec<(String, Value)>>,
}

/// The function name in a Lambda ARN (`arn:aws:lambda:…:function:NAME[:qualifier]`), or the
/// resource as written.
fn function_name(resource: &str) -> &str {
    match resource.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => resource,
    }
}

#[async_trait]
impl TaskRunner for Canned {
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, Failure> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((function.to_owned(), payload));
        let answer = self
            .answers
            .get(function)
            .or_else(|| self.answers.get(function_name(function)))
            .ok_or_else(|| {
                Failure::new(
                    "Local.NoCannedAnswer",
                    format!("no --task answer for {function}"),
                )
            })?;
        match answer.as_object() {
            Some(fields)
                if fields.contains_key("Error")
                    && fields.keys().all(|k| k == "Error" || k == "Cause") =>
            {
                Err(Failure::new(
                    answer["Error"].as_str().unwrap_or_default(),
                    answer["Cause"].as_str().unwrap_or_default(),
                ))
            }
            _ => Ok(answer.clone()),
        }
    }
}

/// Parses `NAME=FILE` task answers.
pub fn answers(specs: &[String]) -> Result<BTreeMap<String, Value>, String> {
    specs
        .iter()
        .map(|spec| {
            let (name, file) = spec
                .split_once('=')
                .ok_or_else(|| format!("--task {spec}: expected NAME=RESPONSE_FILE"))?;
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("--task {spec}: cannot read {file}: {e}"))?;
            let answer = serde_json::from_str(&text)
                .map_err(|e| format!("--task {spec}: {file} is not JSON: {e}"))?;
            Ok((name.to_owned(), answer))
        })
        .collect()
}

fn event_json(event: &Event) -> Value {
    match event {
        Event::Entered(state) => json!({"entered": state}),
        Event::Retrying {
            state,
            error,
            delay_ms,
        } => json!({"retrying": state, "error": error, "delay_ms": delay_ms}),
        Event::Caught { state, error, next } => {
            json!({"caught": state, "error": error, "next": next})
        }
    }
}

/// Runs the definition in `file` on `input` with the canned `answers`, Waits and Retry delays
/// scaled by `time_scale` (0: none); the report: status, output or error and cause, the
/// state history and what each task was sent.
pub async fn run_file(
    file: &Path,
    input: Value,
    answers: BTreeMap<String, Value>,
    time_scale: f64,
) -> Result<Value, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    // A `${Name}` placeholder (CloudFormation's DefinitionSubstitutions) stands for its own
    // name, so a task on `${PlanFunctionArn}` is answered by `--task PlanFunctionArn=…`.
    let placeholders: BTreeMap<String, String> = text
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| (name.to_owned(), name.to_owned()))
        .collect();
    let machine = parse_definition(&text, &placeholders).map_err(|e| e.to_string())?;
    let canned = Arc::new(Canned {
        answers,
        calls: Mutex::default(),
    });
    let mut interpreter = Interpreter::new(canned.clone());
    interpreter.time_scale = time_scale;
    let name = format!("local-{}", ulid::Ulid::new());
    let outcome = interpreter.run(&machine, &name, input).await;
    let mut report = match outcome.result {
        Ok(output) => json!({"status": "SUCCEEDED", "output": output}),
        Err(failure) => {
            json!({"status": "FAILED", "error": failure.error, "cause": failure.cause})
        }
    };
    report["history"] = outcome.events.iter().map(event_json).collect();
    report["tasks"] = canned
        .calls
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(function, payload)| json!({"function": function, "payload": payload}))
        .collect();
    Ok(report)
}
