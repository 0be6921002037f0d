//! The AgentCore workflow in-process: `statemachines/agentcore.asl.json` (the file that
//! deploys) interpreted here, its Task states dispatched to the same task handlers as the
//! production task functions.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use vellocity::agentcore::task::Task;
use vellocity::agentcore::workflow;
use vellocity::app::App;
use vellocity::domain::execution::TaskInput;

use crate::asl::definition::{parse_definition, Machine};
use crate::asl::run::{Failure, Interpreter, Outcome, TaskRunner};
use crate::asl::AslError;

/// The definition that deploys.
pub const DEFINITION: &str = include_str!("../../../statemachines/agentcore.asl.json");

/// The AgentCore machine, with each task's placeholder naming its local function.
pub fn machine() -> Result<Machine, AslError> {
    let substitutions: BTreeMap<String, String> = Task::ALL
        .iter()
        .map(|t| (t.placeholder().to_owned(), t.binary().to_owned()))
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

#[async_trait]
impl TaskRunner for LocalTasks {
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, Failure> {
        let task = Task::named(function).ok_or_else(|| {
            Failure::new("States.Runtime", format!("no task function {function}"))
        })?;
        workflow::run_task(&self.app, task, &payload)
            .await
            .map_err(|e| Failure::new(e.name(), e.to_string()))
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
