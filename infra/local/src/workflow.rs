//! The AgentCore workflow in-process: `statemachines/agentcore.asl.json` (the file that
//! deploys) interpreted here, its Task states dispatched to the same task handlers as the
//! production task functions.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use vellocity::agentcore::workflow::{self, TaskError, TaskInput};
use vellocity::app::App;

use crate::asl::definition::{parse_definition, Machine};
use crate::asl::run::{Failure, Interpreter, Outcome, TaskRunner};
use crate::asl::AslError;

/// The definition that deploys.
pub const DEFINITION: &str = include_str!("../../../statemachines/agentcore.asl.json");

/// The function each `${Placeholder}` names locally (in production: the functions' ARNs).
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("LoadContextFunctionArn", "load-context"),
    ("PlanFunctionArn", "plan"),
    ("RequestApprovalFunctionArn", "request-approval"),
    ("RunStepFunctionArn", "run-step"),
    ("FinishFunctionArn", "finish"),
    ("FailFunctionArn", "fail"),
];

/// The AgentCore machine, with local function names substituted.
pub fn machine() -> Result<Machine, AslError> {
    let substitutions: BTreeMap<String, String> = FUNCTIONS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    parse_definition(DEFINITION, &substitutions)
}

/// The task functions, in-process.
pub struct LocalTasks {
    app: App,
}

impl LocalTasks {
    /// Task functions over `app`.
    pub fn new(app: App) -> Self {
        LocalTasks { app }
    }
}

fn text(payload: &Value, field: &str) -> String {
    payload[field].as_str().unwrap_or_default().to_owned()
}

#[async_trait]
impl TaskRunner for LocalTasks {
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, Failure> {
        let input: TaskInput = serde_json::from_value(payload.clone())
            .map_err(|e| Failure::new("States.Runtime", format!("{function}: {e}")))?;
        let app = &self.app;
        let result = match function {
            "load-context" => workflow::load_context(app, &input).await,
            "plan" => workflow::plan(app, &input).await,
            "request-approval" => {
                workflow::request_approval(app, &input, &text(&payload, "task_token")).await
            }
            "run-step" => {
                let index = payload["index"].as_u64().unwrap_or_default() as usize;
                workflow::run_step(app, &input, index).await
            }
            "finish" => workflow::finish(app, &input).await,
            "fail" => {
                workflow::fail(
                    app,
                    &input,
                    &text(&payload, "error"),
                    &text(&payload, "cause"),
                )
                .await
            }
            other => Err(TaskError::Internal(format!(
                "no local task function {other}"
            ))),
        };
        result.map_err(|e| Failure::new(e.name(), e.to_string()))
    }
}

/// Runs one execution to its end.
pub async fn run(interpreter: &Interpreter, machine: &Machine, input: &TaskInput) -> Outcome {
    let payload = serde_json::to_value(input).unwrap_or_default();
    interpreter
        .run(machine, input.execution_id.as_str(), payload)
        .await
}

/// An interpreter whose tasks are the local task functions.
pub fn interpreter(app: &App) -> Interpreter {
    Interpreter::new(Arc::new(LocalTasks::new(app.clone())))
}
