//! Running one planned step: its capability's runner (a writer, a painter, or one of the
//! algorithms) on the step's typed input, its output kept small in the execution (large ones
//! go to the object store), its credits charged by the capability's rule.

use serde_json::{json, Value};

use super::analysis;
use super::context::{add_tokens, context, load, memory, save, Loaded};
use super::cosell::{self, Needs};
use super::prompts;
use super::task::TaskError;
use crate::app::executions::Progress;
use crate::app::resources;
use crate::app::App;
use crate::domain::capabilities::{
    analyze_content, capability, cosell_match, generate_image, Capability, Runner, WritingBrief,
};
use crate::domain::catalog::{self, DEFAULT_IMAGE, DEFAULT_TEXT};
use crate::domain::execution::{ExecutionStatus, TaskInput};
use crate::domain::resources::{PartnerDraft, ProductDraft};
use crate::domain::step::{Step, StepStatus};
use crate::ports::ai::{ImageRequest, Message, ModelTask, Speaker, TextRequest};
use crate::ports::metrics::{MetricEvent, Unit};

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
    let mut ran = step.clone();
    let (output, credits) = match spec.runner {
        Runner::Writer { rules, .. } => {
            loaded.memory = memory(app, input, &loaded.execution).await?;
            let brief = WritingBrief {
                capability: spec.id.to_owned(),
                input: step.input.clone(),
                request: execution.request.clone(),
                brand: loaded.company.as_ref().map(|c| c.name.clone()),
                promise: voice.value_propositions.first().cloned(),
            };
            let context = context(&loaded);
            let system = prompts::writer_system(
                spec.id,
                rules,
                &prompts::brand_voice(loaded.company.as_ref()),
                &context.facts,
                &context.this_run,
            );
            let request = TextRequest {
                model: catalog::to_call(loaded.agent.models.writer.as_deref(), DEFAULT_TEXT),
                system: system.text,
                stable_system_len: system.stable_len,
                messages: vec![Message {
                    speaker: Speaker::User,
                    text: prompts::writer_user(&execution.request, &step.title, &step.input),
                }],
                max_tokens: spec.credits.max_output_tokens().unwrap_or(1_000) as i32,
                temperature: 0.7,
                task: Some(ModelTask::Write(brief)),
                answer_schema: None,
                guardrail: execution.guardrail.clone(),
            };
            let response = app.llm.converse(request).await?;
            add_tokens(&mut execution.tokens, &response);
            ran.model = Some(response.model.clone());
            ran.input_tokens = response.input_tokens;
            ran.output_tokens = response.output_tokens;
            ran.cache_read_tokens = response.cache_read_tokens;
            ran.cache_write_tokens = response.cache_write_tokens;
            ran.guardrail_intervened = response.guardrail_intervened();
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
            let model = catalog::to_call(loaded.agent.models.image.as_deref(), DEFAULT_IMAGE);
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
            ran.model = Some(image.model.clone());
            ran.images = 1;
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
        ..ran
    };
    let progress = Progress::StepSucceeded(index);
    save(app, input, &execution, ExecutionStatus::Running, progress).await?;
    app.metrics.emit(
        MetricEvent::new("StepsSucceeded", 1.0, Unit::Count)
            .and("StepCredits", credits as f64, Unit::None)
            .by("Capability", spec.id)
            .with("team_id", input.team_id.to_string())
            .with("execution_id", input.execution_id.to_string()),
    );
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
        Some(id) => resources::find_eventually::<ProductDraft>(app, &input.team_id, id.as_str())
            .await?
            .map(|r| r.data),
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
    let partners: Vec<(String, PartnerDraft)> =
        resources::first::<PartnerDraft>(app, &input.team_id, 100)
            .await?
            .into_iter()
            .map(|r| (r.id, r.data))
            .collect();
    let ranked = cosell::rank(&needs, &partners, request.limit.unwrap_or(5) as usize);
    Ok(json!({"matches": ranked, "partners_considered": partners.len()}))
}
