//! Planning: the planner model turns a request into steps, each naming an allowed capability
//! with an input that matches the capability's schema. An invalid plan gets one repair attempt
//! (the model sees what was wrong); a second invalid plan fails the execution.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::prompts::SystemPrompt;
use crate::domain::capabilities::{capability, Capability, InputProblem, PlanningTask};
use crate::domain::team::Guardrail;
use crate::ports::ai::{
    AiError, AnswerSchema, Llm, Message, ModelTask, Speaker, TextRequest, TextResponse,
};

/// One planned step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedStep {
    /// The capability to run.
    pub capability: String,
    /// What the step is for, in a few words.
    pub title: String,
    /// The capability's input.
    pub input: Value,
}

/// A validated plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The steps, in order.
    pub steps: Vec<PlannedStep>,
}

/// Why planning failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The plan was still invalid after the repair attempt.
    #[error("the planner produced an invalid plan: {}", .0.join("; "))]
    InvalidPlan(Vec<String>),
    /// The team's guardrail intervened in the request (the guardrail's message).
    #[error("the team's guardrail blocked the request: {0}")]
    Blocked(String),
    /// The model could not be called.
    #[error(transparent)]
    Ai(#[from] AiError),
}

/// What the planner needs to know.
#[derive(Clone, Debug)]
pub struct PlanningBrief<'a> {
    /// The planner model.
    pub model: &'a str,
    /// The agent's standing instructions.
    pub instructions: Option<&'a str>,
    /// Capabilities the plan may use.
    pub allowed: &'a [String],
    /// The most steps a plan may have.
    pub max_steps: usize,
    /// The request.
    pub request: &'a str,
    /// What the planner should know about the brand, product and partner (the same for every
    /// execution about them).
    pub facts: &'a str,
    /// What this execution adds: its inputs, the team's recent results.
    pub this_run: &'a str,
    /// The product the execution names, if any.
    pub product: Option<&'a str>,
    /// The team's Bedrock guardrail.
    pub guardrail: Option<&'a Guardrail>,
}

/// The JSON text of a model answer: the outermost `{…}`, so prose around it is ignored.
fn json_block(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    (end > start).then(|| &text[start..=end])
}

/// Checks a planner answer; returns the plan or every problem found.
pub fn validate(answer: &str, allowed: &[String], max_steps: usize) -> Result<Plan, Vec<String>> {
    let text =
        json_block(answer).ok_or_else(|| vec!["the answer contains no JSON object".to_owned()])?;
    let plan: Plan = serde_json::from_str(text).map_err(|e| vec![format!("the plan is not of the form {{\"steps\":[{{\"capability\",\"title\",\"input\"}}]}}: {e}")])?;
    let mut problems = Vec::new();
    if plan.steps.is_empty() {
        problems.push("the plan has no steps".to_owned());
    }
    if plan.steps.len() > max_steps {
        problems.push(format!(
            "the plan has {} steps; at most {max_steps} are allowed",
            plan.steps.len()
        ));
    }
    for (i, step) in plan.steps.iter().enumerate() {
        let n = i + 1;
        if !allowed.contains(&step.capability) {
            problems.push(format!(
                "step {n} uses `{}`, which this agent may not use (allowed: {})",
                step.capability,
                allowed.join(", ")
            ));
            continue;
        }
        let Some(spec) = capability(&step.capability) else {
            problems.push(format!(
                "step {n} names the unknown capability `{}`",
                step.capability
            ));
            continue;
        };
        if step.title.trim().is_empty() || step.title.chars().count() > 120 {
            problems.push(format!("step {n} needs a title of 1 to 120 characters"));
        }
        if let Err(problem) = spec.validate_input(step.input.clone()) {
            let why = match problem {
                InputProblem::Malformed(malformed) => match malformed.field {
                    Some(field) => format!("{field}: {}", malformed.message),
                    None => malformed.message,
                },
                InputProblem::Invalid(errors) => errors
                    .into_vec()
                    .iter()
                    .map(|d| format!("{}: {}", d.field, d.message))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            problems.push(format!(
                "step {n} ({}) has an invalid input: {why}",
                step.capability
            ));
        }
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

/// The planner's system prompt: the rules, the agent's instructions, the allowed capabilities
/// with their schemas and the facts — the same for every execution of the agent about this
/// brand, so a cacheable prefix — then what this execution adds.
pub fn system_prompt(brief: &PlanningBrief<'_>) -> SystemPrompt {
    let capabilities: Vec<Value> = brief
        .allowed
        .iter()
        .filter_map(|id| capability(id))
        .map(|c: &Capability| serde_json::json!({"id": c.id, "description": c.description, "input_schema": c.input_schema()}))
        .collect();
    SystemPrompt::new(
        format!(
            "You plan go-to-market work for an AWS ISV partner. Break the request into at most {max} steps. \
             Each step runs one capability from the list below with an input that matches its input_schema exactly. \
             Answer with JSON only: {{\"steps\":[{{\"capability\":\"<id>\",\"title\":\"<a few words>\",\"input\":{{...}}}}]}}.\n\
             {instructions}\n<capabilities>{list}</capabilities>\n<context>\n{facts}\n</context>",
            max = brief.max_steps,
            instructions = brief.instructions.map(|i| format!("Agent instructions: {i}")).unwrap_or_default(),
            list = Value::Array(capabilities),
            facts = brief.facts,
        ),
        brief.this_run,
    )
}

/// The JSON Schema of a plan for these capabilities, for a model that can be held to one: each
/// step names one of them, with that capability's input. Only the keywords every structured
/// output implementation accepts are kept (types, properties, required, enums, constants,
/// alternatives, references); the limits they drop are still checked by [`validate`].
pub fn plan_schema(allowed: &[String], max_steps: usize) -> Value {
    let mut definitions = Map::new();
    let steps: Vec<Value> = allowed
        .iter()
        .filter_map(|id| capability(id))
        .map(|c| {
            let mut input = c.input_schema();
            let prefix = format!("{}.", c.id);
            if let Some(Value::Object(defs)) = input.as_object_mut().and_then(|o| o.remove("$defs")) {
                for (name, mut definition) in defs {
                    rename_refs(&mut definition, &prefix);
                    definitions.insert(format!("{prefix}{name}"), keep_portable(definition));
                }
            }
            rename_refs(&mut input, &prefix);
            json!({
                "type": "object",
                "properties": {
                    "capability": {"type": "string", "const": c.id},
                    "title": {"type": "string", "description": "What the step is for, in a few words (at most 120 characters)."},
                    "input": keep_portable(input),
                },
                "required": ["capability", "title", "input"],
                "additionalProperties": false,
            })
        })
        .collect();
    let mut schema = json!({
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "description": format!("One to {max_steps} steps, in order."),
                "items": {"anyOf": steps},
            }
        },
        "required": ["steps"],
        "additionalProperties": false,
    });
    if !definitions.is_empty() {
        schema["$defs"] = Value::Object(definitions);
    }
    schema
}

/// Points a capability's `#/$defs/X` references at its definitions in the plan's `$defs`.
fn rename_refs(schema: &mut Value, prefix: &str) {
    match schema {
        Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        if let Some(name) = target.strip_prefix("#/$defs/") {
                            *target = format!("#/$defs/{prefix}{name}");
                        }
                    }
                    (_, value) => rename_refs(value, prefix),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rename_refs(item, prefix)),
        _ => {}
    }
}

/// A schema with only the portable keywords, and closed objects.
fn keep_portable(schema: Value) -> Value {
    const KEPT: [&str; 10] = [
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "const",
        "anyOf",
        "$ref",
        "description",
        "additionalProperties",
    ];
    match schema {
        Value::Object(object) => {
            let mut kept: Map<String, Value> = object
                .into_iter()
                .filter(|(key, _)| KEPT.contains(&key.as_str()))
                .map(|(key, value)| match key.as_str() {
                    "properties" => {
                        let properties = match value {
                            Value::Object(p) => p
                                .into_iter()
                                .map(|(name, property)| (name, keep_portable(property)))
                                .collect(),
                            _ => Map::new(),
                        };
                        (key, Value::Object(properties))
                    }
                    "items" | "anyOf" => (key, keep_portable(value)),
                    _ => (key, value),
                })
                .collect();
            if kept.contains_key("properties") {
                kept.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(kept)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(keep_portable).collect()),
        other => other,
    }
}

/// Plans a request: one call, and one repair call if the first plan is invalid. Returns the
/// plan and every model response (for token accounting).
pub async fn plan(
    llm: &dyn Llm,
    brief: &PlanningBrief<'_>,
) -> Result<(Plan, Vec<TextResponse>), PlanError> {
    let system = system_prompt(brief);
    let mut request = TextRequest {
        model: brief.model.to_owned(),
        system: system.text,
        stable_system_len: system.stable_len,
        messages: vec![Message {
            speaker: Speaker::User,
            text: brief.request.to_owned(),
        }],
        max_tokens: 2_000,
        temperature: 0.2,
        task: Some(ModelTask::Plan(PlanningTask {
            allowed: brief.allowed.to_vec(),
            max_steps: brief.max_steps,
            request: brief.request.to_owned(),
            product: brief.product.map(str::to_owned),
        })),
        answer_schema: Some(AnswerSchema {
            name: "plan",
            description: "The steps that carry out the request.",
            schema: plan_schema(brief.allowed, brief.max_steps),
        }),
        guardrail: brief.guardrail.cloned(),
    };
    let mut responses = Vec::new();
    let first = llm.converse(request.clone()).await?;
    if first.guardrail_intervened() {
        return Err(PlanError::Blocked(first.text));
    }
    let problems = match validate(&first.text, brief.allowed, brief.max_steps) {
        Ok(plan) => {
            responses.push(first);
            return Ok((plan, responses));
        }
        Err(problems) => problems,
    };
    request.messages.push(Message {
        speaker: Speaker::Assistant,
        text: first.text.clone(),
    });
    request.messages.push(Message {
        speaker: Speaker::User,
        text: format!(
            "That plan is invalid: {}. Answer with a corrected plan, JSON only.",
            problems.join("; ")
        ),
    });
    responses.push(first);
    let second = llm.converse(request).await?;
    let outcome = validate(&second.text, brief.allowed, brief.max_steps);
    responses.push(second);
    match outcome {
        Ok(plan) => Ok((plan, responses)),
        Err(problems) => Err(PlanError::InvalidPlan(problems)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["generate_text".into(), "analyze_content".into()]
    }

    #[test]
    fn a_plan_uses_only_allowed_capabilities_with_valid_inputs() {
        let good = json!({"steps": [
            {"capability": "generate_text", "title": "Draft", "input": {"format": "blog_post", "topic": "Launch"}},
            {"capability": "analyze_content", "title": "Check", "input": {"text": "x"}}
        ]});
        assert_eq!(
            validate(&format!("Here you go: {good} Done."), &allowed(), 5)
                .unwrap()
                .steps
                .len(),
            2
        );

        let bad = json!({"steps": [
            {"capability": "generate_image", "title": "Art", "input": {"prompt": "x"}},
            {"capability": "generate_text", "title": "", "input": {"format": "poem", "topic": "x"}}
        ]});
        let problems = validate(&bad.to_string(), &allowed(), 1).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("at most 1"));
        assert!(problems[1].contains("may not use"));
        assert!(problems[2].contains("title"));
        assert!(problems[3].contains("invalid input"));
        assert!(validate("no json here", &allowed(), 3).is_err());
        assert!(validate(r#"{"steps": []}"#, &allowed(), 3).is_err());
    }

    /// Every keyword of a schema with its value, at any depth (property names are not
    /// keywords).
    fn entries(value: &Value, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(object) => {
                for (key, value) in object {
                    if key == "properties" || key == "$defs" {
                        let named = value.as_object().into_iter().flat_map(|o| o.values());
                        named.for_each(|schema| entries(schema, out));
                        continue;
                    }
                    out.push((key.clone(), value.clone()));
                    entries(value, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| entries(item, out)),
            _ => {}
        }
    }

    #[test]
    fn the_plan_schema_offers_each_allowed_capability_with_its_input_in_portable_keywords() {
        let schema = plan_schema(&["generate_text".into(), "generate_image".into()], 3);
        let offered: Vec<&Value> = schema["properties"]["steps"]["items"]["anyOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|step| &step["properties"]["capability"]["const"])
            .collect();
        assert_eq!(offered, [&json!("generate_text"), &json!("generate_image")]);
        let mut all = Vec::new();
        entries(&schema, &mut all);
        for (key, value) in &all {
            assert!(
                ![
                    "$schema",
                    "title",
                    "format",
                    "minimum",
                    "maxLength",
                    "maxItems"
                ]
                .contains(&key.as_str()),
                "{key} is not portable"
            );
            if key == "$ref" {
                let name = value.as_str().unwrap().trim_start_matches("#/$defs/");
                assert!(schema["$defs"].get(name).is_some(), "{name} is defined");
            }
        }
        assert!(
            all.iter().any(|(key, _)| key == "$ref"),
            "the text format's enum is a shared definition"
        );
    }

    /// A model that gives scripted answers in order and records what it was asked.
    struct Scripted(
        std::sync::Mutex<Vec<String>>,
        std::sync::Mutex<Vec<TextRequest>>,
    );

    #[async_trait::async_trait]
    impl Llm for Scripted {
        async fn converse(&self, request: TextRequest) -> Result<TextResponse, AiError> {
            self.1.lock().unwrap().push(request);
            let text = self.0.lock().unwrap().remove(0);
            Ok(TextResponse {
                text,
                model: "m".into(),
                input_tokens: 10,
                output_tokens: 5,
                stop_reason: "end_turn".into(),
                ..TextResponse::default()
            })
        }
    }

    fn brief(allowed: &[String]) -> PlanningBrief<'_> {
        PlanningBrief {
            model: "m",
            instructions: Some("Be brief."),
            allowed,
            max_steps: 3,
            request: "Write a blog post",
            facts: "Brand: Acme",
            this_run: "Recent results of this team:",
            product: None,
            guardrail: None,
        }
    }

    #[tokio::test]
    async fn an_invalid_plan_gets_one_repair_attempt_that_names_the_problems() {
        let bad = json!({"steps": [{"capability": "generate_image", "title": "Art", "input": {"prompt": "x"}}]}).to_string();
        let good = json!({"steps": [{"capability": "generate_text", "title": "Draft", "input": {"format": "blog_post", "topic": "x"}}]}).to_string();
        let model = Scripted(std::sync::Mutex::new(vec![bad, good]), Default::default());
        let (plan, responses) = plan(&model, &brief(&allowed())).await.unwrap();
        assert_eq!(plan.steps[0].capability, "generate_text");
        assert_eq!(responses.len(), 2);
        let asked = model.1.lock().unwrap();
        assert!(
            asked[0].system.contains("<capabilities>")
                && asked[0].system.contains("\"generate_text\"")
        );
        assert!(
            !asked[0].system.contains("\"generate_image\""),
            "only allowed capabilities are offered"
        );
        assert!(asked[1]
            .messages
            .last()
            .unwrap()
            .text
            .contains("may not use"));
    }

    #[tokio::test]
    async fn a_second_invalid_plan_fails_planning() {
        let model = Scripted(
            std::sync::Mutex::new(vec!["nonsense".into(), "{\"steps\": []}".into()]),
            Default::default(),
        );
        match plan(&model, &brief(&allowed())).await {
            Err(PlanError::InvalidPlan(problems)) => {
                assert_eq!(problems, ["the plan has no steps"])
            }
            other => panic!("expected InvalidPlan, got {other:?}"),
        }
    }
}
