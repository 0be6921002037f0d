//! The AgentCore workflow in-process: `statemachines/agentcore-express.asl.json` and
//! `statemachines/agentcore.asl.json` (the files that deploy) interpreted here, their Task
//! states dispatched to the same task handlers as the production task functions, and the
//! express machine's `states:startExecution` task to the engine's durable runs.

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

/// The standard (durable) machine's definition that deploys.
pub const DEFINITION: &str = include_str!("../../../statemachines/agentcore.asl.json");

/// The express machine's definition that deploys.
pub const EXPRESS_DEFINITION: &str =
    include_str!("../../../statemachines/agentcore-express.asl.json");

/// The placeholder of the standard machine's ARN in the express definition.
const DURABLE_MACHINE_PLACEHOLDER: &str = "AgentCoreStateMachineArn";

/// What the standard machine is called locally (its "ARN" in the express machine).
const DURABLE_MACHINE: &str = "agentcore";

/// The Step Functions integration that starts a run of another state machine.
const START_EXECUTION: &str = "arn:aws:states:::states:startExecution";

fn substitutions() -> BTreeMap<String, String> {
    Task::ALL
        .iter()
        .map(|t| (t.placeholder().to_owned(), t.binary().to_owned()))
        .chain([(
            DURABLE_MACHINE_PLACEHOLDER.to_owned(),
            DURABLE_MACHINE.to_owned(),
        )])
        .collect()
}

/// The standard AgentCore machine, with each task's placeholder naming its local function.
pub fn machine() -> Result<Machine, AslError> {
    parse_definition(DEFINITION, &substitutions())
}

/// The express AgentCore machine, likewise.
pub fn express_machine() -> Result<Machine, AslError> {
    parse_definition(EXPRESS_DEFINITION, &substitutions())
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
        if function == START_EXECUTION {
            return self.continue_durably(payload).await;
        }
        let task = Task::named(function).ok_or_else(|| {
            Failure::new("States.Runtime", format!("no task function {function}"))
        })?;
        workflow::run_task(&self.app, task, &payload)
            .await
            .map_err(|e| Failure::new(e.name(), e.to_string()))
    }
}

impl LocalTasks {
    /// The `states:startExecution` integration, as the express machine uses it: a run of the
    /// standard machine, named, started once.
    async fn continue_durably(&self, parameters: Value) -> Result<Value, Failure> {
        if parameters["StateMachineArn"] != DURABLE_MACHINE {
            return Err(Failure::new(
                "StepFunctions.StateMachineDoesNotExistException",
                format!("no local state machine {}", parameters["StateMachineArn"]),
            ));
        }
        let name = parameters["Name"].as_str().ok_or_else(|| {
            Failure::new("States.Runtime", "startExecution needs a Name".to_owned())
        })?;
        self.app
            .workflows
            .continue_durably(name, &parameters["Input"])
            .await
            .map_err(|e| Failure::new("StepFunctions.SdkClientException", e.to_string()))?;
        Ok(serde_json::json!({
            "ExecutionArn": format!("{DURABLE_MACHINE}:{name}"),
            "StartDate": time::OffsetDateTime::now_utc().unix_timestamp(),
        }))
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
