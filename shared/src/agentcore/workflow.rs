//! The AgentCore workflow's tasks: what each Task state of `statemachines/agentcore.asl.json`
//! runs. The state carries only ids; every task reads what it needs and writes its results
//! through the repositories, so the workflow state stays tiny. Tasks are safe to retry: a
//! finished step or a settled execution is left as it is.

use serde_json::{json, Value};

use super::context::{add_tokens, context, load, memory, save};
use super::plan::{self as planning, PlanError, PlanningBrief};
use super::steps::run_step;
use super::task::{Task, TaskError};
use crate::app::executions::{self, Progress, Settlement, MAX_STEPS};
use crate::app::memory;
use crate::app::App;
use crate::domain::catalog::{self, DEFAULT_TEXT};
use crate::domain::execution::{run_claim, ExecutionError, ExecutionStatus, TaskInput};
use crate::domain::step::Step;

fn text_field(payload: &Value, field: &str) -> String {
    payload[field].as_str().unwrap_or_default().to_owned()
}

/// Runs `task` on the payload the state machine sent it: `{team_id, execution_id}` plus
/// `task_token` (approval), `index` (a step) or `error` and `cause` (a failure).
/// This is where a task's server error is logged, once, with its cause.
pub async fn run_task(app: &App, task: Task, payload: &Value) -> Result<Value, TaskError> {
    let result = run_task_once(app, task, payload).await;
    if let Err(error @ TaskError::Internal(_)) = &result {
        tracing::error!(task = task.binary(), %error, "task failed");
    }
    result
}

async fn run_task_once(app: &App, task: Task, payload: &Value) -> Result<Value, TaskError> {
    let input: TaskInput = serde_json::from_value(payload.clone())
        .map_err(|e| TaskError::Internal(format!("{}: invalid input: {e}", task.binary())))?;
    match task {
        Task::LoadContext => load_context(app, &input, payload["run_id"].as_str()).await,
        Task::Plan => plan(app, &input).await,
        Task::RequestApproval => {
            request_approval(app, &input, &text_field(payload, "task_token")).await
        }
        Task::RunStep => {
            let index = payload["index"]
                .as_u64()
                .ok_or_else(|| TaskError::Internal("run-step needs a step `index`".into()))?;
            run_step(app, &input, index as usize).await
        }
        Task::Finish => finish(app, &input).await,
        Task::Fail => {
            let (error, cause) = (text_field(payload, "error"), text_field(payload, "cause"));
            fail(app, &input, &error, &cause).await
        }
    }
}

/// Starts the run: the execution is `running`; says whether the plan needs approval.
///
/// An express run (its payload names it, `run_id`) claims the execution as it leaves
/// `queued`; a run that finds it claimed by another — the express service starts runs at
/// least once — ends with `DuplicateRun`. Durable runs, one per execution, need no claim.
pub async fn load_context(
    app: &App,
    input: &TaskInput,
    run_id: Option<&str>,
) -> Result<Value, TaskError> {
    let loaded = load(app, input).await?;
    let claim = run_id.map(run_claim);
    match loaded.execution.status {
        ExecutionStatus::Queued => {
            let mut execution = loaded.execution.clone();
            execution.status = ExecutionStatus::Running;
            execution.run = claim;
            save(
                app,
                input,
                &execution,
                ExecutionStatus::Queued,
                Progress::Started,
            )
            .await?;
        }
        ExecutionStatus::Running => {
            if claim.is_some() && loaded.execution.run != claim {
                return Err(TaskError::DuplicateRun(format!(
                    "run {}: another run holds the execution",
                    run_id.unwrap_or_default()
                )));
            }
        }
        other => {
            return Err(TaskError::Cancelled(format!(
                "the execution is {}",
                other.as_str()
            )))
        }
    }
    Ok(
        json!({"team_id": input.team_id, "execution_id": input.execution_id, "requires_approval": loaded.agent.requires_approval}),
    )
}

/// The longest plan an express run carries out itself: planning and this many steps stay
/// well inside its five minutes with today's models (tens of seconds a call). A longer plan
/// continues on the durable workflow, as does one that needs approval; an express run that
/// overruns anyway is continued there by the dispatcher's check ([`super::dispatch`]).
pub const EXPRESS_MAX_STEPS: usize = 4;

/// Plans the execution and stores its steps; returns their indexes for the Map state and
/// whether they are few enough for an express run (`short`).
pub async fn plan(app: &App, input: &TaskInput) -> Result<Value, TaskError> {
    let mut loaded = load(app, input).await?;
    loaded.memory = memory(app, input, &loaded.execution).await?;
    let mut execution = loaded.execution.clone();
    if execution.steps.is_empty() {
        let context = context(&loaded);
        let model = catalog::to_call(loaded.agent.models.planner.as_deref(), DEFAULT_TEXT);
        let brief = PlanningBrief {
            model: &model,
            instructions: loaded.agent.instructions.as_deref(),
            allowed: &loaded.agent.allowed_capabilities,
            max_steps: MAX_STEPS,
            request: &execution.request,
            facts: &context.facts,
            this_run: &context.this_run,
            product: loaded.product.as_ref().map(|p| p.name.as_str()),
            guardrail: execution.guardrail.as_ref(),
        };
        let (plan, responses) =
            planning::plan(app.llm.as_ref(), &brief)
                .await
                .map_err(|e| match e {
                    PlanError::InvalidPlan(_) => TaskError::InvalidPlan(e.to_string()),
                    PlanError::Blocked(_) => TaskError::GuardrailIntervened(e.to_string()),
                    PlanError::Ai(ai) => ai.into(),
                })?;
        for response in &responses {
            add_tokens(&mut execution.tokens, response);
        }
        execution.steps = plan
            .steps
            .into_iter()
            .map(|s| Step::planned(s.capability, s.title, s.input))
            .collect();
        save(
            app,
            input,
            &execution,
            ExecutionStatus::Running,
            Progress::Planned,
        )
        .await?;
    }
    let indexes: Vec<usize> = (0..execution.steps.len()).collect();
    let short = indexes.len() <= EXPRESS_MAX_STEPS;
    Ok(
        json!({"team_id": input.team_id, "execution_id": input.execution_id, "steps": indexes, "short": short}),
    )
}

/// Ends a successful run: charges planning and the steps, refunds the rest.
pub async fn finish(app: &App, input: &TaskInput) -> Result<Value, TaskError> {
    let settlement = Settlement {
        status: ExecutionStatus::Succeeded,
        error: None,
        approval: None,
        only_while: None,
        by: None,
    };
    let settled = executions::settle(app, &input.team_id, &input.execution_id, settlement).await?;
    // After the settlement: a retried finish finds the execution settled and keeps its memory
    // again (the record is keyed by the execution).
    memory::remember(app, &input.team_id, &settled).await?;
    Ok(json!({"status": settled.status, "credits": settled.credits}))
}

/// Ends a failed run: records the error, charges what ran, refunds the rest.
pub async fn fail(
    app: &App,
    input: &TaskInput,
    error: &str,
    cause: &str,
) -> Result<Value, TaskError> {
    let settlement = Settlement::failed(ExecutionError {
        code: error.to_owned(),
        message: cause.chars().take(1_000).collect(),
    });
    let settled = executions::settle(app, &input.team_id, &input.execution_id, settlement).await?;
    Ok(json!({"status": settled.status, "credits": settled.credits}))
}

/// Pauses for approval: the execution waits as `awaiting_approval` with the task token that
/// the approval request will send back to the state machine.
pub async fn request_approval(
    app: &App,
    input: &TaskInput,
    task_token: &str,
) -> Result<Value, TaskError> {
    match executions::await_approval(app, &input.team_id, &input.execution_id, task_token).await? {
        true => Ok(json!({"awaiting_approval": true})),
        false => Err(TaskError::Cancelled(
            "the execution is no longer running".into(),
        )),
    }
}
