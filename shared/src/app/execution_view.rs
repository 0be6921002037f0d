//! How an execution is shown: progress, the plan with each step's output (objects as
//! time-limited links), model, tokens and cost, credits, tokens and cost by model, the whole
//! cost (images included), timing. Never the task token.

use serde_json::{json, Map, Value};

use super::App;
use crate::domain::catalog;
use crate::domain::execution::Execution;
use crate::domain::ids::TeamId;
use crate::domain::step::StepStatus;
use crate::domain::usage::{cost_micro_usd, execution_lines, Line};
use crate::error::Error;
use crate::ports::parse_rfc3339;

/// How long links to stored outputs stay valid.
pub const LINK_SECONDS: u64 = 3_600;

/// Output fields that name an object, and the link field shown beside each.
const OBJECT_FIELDS: [(&str, &str); 2] = [("image_key", "image_url"), ("output_key", "output_url")];

/// An execution as its summary in a listing: no step inputs or outputs.
pub fn summary(execution: &Execution) -> Value {
    let mut view = common(execution);
    view.insert(
        "plan".into(),
        execution
            .steps
            .iter()
            .map(|s| json!({"capability": s.capability, "title": s.title, "status": s.status}))
            .collect(),
    );
    Value::Object(view)
}

/// An execution of `team` in full, with its steps' outputs and links to those stored as objects.
pub async fn detail(app: &App, team: &TeamId, execution: Execution) -> Result<Value, Error> {
    let execution = &super::executions::with_outputs(app, team, execution).await?;
    let mut view = common(execution);
    let mut plan = Vec::with_capacity(execution.steps.len());
    for (index, step) in execution.steps.iter().enumerate() {
        let mut output = step.output.clone();
        if let Some(Value::Object(fields)) = &mut output {
            for (key_field, url_field) in OBJECT_FIELDS {
                if let Some(key) = fields.get(key_field).and_then(Value::as_str) {
                    let link = app.objects.link(key, LINK_SECONDS).await.map_err(|e| {
                        Error::unavailable_because(
                            "An output link could not be made right now; retry.",
                            e,
                        )
                    })?;
                    fields.insert(url_field.into(), link.into());
                }
            }
        }
        plan.push(json!({
            "index": index,
            "capability": step.capability,
            "title": step.title,
            "status": step.status,
            "input": step.input,
            "credits": step.credits,
            "model": step.model,
            "tokens": step.tokens(),
            "cost_micro_usd": Line {
                model: step.model.clone(),
                images: step.images,
                tokens: step.tokens(),
                ..Line::default()
            }
            .cost_micro_usd(),
            "output": output,
            "error": step.error,
            "guardrail_intervened": step.guardrail_intervened,
        }));
    }
    view.insert("plan".into(), Value::Array(plan));
    view.insert("inputs".into(), Value::Object(execution.inputs.clone()));
    Ok(Value::Object(view))
}

/// An execution as an entry of its agent's activity feed: what was asked, by whom, each step
/// with its status, credits and model, and how it ended.
pub fn activity(execution: &Execution) -> Value {
    let steps: Vec<Value> = execution
        .steps
        .iter()
        .enumerate()
        .map(|(index, s)| {
            json!({"index": index, "capability": s.capability, "title": s.title, "status": s.status,
                   "credits": s.credits, "model": s.model})
        })
        .collect();
    json!({
        "execution_id": execution.id,
        "request": execution.request,
        "status": execution.status,
        "created_by": execution.created_by,
        "started_at": execution.created_at,
        "finished_at": execution.finished_at,
        "credits_used": execution.credits.used,
        "cost_micro_usd": cost_micro_usd(&execution_lines(execution)),
        "error": execution.error,
        "steps": steps,
    })
}

fn common(execution: &Execution) -> Map<String, Value> {
    let completed = execution
        .steps
        .iter()
        .filter(|s| s.status != StepStatus::Pending)
        .count();
    let tokens: Map<String, Value> = execution
        .tokens
        .iter()
        .map(|(model, usage)| {
            let cost = catalog::model(model).map(|m| m.cost(usage, 0));
            let mut tokens = json!(usage);
            tokens["cost_micro_usd"] = json!(cost);
            (model.clone(), tokens)
        })
        .collect();
    let duration_seconds = execution.finished_at.as_deref().and_then(|end| {
        let (start, end) = (parse_rfc3339(&execution.created_at)?, parse_rfc3339(end)?);
        Some((end - start).whole_seconds())
    });
    let mut view = Map::new();
    view.insert("id".into(), execution.id.to_string().into());
    view.insert("agent_id".into(), execution.agent_id.to_string().into());
    view.insert("request".into(), execution.request.clone().into());
    for (field, id) in [
        (
            "company_id",
            execution.company_id.as_ref().map(|i| i.to_string()),
        ),
        (
            "product_id",
            execution.product_id.as_ref().map(|i| i.to_string()),
        ),
        (
            "partner_id",
            execution.partner_id.as_ref().map(|i| i.to_string()),
        ),
    ] {
        view.insert(field.into(), id.map_or(Value::Null, Value::from));
    }
    view.insert("status".into(), execution.status.as_str().into());
    view.insert(
        "progress".into(),
        json!({"completed": completed, "total": execution.steps.len()}),
    );
    view.insert("credits".into(), json!(execution.credits));
    view.insert("tokens".into(), Value::Object(tokens));
    view.insert(
        "cost_micro_usd".into(),
        cost_micro_usd(&execution_lines(execution)).into(),
    );
    view.insert("error".into(), json!(execution.error));
    view.insert("approval".into(), json!(execution.approval));
    view.insert("created_by".into(), execution.created_by.to_string().into());
    view.insert("created_at".into(), execution.created_at.clone().into());
    view.insert("finished_at".into(), json!(execution.finished_at));
    view.insert("duration_seconds".into(), json!(duration_seconds));
    view
}
