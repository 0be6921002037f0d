//! Agents: what a team's AgentCore workflows may do and with which models.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::capabilities::capability;
use super::ids::{CompanyId, ProductId};
use super::resources::{Draft, NAME_MAX};
use super::validation::FieldErrors;
use crate::domain::catalog::{self, ModelKind};

/// The model an agent uses for each role; unset roles use the catalog's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelChoices {
    /// Plans the steps (a text model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "text_model")]
    pub planner: Option<String>,
    /// Writes text steps (a text model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "text_model")]
    pub writer: Option<String>,
    /// Draws images (an image model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "image_model")]
    pub image: Option<String>,
}

/// The catalog's models of a kind, for the API's schema: the ids the validation accepts.
fn models_of(kind: ModelKind) -> schemars::Schema {
    let ids: Vec<&str> = catalog::MODELS
        .iter()
        .filter(|m| m.kind == kind)
        .map(|m| m.id)
        .collect();
    schemars::json_schema!({"anyOf": [{"type": "string", "enum": ids}, {"type": "null"}]})
}

fn text_model(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    models_of(ModelKind::Text)
}

fn image_model(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    models_of(ModelKind::Image)
}

/// The capabilities an agent may allow, for the API's schema: one to twenty known ids, each once.
fn capability_ids(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let ids: Vec<&str> = super::capabilities::CAPABILITIES
        .iter()
        .map(|c| c.id)
        .collect();
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "maxItems": 20,
        "uniqueItems": true,
        "items": {"type": "string", "enum": ids},
    })
}

/// An agent of a team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentDraft {
    /// Display name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Standing instructions for the planner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Capability ids its plans may use.
    #[schemars(schema_with = "capability_ids")]
    pub allowed_capabilities: Vec<String>,
    /// Models per role.
    #[serde(default)]
    pub models: ModelChoices,
    /// Whether a person approves the plan before steps run.
    #[serde(default)]
    pub requires_approval: bool,
    /// The company whose brand voice applies when a request names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_company_id: Option<CompanyId>,
    /// The product a request is about when it names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_product_id: Option<ProductId>,
}

pub(crate) fn check_model(
    errors: &mut FieldErrors,
    field: &str,
    id: Option<&str>,
    kind: ModelKind,
) -> Option<String> {
    let chosen = id?.trim();
    // A retired model keeps working: the choice becomes its successor.
    let id = catalog::successor(chosen).unwrap_or(chosen);
    match catalog::model(id) {
        Some(model) if model.kind == kind => {}
        Some(_) => errors.add(
            field,
            format!("{id} is not a {kind:?} model").to_lowercase(),
        ),
        None => {
            let known: Vec<&str> = catalog::MODELS
                .iter()
                .filter(|m| m.kind == kind)
                .map(|m| m.id)
                .collect();
            errors.add(
                field,
                format!("unknown model; choose one of {}", known.join(", ")),
            );
        }
    }
    Some(id.to_owned())
}

impl Draft for AgentDraft {
    fn validate(self) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = errors.text("name", &self.name, 1, NAME_MAX);
        let instructions =
            errors.optional_text("instructions", self.instructions.as_deref(), 10_000);
        let allowed_capabilities =
            errors.list("allowed_capabilities", &self.allowed_capabilities, 20, 50);
        if allowed_capabilities.is_empty() {
            errors.add(
                "allowed_capabilities",
                "must name at least one capability (see GET /v1/capabilities)",
            );
        }
        for (i, id) in allowed_capabilities.iter().enumerate() {
            if capability(id).is_none() {
                errors.add(
                    format!("allowed_capabilities[{i}]"),
                    format!("unknown capability `{id}`; see GET /v1/capabilities"),
                );
            }
        }
        let models = ModelChoices {
            planner: check_model(
                &mut errors,
                "models.planner",
                self.models.planner.as_deref(),
                ModelKind::Text,
            ),
            writer: check_model(
                &mut errors,
                "models.writer",
                self.models.writer.as_deref(),
                ModelKind::Text,
            ),
            image: check_model(
                &mut errors,
                "models.image",
                self.models.image.as_deref(),
                ModelKind::Image,
            ),
        };
        errors.finish(AgentDraft {
            name,
            instructions,
            allowed_capabilities,
            models,
            requires_approval: self.requires_approval,
            ..self
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validate(json: serde_json::Value) -> Result<AgentDraft, Vec<String>> {
        serde_json::from_value::<AgentDraft>(json)
            .unwrap()
            .validate()
            .map_err(|e| e.into_vec().into_iter().map(|f| f.field).collect())
    }

    #[test]
    fn an_agent_names_known_capabilities_and_models_of_the_right_kind() {
        let ok = validate(json!({"name": "Launch writer", "allowed_capabilities": ["generate_text", "social_posts"]})).unwrap();
        assert!(!ok.requires_approval);
        let refused = validate(json!({
            "name": "X", "allowed_capabilities": ["generate_text", "teleport"],
            "models": {"planner": "amazon.nova-canvas-v1:0", "image": "gpt-image"}
        }))
        .unwrap_err();
        assert_eq!(
            refused,
            ["allowed_capabilities[1]", "models.planner", "models.image"]
        );
        assert_eq!(
            validate(json!({"name": "X", "allowed_capabilities": []})).unwrap_err(),
            ["allowed_capabilities"]
        );
    }
}
