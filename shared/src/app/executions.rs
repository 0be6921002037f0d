//! Executions and their credits. Creating one reserves the most it could cost in the same
//! transaction that writes it; settling it charges what was used and refunds the rest in
//! another. So for every ended execution `reserved = used + refunded`, and a team's balance
//! never goes negative.

use std::collections::BTreeMap;

use super::credits::{self, Spent, Work};
use super::items::{from_item, to_item, value_of};
use super::records::{commit, filtered, filtered_entries, Guarded, Listing, PageRequest};
use super::resources;
use super::{budgets, events, keys, run_slots, usage, App, Caller};
use crate::domain::agent::AgentDraft;
use crate::domain::capabilities::{capability, Runner};
use crate::domain::catalog;
use crate::domain::events::{Actor, DomainEvent};
use crate::domain::events::{
    EXECUTION_APPROVED, EXECUTION_AWAITING_APPROVAL, EXECUTION_CANCELLED, EXECUTION_FAILED,
    EXECUTION_PLANNED, EXECUTION_QUEUED, EXECUTION_STARTED, EXECUTION_STEP_FAILED,
    EXECUTION_STEP_SUCCEEDED, EXECUTION_SUCCEEDED,
};
use crate::domain::execution::TaskInput;
use crate::domain::execution::{
    Approval, ApprovalRequest, Execution, ExecutionCredits, ExecutionError, ExecutionRequest,
    ExecutionStatus,
};
use crate::domain::ids::{AgentId, ExecutionId, TeamId};
use crate::domain::resources::{CompanyDraft, PartnerDraft, ProductDraft};
use crate::domain::step::StepStatus;
use crate::domain::usage as measures;
use crate::error::{Conflict, Error};
use crate::ports::metrics::{MetricEvent, Unit};
use crate::ports::table::TableError;
use crate::ports::table::{
    Condition, Index, Item, Query, SortKey, Update, UpdateAction, WriteOp, GSI1PK, GSI1SK,
};
use crate::ports::workflows::WorkflowError;
use crate::ports::{parse_rfc3339, rfc3339};
use serde_json::{json, Value};

/// Credits charged for planning an execution.
pub const PLANNING_CREDITS: i64 = 2;
/// The most steps a plan may have.
pub const MAX_STEPS: usize = 5;

/// The GSI1 partition listing an agent's executions, newest first by their ULIDs.
fn agent_executions_partition(team: &TeamId, agent: &AgentId) -> String {
    format!("{}#AGENT#{agent}", keys::team_partition(team))
}

/// The small item that lists an execution under its agent on GSI1, written once with it. The
/// execution item stays off the index, whose projection copies every attribute: each of its
/// progress writes would be written twice. (Executions created before carry the GSI1 keys
/// themselves, and are listed as they are.)
fn agent_listing_entry(team: &TeamId, execution: &Execution) -> Result<Guarded, Error> {
    let key = keys::agent_listing_entry(team, &execution.id);
    let mut item = to_item(
        &ListedExecution {
            execution_id: execution.id.clone(),
        },
        &key,
        AGENT_LISTING_ENTRY,
    )?;
    item.insert(
        GSI1PK.into(),
        agent_executions_partition(team, &execution.agent_id).into(),
    );
    item.insert(
        GSI1SK.into(),
        keys::execution(team, &execution.id).sk.into(),
    );
    Ok(Guarded::new(
        WriteOp::Put {
            item,
            condition: None,
        },
        Error::internal("an unconditional write failed its condition"),
    ))
}

/// The `type` of [`agent_listing_entry`] items.
const AGENT_LISTING_ENTRY: &str = "agent_execution";

/// What an agent listing entry holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct ListedExecution {
    execution_id: ExecutionId,
}

/// The execution an entry of an agent's listing stands for: the entry's own, or the
/// execution item itself for executions listed before entries existed.
async fn listed_execution(
    app: &App,
    team: &TeamId,
    entry: Item,
) -> Result<Option<Execution>, Error> {
    if entry.get("type").and_then(|t| t.as_str()) != Some(AGENT_LISTING_ENTRY) {
        return from_item(&entry).map(Some);
    }
    let listed: ListedExecution = from_item(&entry)?;
    find(app, team, &listed.execution_id).await
}

/// Tokens an execution's model call is assumed to read at most, for its most cost against a
/// money budget (prompts are the brand voice, the context and the request: far less).
pub const INPUT_TOKENS_BOUND: i64 = 8_000;
/// Tokens the planner may write.
pub const PLANNING_OUTPUT_TOKENS: i64 = 2_000;

/// The most an execution of `agent` may cost in micro-dollars, what it commits against a money
/// budget: the planner's call and every step at its dearest allowed capability.
pub fn cost_bound(agent: &AgentDraft) -> i64 {
    let price =
        |id: Option<&String>, default: &str| catalog::model(id.map_or(default, |m| m.as_str()));
    let planner = price(agent.models.planner.as_ref(), catalog::DEFAULT_TEXT);
    let writer = price(agent.models.writer.as_ref(), catalog::DEFAULT_TEXT);
    let painter = price(agent.models.image.as_ref(), catalog::DEFAULT_IMAGE);
    let planning = planner.map_or(0, |m| {
        m.cost_bound(INPUT_TOKENS_BOUND, PLANNING_OUTPUT_TOKENS, 0)
    });
    let dearest_step = agent
        .allowed_capabilities
        .iter()
        .filter_map(|id| capability(id))
        .map(|c| match c.runner {
            Runner::Writer { .. } => writer.map_or(0, |m| {
                let output = c.credits.max_output_tokens().unwrap_or(1_000);
                m.cost_bound(INPUT_TOKENS_BOUND, output, 0)
            }),
            Runner::Painter => painter.map_or(0, |m| m.cost_bound(0, 0, 1)),
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    planning + dearest_step * MAX_STEPS as i64
}

/// The most an execution of `agent` can cost: planning plus the dearest allowed capability
/// for every step.
pub fn reservation(agent: &AgentDraft) -> i64 {
    let dearest = agent
        .allowed_capabilities
        .iter()
        .filter_map(|id| capability(id))
        .map(|c| c.credits.reserve())
        .max()
        .unwrap_or(0);
    PLANNING_CREDITS + dearest * MAX_STEPS as i64
}

/// Creates an execution of an agent and reserves its credits; too few credits → 402 and
/// nothing written.
pub async fn create(
    app: &App,
    caller: &Caller,
    agent_id: &str,
    request: ExecutionRequest,
) -> Result<Execution, Error> {
    let request = request.validate()?;
    let agent = resources::get::<AgentDraft>(app, caller, agent_id).await?;
    let team = super::teams::get_team(app, caller).await?;
    let reserved = reservation(&agent.data);
    let id = ExecutionId::generate();
    let (commitment, reservation) = credits::reserve(
        app,
        &team,
        &caller.user_id,
        reserved,
        cost_bound(&agent.data),
        &Work::Execution(id.to_string()),
        format!(
            "This agent's executions reserve up to {reserved} credits and your team has fewer available; ask an admin for more credits."
        ),
    )
    .await?;
    let execution = Execution {
        id,
        agent_id: AgentId::parse(&agent.id).map_err(Error::internal)?,
        request: request.request,
        company_id: request.company_id.or(agent.data.default_company_id),
        product_id: request.product_id.or(agent.data.default_product_id),
        partner_id: request.partner_id,
        inputs: request.inputs,
        status: ExecutionStatus::Queued,
        credits: ExecutionCredits {
            reserved,
            used: 0,
            refunded: 0,
        },
        steps: Vec::new(),
        tokens: BTreeMap::new(),
        error: None,
        created_by: caller.user_id.clone(),
        created_at: rfc3339(app.clock.now()),
        finished_at: None,
        approval_token: None,
        approval: None,
        budget: Some(commitment),
        run: None,
        holds_slot: false,
        guardrail: team.guardrail.clone(),
        outputs_apart: true,
    };
    let key = keys::execution(&caller.team_id, &execution.id);
    let item = to_item(&execution, &key, "execution")?;
    let mut writes = vec![
        Guarded::new(
            WriteOp::Put {
                item,
                condition: Some(Condition::item_absent()),
            },
            Error::conflict(Conflict::Changed, "Execution ids collided; retry."),
        ),
        agent_listing_entry(&caller.team_id, &execution)?,
    ];
    writes.extend(reservation);
    writes.push(run_slots::listing(&caller.team_id, &execution.id));
    writes.push(execution_event(
        app,
        &caller.team_id,
        EXECUTION_QUEUED,
        &execution,
        Some(caller.actor()),
        json!({}),
    )?);
    // First, so an inactive subscription answers 403 even when credits are short too.
    if let Some(check) = credits::subscription_check(&team) {
        writes.insert(0, check);
    }
    if let Some(id) = &execution.company_id {
        writes.push(resources::exists::<CompanyDraft>(caller, id, "company_id"));
    }
    if let Some(id) = &execution.product_id {
        writes.push(resources::exists::<ProductDraft>(caller, id, "product_id"));
    }
    if let Some(id) = &execution.partner_id {
        writes.push(resources::exists::<PartnerDraft>(caller, id, "partner_id"));
    }
    commit(app.table.as_ref(), writes).await?;
    app.metrics.emit(
        MetricEvent::new("ExecutionsStarted", 1.0, Unit::Count)
            .and("CreditsReserved", reserved as f64, Unit::None)
            .by("Plan", team.plan.clone())
            .with("team_id", caller.team_id.to_string())
            .with("execution_id", execution.id.to_string()),
    );
    Ok(execution)
}

/// Reports an execution that this request ended: its outcome, duration and credits, and the
/// tokens and cost of each model it called.
fn report_ended(app: &App, team: &TeamId, execution: &Execution) {
    let duration_ms = execution
        .finished_at
        .as_deref()
        .and_then(parse_rfc3339)
        .zip(parse_rfc3339(&execution.created_at));
    let mut ended = MetricEvent::new("ExecutionsEnded", 1.0, Unit::Count)
        .and("CreditsUsed", execution.credits.used as f64, Unit::None)
        .and(
            "CreditsRefunded",
            execution.credits.refunded as f64,
            Unit::None,
        )
        .by("Outcome", execution.status.as_str())
        .with("team_id", team.to_string())
        .with("execution_id", execution.id.to_string());
    if let Some((finished, created)) = duration_ms {
        let ms = (finished - created).whole_milliseconds() as f64;
        ended = ended.and("ExecutionDuration", ms, Unit::Milliseconds);
    }
    app.metrics.emit(ended);
    for (model, usage) in &execution.tokens {
        let cost = catalog::model(model).map_or(0, |m| m.cost(usage, 0));
        app.metrics.emit(
            MetricEvent::new("InputTokens", usage.input as f64, Unit::None)
                .and("OutputTokens", usage.output as f64, Unit::None)
                .and("CacheReadTokens", usage.cache_read as f64, Unit::None)
                .and("CacheWriteTokens", usage.cache_write as f64, Unit::None)
                .and("CostMicroUsd", cost as f64, Unit::None)
                .by("Model", model.clone())
                .with("team_id", team.to_string())
                .with("execution_id", execution.id.to_string()),
        );
    }
}

/// Reads an execution of a team. Outputs kept apart are not read ([`with_outputs`] reads
/// them): only the detail view and the settlement's usage look at them.
pub async fn find(app: &App, team: &TeamId, id: &ExecutionId) -> Result<Option<Execution>, Error> {
    let Some(item) = app.table.get(&keys::execution(team, id)).await? else {
        return Ok(None);
    };
    let execution: Execution = from_item(&item)?;
    if execution.outputs_apart {
        // While a deployment rolls out, a function of the previous release may have written
        // outputs inline into an execution that keeps them apart: they are moved to their own
        // items before anything writes the steps again (which would drop them).
        for index in 0..execution.steps.len() {
            if let Some(item) = step_output_item(team, &execution, index)? {
                app.table.put(item, None).await?;
            }
        }
    }
    Ok(Some(execution))
}

/// The execution with the outputs it keeps apart read back into its steps (one query).
pub async fn with_outputs(
    app: &App,
    team: &TeamId,
    mut execution: Execution,
) -> Result<Execution, Error> {
    let missing = execution
        .steps
        .iter()
        .any(|s| s.status == StepStatus::Succeeded && s.output.is_none());
    if !execution.outputs_apart || !missing {
        return Ok(execution);
    }
    let query = Query::prefix(
        Index::Table,
        keys::team_partition(team),
        keys::step_outputs_prefix(&execution.id),
    );
    for item in app.table.query(query).await?.items {
        let stored: StepOutput = from_item(&item)?;
        if let Some(step) = execution.steps.get_mut(stored.index) {
            step.output = Some(stored.output);
        }
    }
    Ok(execution)
}

/// A step's output, in an item of its own ([`Execution::outputs_apart`]).
#[derive(serde::Serialize, serde::Deserialize)]
struct StepOutput {
    index: usize,
    #[serde(with = "crate::domain::json_text")]
    output: Value,
}

/// The steps as the execution item keeps them: without their outputs when those are kept
/// apart. Conditions on the steps compare this text.
fn stored_steps(execution: &Execution) -> Result<String, Error> {
    let text = if execution.outputs_apart {
        let steps: Vec<crate::domain::step::Step> = execution
            .steps
            .iter()
            .map(|s| crate::domain::step::Step {
                output: None,
                ..s.clone()
            })
            .collect();
        serde_json::to_string(&steps)
    } else {
        serde_json::to_string(&execution.steps)
    };
    text.map_err(Error::internal)
}

/// The item of step `index`'s output, when the execution keeps outputs apart and the step
/// has one.
fn step_output_item(
    team: &TeamId,
    execution: &Execution,
    index: usize,
) -> Result<Option<Item>, Error> {
    let output = execution.steps.get(index).and_then(|s| s.output.clone());
    let (true, Some(output)) = (execution.outputs_apart, output) else {
        return Ok(None);
    };
    let key = keys::step_output(team, &execution.id, index);
    to_item(&StepOutput { index, output }, &key, "step_output").map(Some)
}

/// The write of step `index`'s output in its own item, when outputs are kept apart.
fn step_output_write(
    team: &TeamId,
    execution: &Execution,
    index: usize,
) -> Result<Option<Guarded>, Error> {
    Ok(step_output_item(team, execution, index)?.map(|item| {
        Guarded::new(
            WriteOp::Put {
                item,
                condition: None,
            },
            Error::internal("an unconditional write failed its condition"),
        )
    }))
}

/// Creates an execution and queues it for the dispatcher. If the queue refuses the message,
/// the execution fails at once with its credits refunded, so nothing waits forever.
pub async fn start(
    app: &App,
    caller: &Caller,
    agent_id: &str,
    request: ExecutionRequest,
) -> Result<Execution, Error> {
    let execution = create(app, caller, agent_id, request).await?;
    let message = TaskInput {
        team_id: caller.team_id.clone(),
        execution_id: execution.id.clone(),
    };
    let body = serde_json::to_string(&message).map_err(Error::internal)?;
    if let Err(error) = app.queue.send(&body).await {
        let failure = ExecutionError {
            code: "QueueUnavailable".into(),
            message: "The execution could not be queued.".into(),
        };
        settle(
            app,
            &caller.team_id,
            &execution.id,
            Settlement::failed(failure),
        )
        .await?;
        return Err(Error::unavailable_because(
            "The execution could not be queued and its credits were refunded; retry shortly.",
            format!("queueing execution {}: {error}", execution.id),
        ));
    }
    Ok(execution)
}

/// What a progress write tells, as its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The workflow picked the execution up.
    Started,
    /// The plan was made.
    Planned,
    /// The step at this index succeeded.
    StepSucceeded(usize),
}

/// The event of a change to an execution, with its thin data (ids, statuses, figures).
fn execution_event(
    app: &App,
    team: &TeamId,
    kind: &str,
    execution: &Execution,
    by: Option<Actor>,
    extra: Value,
) -> Result<Guarded, Error> {
    let mut data = json!({
        "execution_id": execution.id,
        "agent_id": execution.agent_id,
        "status": execution.status,
        "credits": execution.credits,
    });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    let (event, mut write) = events::record(team, kind, by, data, app.clock.now())?;
    // Also on GSI1 under the execution, so its progress reads without the team's other events.
    if let WriteOp::Put { item, .. } = &mut write.write {
        item.insert(
            GSI1PK.into(),
            execution_events_partition(team, &execution.id).into(),
        );
        item.insert(
            GSI1SK.into(),
            format!("{}{}", events::EVENT_PREFIX, event.id).into(),
        );
    }
    Ok(write)
}

/// The GSI1 partition of an execution's events, in the order they happened.
fn execution_events_partition(team: &TeamId, id: &ExecutionId) -> String {
    format!("{}#EXEC#{id}", keys::team_partition(team))
}

/// Whether an event ends its execution's story.
pub fn is_terminal(kind: &str) -> bool {
    [EXECUTION_SUCCEEDED, EXECUTION_FAILED, EXECUTION_CANCELLED].contains(&kind)
}

/// An execution's events after the one with id `after` (all of them without it), oldest
/// first, at most `limit` (1–100).
pub async fn events_after(
    app: &App,
    team: &TeamId,
    id: &ExecutionId,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<DomainEvent>, Error> {
    let start = format!("{}{}", events::EVENT_PREFIX, after.unwrap_or(""));
    let query = Query {
        index: Index::Gsi1,
        partition: execution_events_partition(team, id),
        sort_key: SortKey::Between(start.clone(), format!("{}~", events::EVENT_PREFIX)),
        descending: false,
        limit: limit + 1,
        cursor: None,
    };
    let page = app.table.query(query).await?;
    page.items
        .iter()
        .filter(|item| item.get(GSI1SK).and_then(|v| v.as_str()) != Some(start.as_str()))
        .take(limit as usize)
        .map(events::read)
        .collect()
}

/// Writes a running execution's progress (status, steps, tokens) with the event that tells
/// of it, if it is still in `from`; `Ok(false)` when it was cancelled or has ended meanwhile,
/// and nothing is written.
pub async fn save_progress(
    app: &App,
    team: &TeamId,
    execution: &Execution,
    from: ExecutionStatus,
    progress: Progress,
) -> Result<bool, Error> {
    let steps = stored_steps(execution)?;
    let update = Update {
        key: keys::execution(team, &execution.id),
        actions: vec![
            UpdateAction::Set("status".into(), execution.status.as_str().into()),
            UpdateAction::Set("steps".into(), steps.into()),
            UpdateAction::Set("tokens".into(), value_of(&execution.tokens)?),
        ]
        .into_iter()
        .chain(
            execution
                .run
                .as_ref()
                .filter(|_| progress == Progress::Started)
                .map(|run| UpdateAction::Set("run".into(), run.as_str().into())),
        )
        .collect(),
        condition: Some(Condition::eq("status", from.as_str())),
    };
    let (kind, extra) = match progress {
        Progress::Started => (EXECUTION_STARTED, json!({})),
        Progress::Planned => {
            let steps: Vec<Value> = execution
                .steps
                .iter()
                .enumerate()
                .map(|(index, s)| json!({"index": index, "capability": s.capability, "title": s.title}))
                .collect();
            (EXECUTION_PLANNED, json!({ "steps": steps }))
        }
        Progress::StepSucceeded(index) => {
            let step = execution.steps.get(index);
            let extra = json!({
                "step": {
                    "index": index,
                    "capability": step.map(|s| s.capability.as_str()),
                    "credits": step.map(|s| s.credits),
                    "model": step.and_then(|s| s.model.as_deref()),
                    "tokens": step.map(|s| json!({"input": s.input_tokens, "output": s.output_tokens})),
                }
            });
            (EXECUTION_STEP_SUCCEEDED, extra)
        }
    };
    let event = execution_event(app, team, kind, execution, None, extra)?;
    let mut writes = vec![
        Guarded::new(WriteOp::Update(update), left_its_status()),
        event,
    ];
    if let Progress::StepSucceeded(index) = progress {
        writes.extend(step_output_write(team, execution, index)?);
    }
    changed_if_it_held(commit(app.table.as_ref(), writes).await)
}

/// The answer of a write whose execution had left the status it was read in.
fn left_its_status() -> Error {
    Error::conflict(
        Conflict::ExecutionChanged,
        "The execution left the status it was in.",
    )
}

/// Parks a running execution until someone approves its plan, keeping the workflow's task
/// token for the decision, with the event that tells of it; `Ok(false)` when it no longer
/// runs, and nothing is written.
pub async fn await_approval(
    app: &App,
    team: &TeamId,
    id: &ExecutionId,
    task_token: &str,
) -> Result<bool, Error> {
    let Some(current) = find(app, team, id).await? else {
        return Ok(false);
    };
    let releases = run_slots::give_back(team, &current);
    let held_slot = current.holds_slot;
    let waiting = Execution {
        status: ExecutionStatus::AwaitingApproval,
        holds_slot: false,
        ..current
    };
    let update = |condition| Update {
        key: keys::execution(team, id),
        actions: vec![
            UpdateAction::Set(
                "status".into(),
                ExecutionStatus::AwaitingApproval.as_str().into(),
            ),
            UpdateAction::Set("approval_token".into(), task_token.into()),
            UpdateAction::Remove(run_slots::HOLDS_SLOT.into()),
        ],
        condition: Some(condition),
    };
    let running = Condition::eq("status", ExecutionStatus::Running.as_str());
    let event = execution_event(
        app,
        team,
        EXECUTION_AWAITING_APPROVAL,
        &waiting,
        None,
        json!({}),
    )?;
    let mut writes = vec![
        Guarded::new(WriteOp::Update(update(running)), left_its_status()),
        event,
    ];
    writes.extend(releases);
    let parked = commit(app.table.as_ref(), writes).await;
    if changed_if_it_held(parked)? {
        if held_slot {
            run_slots::wake(app, team).await;
        }
        return Ok(true);
    }
    // Parked already with this token (the task ran again after its result was lost): the same
    // wait, told once.
    let same_wait = Condition::And(vec![
        Condition::eq("status", ExecutionStatus::AwaitingApproval.as_str()),
        Condition::eq("approval_token", task_token),
    ]);
    match app.table.update(update(same_wait)).await {
        Ok(_) => Ok(true),
        Err(TableError::ConditionFailed) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// Whether a conditional write was made (false: the execution had left its status).
fn changed_if_it_held<T>(outcome: Result<T, Error>) -> Result<bool, Error> {
    match outcome {
        Ok(_) => Ok(true),
        Err(Error::Conflict {
            kind: Conflict::ExecutionChanged,
            ..
        }) => Ok(false),
        Err(other) => Err(other),
    }
}

fn parse_id(id: &str) -> Result<ExecutionId, Error> {
    ExecutionId::parse(id).map_err(|_| Error::not_found("execution"))
}

/// Reads an execution of the caller's team; 404 for unknown ids and other teams' ids.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<Execution, Error> {
    find(app, &caller.team_id, &parse_id(id)?)
        .await?
        .ok_or_else(|| Error::not_found("execution"))
}

/// Which executions a listing shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionFilter {
    /// Only this agent's.
    pub agent_id: Option<AgentId>,
    /// Only those in this status.
    pub status: Option<ExecutionStatus>,
}

/// Lists the team's executions, newest first, optionally of one agent and in one status.
pub async fn list(
    app: &App,
    caller: &Caller,
    filter: &ExecutionFilter,
    page: PageRequest,
) -> Result<Listing<Execution>, Error> {
    let (index, partition) = match &filter.agent_id {
        Some(agent) => (
            Index::Gsi1,
            agent_executions_partition(&caller.team_id, agent),
        ),
        None => (Index::Table, keys::team_partition(&caller.team_id)),
    };
    let query = Query {
        index,
        partition,
        sort_key: SortKey::BeginsWith(keys::EXECUTION_PREFIX.into()),
        descending: true,
        limit: page.limit,
        cursor: page.cursor,
    };
    let keep = |e: &Execution| filter.status.is_none_or(|status| e.status == status);
    if filter.agent_id.is_some() {
        let team = &caller.team_id;
        let resolve = |entry| listed_execution(app, team, entry);
        // A status filter reads entries a hundred at a time, as `filtered` does.
        let query = match filter.status {
            Some(_) => Query {
                limit: 100,
                ..query
            },
            None => query,
        };
        return filtered_entries(app.table.as_ref(), query, page.limit, resolve, keep).await;
    }
    if filter.status.is_none() {
        let page = app.table.query(query).await?;
        return super::records::listing(page);
    }
    filtered(app.table.as_ref(), query, page.limit, keep).await
}

/// Cancels an execution that has not ended: settles what it used so far, refunds the rest, and
/// stops its workflow (a workflow that cannot be reached stops by itself at its next task,
/// which finds the execution cancelled).
pub async fn cancel(app: &App, caller: &Caller, id: &str) -> Result<Execution, Error> {
    let current = get(app, caller, id).await?;
    if current.status.is_final() {
        return Err(finished(&current));
    }
    let settlement = Settlement {
        status: ExecutionStatus::Cancelled,
        error: None,
        approval: None,
        only_while: None,
        by: Some(caller.actor()),
    };
    let settled = match end(app, &caller.team_id, &current.id, settlement).await? {
        Ending::Ended(settled) => settled,
        Ending::AlreadyEnded(ended) | Ending::Moved(ended) => return Err(finished(&ended)),
    };
    if let Err(error) = app
        .workflows
        .stop(current.id.as_str(), "Cancelled by a team member")
        .await
    {
        tracing::warn!(%error, execution_id = %current.id, "stopping a cancelled workflow failed");
    }
    Ok(settled)
}

fn finished(execution: &Execution) -> Error {
    Error::conflict(
        Conflict::ExecutionFinished,
        format!(
            "The execution has already ended ({}); only queued, running or waiting executions can be cancelled.",
            execution.status.as_str()
        ),
    )
}

fn not_awaiting_approval(execution: &Execution) -> Error {
    Error::conflict(
        Conflict::NotAwaitingApproval,
        format!(
            "The execution is {}, not waiting for approval.",
            execution.status.as_str()
        ),
    )
}

/// Approves or rejects the plan of an execution waiting for approval. Approval resumes the
/// workflow; rejection ends the execution as cancelled (planning charged, the rest refunded).
pub async fn decide(
    app: &App,
    caller: &Caller,
    id: &str,
    request: ApprovalRequest,
) -> Result<Execution, Error> {
    let request = request.validate()?;
    let current = get(app, caller, id).await?;
    let (Some(token), ExecutionStatus::AwaitingApproval) =
        (current.approval_token.clone(), current.status)
    else {
        return Err(not_awaiting_approval(&current));
    };
    let approval = Approval {
        approved: request.approved,
        comment: request.comment,
        by: caller.user_id.clone(),
        at: rfc3339(app.clock.now()),
    };
    if !approval.approved {
        let reason = approval
            .comment
            .clone()
            .unwrap_or_else(|| "The plan was rejected.".into());
        let settlement = Settlement {
            status: ExecutionStatus::Cancelled,
            error: Some(ExecutionError {
                code: "Rejected".into(),
                message: reason.clone(),
            }),
            approval: Some(approval),
            only_while: Some(ExecutionStatus::AwaitingApproval),
            by: Some(caller.actor()),
        };
        let settled = match end(app, &caller.team_id, &current.id, settlement).await? {
            Ending::Ended(settled) => settled,
            Ending::AlreadyEnded(now) | Ending::Moved(now) => {
                return Err(not_awaiting_approval(&now))
            }
        };
        if let Err(error) = app.workflows.fail_task(&token, "Rejected", &reason).await {
            tracing::warn!(%error, execution_id = %current.id, "ending a rejected workflow failed; stopping it");
            if let Err(error) = app.workflows.stop(current.id.as_str(), &reason).await {
                tracing::warn!(%error, execution_id = %current.id, "stopping a rejected workflow failed");
            }
        }
        return Ok(settled);
    }
    // The execution must be running before the workflow resumes: its steps only write to a
    // running execution.
    let key = keys::execution(&caller.team_id, &current.id);
    let resumed = Update {
        key: key.clone(),
        actions: vec![
            UpdateAction::Set("status".into(), ExecutionStatus::Running.as_str().into()),
            UpdateAction::Set("approval".into(), value_of(&approval)?),
            UpdateAction::Remove("approval_token".into()),
            UpdateAction::Set(run_slots::HOLDS_SLOT.into(), true.into()),
        ],
        condition: Some(Condition::eq(
            "status",
            ExecutionStatus::AwaitingApproval.as_str(),
        )),
    };
    let approved = execution_event(
        app,
        &caller.team_id,
        EXECUTION_APPROVED,
        &Execution {
            status: ExecutionStatus::Running,
            ..current.clone()
        },
        Some(caller.actor()),
        json!({"comment": approval.comment}),
    )?;
    commit(
        app.table.as_ref(),
        vec![
            Guarded::new(
                WriteOp::Update(resumed),
                Error::conflict(
                    Conflict::NotAwaitingApproval,
                    "The execution changed while it was being approved; read it again.",
                ),
            ),
            approved,
            run_slots::take_for_approval(&caller.team_id),
        ],
    )
    .await?;
    let output = serde_json::json!({"approved": true, "comment": approval.comment});
    match app.workflows.succeed_task(&token, &output).await {
        Ok(()) => {}
        Err(WorkflowError::InvalidToken(cause)) => {
            // Nothing waits for this decision any more (the wait timed out, or the run is
            // gone): end the execution with its refund rather than leave it running with
            // nothing to run it. If the workflow settled it first, that settlement stands.
            tracing::warn!(%cause, execution_id = %current.id, "approval arrived after the wait ended");
            let expired = ExecutionError {
                code: "ApprovalExpired".into(),
                message: "The execution stopped waiting for approval before the decision arrived."
                    .into(),
            };
            settle(
                app,
                &caller.team_id,
                &current.id,
                Settlement::failed(expired),
            )
            .await?;
            return Err(Error::conflict(
                Conflict::ApprovalExpired,
                "The execution stopped waiting for approval before this decision arrived; it has ended and its credits were refunded.",
            ));
        }
        Err(error) => {
            // The workflow still waits: put the execution back so the decision can be sent
            // again.
            let waiting = Update {
                key,
                actions: vec![
                    UpdateAction::Set(
                        "status".into(),
                        ExecutionStatus::AwaitingApproval.as_str().into(),
                    ),
                    UpdateAction::Remove("approval".into()),
                    UpdateAction::Set("approval_token".into(), token.into()),
                    UpdateAction::Remove(run_slots::HOLDS_SLOT.into()),
                ],
                condition: Some(Condition::eq("status", ExecutionStatus::Running.as_str())),
            };
            let resumed_with_slot = Execution {
                status: ExecutionStatus::Running,
                holds_slot: true,
                ..current.clone()
            };
            let mut writes = vec![Guarded::new(WriteOp::Update(waiting), left_its_status())];
            writes.extend(run_slots::give_back(&caller.team_id, &resumed_with_slot));
            commit(app.table.as_ref(), writes).await?;
            run_slots::wake(app, &caller.team_id).await;
            return Err(Error::unavailable_because(
                "The workflow could not be resumed right now; the execution still waits for approval. Retry shortly.",
                format!("resuming execution {}: {error}", current.id),
            ));
        }
    }
    get(app, caller, id).await
}

/// How an execution ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// Succeeded, failed or cancelled.
    pub status: ExecutionStatus,
    /// Why it failed or was stopped.
    pub error: Option<ExecutionError>,
    /// The decision that ended it, for a rejected plan.
    pub approval: Option<Approval>,
    /// Settle only while the execution is in this status (a rejection ends only an execution
    /// still waiting for approval, not one an approval has just resumed).
    pub only_while: Option<ExecutionStatus>,
    /// Who ended it (a cancel or a rejection), for its event.
    pub by: Option<Actor>,
}

impl Settlement {
    /// A failure with its reason.
    pub fn failed(error: ExecutionError) -> Self {
        Settlement {
            status: ExecutionStatus::Failed,
            error: Some(error),
            approval: None,
            only_while: None,
            by: None,
        }
    }
}

/// The events of an ending: the step that failed (for a failed execution with a plan), and
/// the execution's end with its credits and cost.
fn settlement_events(
    app: &App,
    team: &TeamId,
    settled: &Execution,
    settlement: &Settlement,
    cost_micro_usd: i64,
) -> Result<Vec<Guarded>, Error> {
    let error = settled
        .error
        .as_ref()
        .map(|e| json!({"code": e.code, "message": e.message}));
    let mut writes = Vec::new();
    let failed_step = settled
        .steps
        .iter()
        .position(|s| s.status != StepStatus::Succeeded);
    if let (ExecutionStatus::Failed, Some(index)) = (settled.status, failed_step) {
        let step = json!({"index": index, "capability": settled.steps[index].capability});
        let extra = json!({"step": step, "error": error});
        writes.push(execution_event(
            app,
            team,
            EXECUTION_STEP_FAILED,
            settled,
            None,
            extra,
        )?);
    }
    let kind = match settled.status {
        ExecutionStatus::Succeeded => EXECUTION_SUCCEEDED,
        ExecutionStatus::Cancelled => EXECUTION_CANCELLED,
        _ => EXECUTION_FAILED,
    };
    let extra = json!({"error": error, "cost_micro_usd": cost_micro_usd});
    writes.push(execution_event(
        app,
        team,
        kind,
        settled,
        settlement.by.clone(),
        extra,
    )?);
    Ok(writes)
}

/// How often settling re-reads an execution whose steps changed under it.
const SETTLE_ATTEMPTS: usize = 5;

/// How a request to end an execution went.
#[derive(Clone, Debug, PartialEq)]
pub enum Ending {
    /// This request ended it.
    Ended(Execution),
    /// It had ended already (another request, a retried task); it is as stored.
    AlreadyEnded(Execution),
    /// It has left the status the settlement was for; it is as stored.
    Moved(Execution),
}

impl Ending {
    /// The execution as it now is.
    pub fn into_execution(self) -> Execution {
        match self {
            Ending::Ended(execution)
            | Ending::AlreadyEnded(execution)
            | Ending::Moved(execution) => execution,
        }
    }
}

/// Ends an execution: charges what it used (planning and the steps that succeeded), refunds
/// the rest of the reservation, releases it from the team's reserved credits and records the
/// usage, all in one transaction conditional on the steps it charged for being unchanged.
/// Settling an execution that has already ended changes nothing (a redelivered message or a
/// retried task) and returns it as stored.
pub async fn settle(
    app: &App,
    team: &TeamId,
    id: &ExecutionId,
    settlement: Settlement,
) -> Result<Execution, Error> {
    end(app, team, id, settlement)
        .await
        .map(Ending::into_execution)
}

/// Like [`settle`], saying whether this call ended the execution: of concurrent requests to
/// end one, exactly one does.
pub async fn end(
    app: &App,
    team: &TeamId,
    id: &ExecutionId,
    settlement: Settlement,
) -> Result<Ending, Error> {
    if !settlement.status.is_final() {
        return Err(Error::internal(format!(
            "cannot settle an execution as {}",
            settlement.status.as_str()
        )));
    }
    for _ in 0..SETTLE_ATTEMPTS {
        let current = find(app, team, id)
            .await?
            .ok_or_else(|| Error::not_found("execution"))?;
        if current.status.is_final() {
            return Ok(Ending::AlreadyEnded(current));
        }
        if settlement
            .only_while
            .is_some_and(|status| status != current.status)
        {
            return Ok(Ending::Moved(current));
        }
        // The settlement counts the words the steps wrote.
        let current = with_outputs(app, team, current).await?;
        // A slot given back, or a waiter gone (perhaps the one a wake-up was on its way to):
        // the next waiter's turn.
        let next_turn = current.holds_slot || current.status == ExecutionStatus::Queued;
        match settle_once(app, team, current, &settlement).await {
            Err(Error::Conflict {
                kind: Conflict::ExecutionChanged,
                ..
            }) => continue,
            Ok(ended) => {
                if next_turn {
                    run_slots::wake(app, team).await;
                }
                report_ended(app, team, &ended);
                if let Err(error) = budgets::record_crossings(app, team).await {
                    tracing::warn!(%error, "recording budget thresholds failed; the next settlement records them");
                }
                return Ok(Ending::Ended(ended));
            }
            Err(error) => return Err(error),
        }
    }
    Err(Error::conflict(
        Conflict::ExecutionChanged,
        "The execution kept changing while it was being settled; retry.",
    ))
}

async fn settle_once(
    app: &App,
    team: &TeamId,
    current: Execution,
    settlement: &Settlement,
) -> Result<Execution, Error> {
    let reserved = current.credits.reserved;
    let used = current.used_credits(PLANNING_CREDITS).clamp(0, reserved);
    let credits = ExecutionCredits {
        reserved,
        used,
        refunded: reserved - used,
    };
    let now = app.clock.now();
    let settled = Execution {
        status: settlement.status,
        credits,
        error: settlement.error.clone(),
        approval: settlement.approval.clone().or(current.approval.clone()),
        approval_token: None,
        finished_at: Some(rfc3339(now)),
        ..current.clone()
    };
    let mut actions = vec![
        UpdateAction::Set("status".into(), settled.status.as_str().into()),
        UpdateAction::Set("credits".into(), value_of(&credits)?),
        UpdateAction::Set("finished_at".into(), rfc3339(now).into()),
        UpdateAction::Remove("approval_token".into()),
        UpdateAction::Remove(run_slots::HOLDS_SLOT.into()),
    ];
    if let Some(error) = &settled.error {
        actions.push(UpdateAction::Set("error".into(), value_of(error)?));
    }
    if let Some(approval) = &settlement.approval {
        actions.push(UpdateAction::Set("approval".into(), value_of(approval)?));
    }
    let steps = stored_steps(&current)?;
    let mut writes = vec![Guarded::new(
        WriteOp::Update(Update {
            key: keys::execution(team, &current.id),
            actions,
            condition: Some(Condition::And(vec![
                Condition::eq("status", current.status.as_str()),
                Condition::eq("steps", steps),
                run_slots::slot_as_read(&current),
            ])),
        }),
        Error::conflict(
            Conflict::ExecutionChanged,
            "The execution changed while it was being settled; retry.",
        ),
    )];
    let cost = measures::cost_micro_usd(&measures::execution_lines(&settled));
    let spent = Spent {
        micro_usd: cost,
        commitment: current.budget.as_ref(),
    };
    writes.extend(settlement_events(app, team, &settled, settlement, cost)?);
    writes.extend(credits::settle(
        app,
        team,
        reserved,
        used,
        spent,
        &Work::Execution(current.id.to_string()),
    )?);
    writes.extend(usage::writes(team, &settled, now)?);
    writes.extend(run_slots::give_back(team, &current));
    commit(app.table.as_ref(), writes).await?;
    Ok(Execution {
        holds_slot: false,
        ..settled
    })
}
