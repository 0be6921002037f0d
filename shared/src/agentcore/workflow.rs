//! The AgentCore workflow's tasks: what each Task state of `statemachines/agentcore.asl.json`
//! runs. The state carries only ids; every task reads what it needs and writes its results to
//! the table (or the object store), so the workflow state stays tiny. Tasks are safe to retry:
//! a finished step or a settled execution is left as it is.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::analysis;
use super::cosell::{self, Needs};
use super::plan::{self as planning, PlanError, PlanningBrief};
use super::prompts;
use crate::app::executions::{self, execution_key, Settlement, MAX_STEPS};
use crate::app::items::{from_item, value_of};
use crate::app::{keys, App};
use crate::domain::agent::AgentDraft;
use crate::domain::capabilities::{
    analyze_content, capability, cosell_match, generate_image, Capability, Runner, WritingBrief,
};
use crate::domain::catalog::{DEFAULT_IMAGE, DEFAULT_TEXT};
use crate::domain::execution::{Execution, ExecutionError, ExecutionStatus, TaskInput, TokenUsage};
use crate::domain::ids::TeamId;
use crate::domain::resources::{CompanyDraft, PartnerDraft, ProductDraft};
use crate::domain::step::{Step, StepStatus};
use crate::error::Error;
use crate::ports::ai::{
    AiError, ImageRequest, Message, ModelTask, Speaker, TextRequest, TextResponse,
};
use crate::ports::table::{Condition, Index, Key, Query, Update, UpdateAction, Value as Attr};

/// A task failure with a stable name for the state machine's Retry and Catch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The planner produced no valid plan.
    #[error("{0}")]
    InvalidPlan(String),
    /// A model or the table is throttling; retry with backoff.
    #[error("{0}")]
    Throttled(String),
    /// A model is temporarily unavailable; retry with backoff.
    #[error("{0}")]
    Unavailable(String),
    /// A step cannot run (a refused model call, a missing product, …).
    #[error("{0}")]
    StepFailed(String),
    /// The execution has been cancelled; stop quietly.
    #[error("{0}")]
    Cancelled(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl TaskError {
    /// The error name the state machine matches (Lambda's `errorType`).
    pub fn name(&self) -> &'static str {
        match self {
            TaskError::InvalidPlan(_) => "InvalidPlan",
            TaskError::Throttled(_) => "Throttled",
            TaskError::Unavailable(_) => "Unavailable",
            TaskError::StepFailed(_) => "StepFailed",
            TaskError::Cancelled(_) => "Cancelled",
            TaskError::Internal(_) => "Internal",
        }
    }
}

impl From<Error> for TaskError {
    fn from(error: Error) -> Self {
        match error {
            Error::Throttled => TaskError::Throttled(error.to_string()),
            Error::Unavailable { .. } => TaskError::Unavailable(error.to_string()),
            _ => TaskError::Internal(error.to_string()),
        }
    }
}

impl From<AiError> for TaskError {
    fn from(error: AiError) -> Self {
        match error {
            AiError::Throttled(m) => TaskError::Throttled(m),
            AiError::Unavailable(m) => TaskError::Unavailable(m),
            AiError::Rejected(m) => TaskError::StepFailed(m),
        }
    }
}

/// The state machine's Task states, each one Lambda function (one binary) in production.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Marks the execution running; says whether approval is needed.
    LoadContext,
    /// Plans the steps.
    Plan,
    /// Parks the execution with its task token until a person decides.
    RequestApproval,
    /// Runs one step.
    RunStep,
    /// Settles a successful execution.
    Finish,
    /// Records a failure and settles.
    Fail,
}

impl Task {
    /// Every task.
    pub const ALL: [Task; 6] = [
        Task::LoadContext,
        Task::Plan,
        Task::RequestApproval,
        Task::RunStep,
        Task::Finish,
        Task::Fail,
    ];

    /// The binary in `functions/` and the local stack's function name.
    pub fn binary(self) -> &'static str {
        match self {
            Task::LoadContext => "load-context",
            Task::Plan => "plan",
            Task::RequestApproval => "request-approval",
            Task::RunStep => "run-step",
            Task::Finish => "finish",
            Task::Fail => "fail",
        }
    }

    /// The `${Placeholder}` of its ARN in `statemachines/agentcore.asl.json`, also the key of
    /// its `DefinitionSubstitutions` entry in `template.yaml`.
    pub fn placeholder(self) -> &'static str {
        match self {
            Task::LoadContext => "LoadContextFunctionArn",
            Task::Plan => "PlanFunctionArn",
            Task::RequestApproval => "RequestApprovalFunctionArn",
            Task::RunStep => "RunStepFunctionArn",
            Task::Finish => "FinishFunctionArn",
            Task::Fail => "FailFunctionArn",
        }
    }

    /// The function's logical id in `template.yaml`.
    pub fn function(self) -> &'static str {
        match self {
            Task::LoadContext => "LoadContextFunction",
            Task::Plan => "PlanFunction",
            Task::RequestApproval => "RequestApprovalFunction",
            Task::RunStep => "RunStepFunction",
            Task::Finish => "FinishFunction",
            Task::Fail => "FailFunction",
        }
    }

    /// The task whose binary is `name`.
    pub fn named(name: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.binary() == name)
    }
}

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
        Task::LoadContext => load_context(app, &input).await,
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

/// Everything a task needs about an execution.
struct Loaded {
    execution: Execution,
    /// The team's latest successful executions, as memory for the planner and the writers.
    memory: Vec<String>,
    agent: AgentDraft,
    company: Option<CompanyDraft>,
    product: Option<ProductDraft>,
    partner: Option<PartnerDraft>,
}

async fn record<D: serde::de::DeserializeOwned>(
    app: &App,
    team: &TeamId,
    prefix: &str,
    id: Option<&str>,
) -> Result<Option<D>, TaskError> {
    let Some(id) = id else { return Ok(None) };
    let item = app
        .table
        .get(&Key::new(
            keys::team_partition(team),
            format!("{prefix}{id}"),
        ))
        .await
        .map_err(Error::from)?;
    let Some(item) = item else { return Ok(None) };
    let record: crate::app::records::Record<D> = from_item(&item)?;
    Ok(Some(record.data))
}

async fn load(app: &App, input: &TaskInput) -> Result<Loaded, TaskError> {
    let execution = executions::find(app, &input.team_id, &input.execution_id)
        .await?
        .ok_or_else(|| {
            TaskError::Internal(format!("execution {} not found", input.execution_id))
        })?;
    let team = &input.team_id;
    let agent = record::<AgentDraft>(app, team, "AGENT#", Some(execution.agent_id.as_str()))
        .await?
        .ok_or_else(|| TaskError::StepFailed("the execution's agent has been deleted".into()))?;
    let company = record(
        app,
        team,
        "COMPANY#",
        execution.company_id.as_ref().map(|c| c.as_str()),
    )
    .await?;
    let product = record(
        app,
        team,
        "PRODUCT#",
        execution.product_id.as_ref().map(|p| p.as_str()),
    )
    .await?;
    let partner = record(
        app,
        team,
        "PARTNER#",
        execution.partner_id.as_ref().map(|p| p.as_str()),
    )
    .await?;
    Ok(Loaded {
        execution,
        memory: Vec::new(),
        agent,
        company,
        product,
        partner,
    })
}

/// How many earlier results the planner and the writers are reminded of.
const MEMORY_RESULTS: usize = 3;

/// The team's latest successful executions other than this one, one line each: what was
/// asked and what it produced.
async fn memory(app: &App, input: &TaskInput) -> Result<Vec<String>, TaskError> {
    let mut query = Query::prefix(Index::Table, keys::team_partition(&input.team_id), "EXEC#");
    query.descending = true;
    query.limit = 20;
    let page = app.table.query(query).await.map_err(Error::from)?;
    let mut lines = Vec::new();
    for item in &page.items {
        let earlier: Execution = from_item(item)?;
        if earlier.id == input.execution_id || earlier.status != ExecutionStatus::Succeeded {
            continue;
        }
        let request: String = earlier.request.chars().take(160).collect();
        let produced: Vec<&str> = earlier.steps.iter().map(|s| s.title.as_str()).collect();
        lines.push(format!(
            "- {}: \"{request}\" → {}",
            &earlier.created_at[..10.min(earlier.created_at.len())],
            produced.join("; ")
        ));
        if lines.len() == MEMORY_RESULTS {
            break;
        }
    }
    Ok(lines)
}

/// What the planner and the writers know about the brand, product and partner, and the
/// team's recent results.
fn context(loaded: &Loaded) -> String {
    let mut lines = Vec::new();
    if let Some(company) = &loaded.company {
        lines.push(format!(
            "Company: {}{}",
            company.name,
            company
                .description
                .as_ref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        ));
    }
    if let Some(product) = &loaded.product {
        lines.push(format!(
            "Product: {}{}",
            product.name,
            product
                .description
                .as_ref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        ));
        if !product.use_cases.is_empty() {
            lines.push(format!("Use cases: {}", product.use_cases.join("; ")));
        }
    }
    if let Some(partner) = &loaded.partner {
        lines.push(format!(
            "Partner: {} (industries: {}; regions: {})",
            partner.name,
            partner.industries.join(", "),
            partner.regions.join(", ")
        ));
    }
    if !loaded.execution.inputs.is_empty() {
        lines.push(format!(
            "Inputs: {}",
            Value::Object(loaded.execution.inputs.clone())
        ));
    }
    if !loaded.memory.is_empty() {
        lines.push("Recent results of this team:".into());
        lines.extend(loaded.memory.iter().cloned());
    }
    lines.join("\n")
}

/// Writes an execution's progress, unless it has been cancelled or has ended meanwhile.
async fn save(
    app: &App,
    input: &TaskInput,
    execution: &Execution,
    from: ExecutionStatus,
) -> Result<(), TaskError> {
    let steps =
        serde_json::to_string(&execution.steps).map_err(|e| TaskError::Internal(e.to_string()))?;
    let update = Update {
        key: execution_key(&input.team_id, &input.execution_id),
        actions: vec![
            UpdateAction::Set("status".into(), execution.status.as_str().into()),
            UpdateAction::Set("steps".into(), Attr::S(steps)),
            UpdateAction::Set("tokens".into(), value_of(&execution.tokens)?),
        ],
        condition: Some(Condition::eq("status", from.as_str())),
    };
    match app.table.update(update).await {
        Ok(_) => Ok(()),
        Err(crate::ports::table::TableError::ConditionFailed) => Err(TaskError::Cancelled(
            "the execution was cancelled or has ended".into(),
        )),
        Err(other) => Err(Error::from(other).into()),
    }
}

fn add_tokens(tokens: &mut BTreeMap<String, TokenUsage>, response: &TextResponse) {
    let usage = tokens.entry(response.model.clone()).or_default();
    usage.input += response.input_tokens;
    usage.output += response.output_tokens;
}

/// Starts the run: the execution is `running`; says whether the plan needs approval.
pub async fn load_context(app: &App, input: &TaskInput) -> Result<Value, TaskError> {
    let loaded = load(app, input).await?;
    match loaded.execution.status {
        ExecutionStatus::Queued => {
            let mut execution = loaded.execution.clone();
            execution.status = ExecutionStatus::Running;
            save(app, input, &execution, ExecutionStatus::Queued).await?;
        }
        ExecutionStatus::Running => {}
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

/// Plans the execution and stores its steps; returns their indexes for the Map state.
pub async fn plan(app: &App, input: &TaskInput) -> Result<Value, TaskError> {
    let mut loaded = load(app, input).await?;
    loaded.memory = memory(app, input).await?;
    let mut execution = loaded.execution.clone();
    if execution.steps.is_empty() {
        let context = context(&loaded);
        let brief = PlanningBrief {
            model: loaded
                .agent
                .models
                .planner
                .as_deref()
                .unwrap_or(DEFAULT_TEXT),
            instructions: loaded.agent.instructions.as_deref(),
            allowed: &loaded.agent.allowed_capabilities,
            max_steps: MAX_STEPS,
            request: &execution.request,
            context: &context,
            product: loaded.product.as_ref().map(|p| p.name.as_str()),
        };
        let (plan, responses) =
            planning::plan(app.llm.as_ref(), &brief)
                .await
                .map_err(|e| match e {
                    PlanError::InvalidPlan(_) => TaskError::InvalidPlan(e.to_string()),
                    PlanError::Ai(ai) => ai.into(),
                })?;
        for response in &responses {
            add_tokens(&mut execution.tokens, response);
        }
        execution.steps = plan
            .steps
            .into_iter()
            .map(|s| Step {
                capability: s.capability,
                title: s.title,
                input: s.input,
                status: StepStatus::Pending,
                credits: 0,
                output: None,
                error: None,
            })
            .collect();
        save(app, input, &execution, ExecutionStatus::Running).await?;
    }
    let indexes: Vec<usize> = (0..execution.steps.len()).collect();
    Ok(json!({"team_id": input.team_id, "execution_id": input.execution_id, "steps": indexes}))
}

/// Runs one planned step with its capability's runner and stores its output and cost.
pub async fn run_step(app: &App, input: &TaskInput, index: usize) -> Result<Value, TaskError> {
    let mut loaded = load(app, input).await?;
    let mut execution = loaded.execution.clone();
    let step = execution
        .steps
        .get(index)
        .cloned()
        .ok_or_else(|| TaskError::Internal(format!("the plan has no step {index}")))?;
    if step.status == StepStatus::Succeeded {
        return Ok(json!({"index": index, "credits": step.credits}));
    }
    let spec = capability(&step.capability)
        .ok_or_else(|| TaskError::StepFailed(format!("unknown capability {}", step.capability)))?;
    let voice = loaded
        .company
        .as_ref()
        .map(|c| c.brand_voice.clone())
        .unwrap_or_default();
    let (output, credits) = match spec.runner {
        Runner::Writer { rules, .. } => {
            loaded.memory = memory(app, input).await?;
            let brief = WritingBrief {
                capability: spec.id.to_owned(),
                input: step.input.clone(),
                request: execution.request.clone(),
                brand: loaded.company.as_ref().map(|c| c.name.clone()),
                promise: voice.value_propositions.first().cloned(),
            };
            let request = TextRequest {
                model: loaded
                    .agent
                    .models
                    .writer
                    .clone()
                    .unwrap_or_else(|| DEFAULT_TEXT.into()),
                system: prompts::writer_system(
                    spec.id,
                    rules,
                    &prompts::brand_voice(loaded.company.as_ref()),
                    &context(&loaded),
                ),
                messages: vec![Message {
                    speaker: Speaker::User,
                    text: prompts::writer_user(&execution.request, &step.title, &step.input),
                }],
                max_tokens: spec.credits.max_output_tokens().unwrap_or(1_000) as i32,
                temperature: 0.7,
                task: Some(ModelTask::Write(brief)),
            };
            let response = app.llm.converse(request).await?;
            add_tokens(&mut execution.tokens, &response);
            let compliance = analysis::compliance(&response.text, &voice, &[]);
            (
                json!({"text": response.text, "compliance": compliance}),
                spec.credits.charge(response.output_tokens, 0),
            )
        }
        Runner::Painter => {
            let image: generate_image::Input = typed_input(&step)?;
            let (width, height) = image.size.unwrap_or_default().pixels();
            let prompt = match image.style {
                Some(style) => format!("{}, {style}", image.prompt),
                None => image.prompt,
            };
            let model = loaded
                .agent
                .models
                .image
                .clone()
                .unwrap_or_else(|| DEFAULT_IMAGE.into());
            let image = app
                .images
                .generate(ImageRequest {
                    model,
                    prompt,
                    width,
                    height,
                    seed: index as u32,
                })
                .await?;
            let key = format!(
                "teams/{}/executions/{}/step-{index}.png",
                input.team_id, input.execution_id
            );
            app.objects
                .put(&key, image.png, "image/png")
                .await
                .map_err(|e| TaskError::Unavailable(e.to_string()))?;
            (
                json!({"image_key": key, "model": image.model}),
                spec.credits.charge(0, 1),
            )
        }
        Runner::Analyzer => {
            let request: analyze_content::Input = typed_input(&step)?;
            let result = analysis::analyze(
                &request.text,
                &voice,
                &request.required_terms,
                &request.keywords,
            );
            let output =
                serde_json::to_value(result).map_err(|e| TaskError::Internal(e.to_string()))?;
            (output, spec.credits.charge(0, 0))
        }
        Runner::PartnerMatcher => (
            match_partners(app, input, &loaded, typed_input(&step)?).await?,
            spec.credits.charge(0, 0),
        ),
    };
    let output = keep_small(app, input, index, output).await?;
    execution.steps[index] = Step {
        status: StepStatus::Succeeded,
        output: Some(output),
        credits,
        ..step
    };
    save(app, input, &execution, ExecutionStatus::Running).await?;
    Ok(json!({"index": index, "credits": credits}))
}

/// Outputs larger than this go to the object store; the execution keeps a reference, so it
/// stays far below DynamoDB's 400 KB item limit with every step filled.
pub const INLINE_OUTPUT_BYTES: usize = 16 * 1024;

/// Moves a large output to the object store, leaving `{output_key, bytes, preview}`.
async fn keep_small(
    app: &App,
    input: &TaskInput,
    index: usize,
    output: Value,
) -> Result<Value, TaskError> {
    let bytes = serde_json::to_vec(&output).map_err(|e| TaskError::Internal(e.to_string()))?;
    if bytes.len() <= INLINE_OUTPUT_BYTES {
        return Ok(output);
    }
    let key = format!(
        "teams/{}/executions/{}/step-{index}.json",
        input.team_id, input.execution_id
    );
    let size = bytes.len();
    let preview: String = output["text"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(500)
        .collect();
    app.objects
        .put(&key, bytes, "application/json")
        .await
        .map_err(|e| TaskError::Unavailable(e.to_string()))?;
    Ok(json!({"output_key": key, "bytes": size, "preview": preview}))
}

/// A step's input as its capability's type (the planner checked it against the same type).
fn typed_input<I: serde::de::DeserializeOwned>(step: &Step) -> Result<I, TaskError> {
    Capability::input(&step.input).map_err(|e| {
        TaskError::StepFailed(format!("{}: invalid input: {}", step.capability, e.message))
    })
}

/// `cosell_match`: the team's partners ranked by overlap with the product's needs.
async fn match_partners(
    app: &App,
    input: &TaskInput,
    loaded: &Loaded,
    request: cosell_match::Input,
) -> Result<Value, TaskError> {
    let product = match &request.product_id {
        Some(id) => {
            record::<ProductDraft>(app, &input.team_id, "PRODUCT#", Some(id.as_str())).await?
        }
        None => loaded.product.clone(),
    };
    let mut needs = Needs {
        industries: request.industries,
        regions: request.regions,
        solution_areas: Vec::new(),
    };
    if let Some(product) = &product {
        needs.solution_areas = product
            .categories
            .iter()
            .chain(&product.use_cases)
            .cloned()
            .collect();
    }
    let mut query = Query::prefix(
        Index::Table,
        keys::team_partition(&input.team_id),
        "PARTNER#",
    );
    query.limit = 100;
    let page = app.table.query(query).await.map_err(Error::from)?;
    let partners: Vec<(String, PartnerDraft)> = page
        .items
        .iter()
        .map(|item| {
            from_item::<crate::app::records::Record<PartnerDraft>>(item).map(|r| (r.id, r.data))
        })
        .collect::<Result<_, _>>()?;
    let ranked = cosell::rank(&needs, &partners, request.limit.unwrap_or(5) as usize);
    Ok(json!({"matches": ranked, "partners_considered": partners.len()}))
}

/// Ends a successful run: charges planning and the steps, refunds the rest.
pub async fn finish(app: &App, input: &TaskInput) -> Result<Value, TaskError> {
    let settlement = Settlement {
        status: ExecutionStatus::Succeeded,
        error: None,
        approval: None,
    };
    let settled = executions::settle(app, &input.team_id, &input.execution_id, settlement).await?;
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
    let update = Update {
        key: execution_key(&input.team_id, &input.execution_id),
        actions: vec![
            UpdateAction::Set(
                "status".into(),
                ExecutionStatus::AwaitingApproval.as_str().into(),
            ),
            UpdateAction::Set("approval_token".into(), task_token.into()),
        ],
        condition: Some(Condition::eq("status", ExecutionStatus::Running.as_str())),
    };
    match app.table.update(update).await {
        Ok(_) => Ok(json!({"awaiting_approval": true})),
        Err(crate::ports::table::TableError::ConditionFailed) => Err(TaskError::Cancelled(
            "the execution is no longer running".into(),
        )),
        Err(other) => Err(Error::from(other).into()),
    }
}
