//! The steps of an execution's plan as they run.

use serde::{Deserialize, Serialize};

/// Where a step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Finished with an output.
    Succeeded,
    /// Failed; the execution fails with it.
    Failed,
}

/// One step's progress and output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The capability it runs.
    pub capability: String,
    /// What it is for.
    pub title: String,
    /// Its input, as planned.
    pub input: serde_json::Value,
    /// Where it is.
    pub status: StepStatus,
    /// Credits it cost.
    #[serde(default)]
    pub credits: i64,
    /// Its output: text or structured data (images: an object key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The model it called, if any (deterministic capabilities call none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tokens the model read for it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub input_tokens: i64,
    /// Tokens the model wrote for it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub output_tokens: i64,
    /// Prompt tokens the model read from its prompt cache for it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_tokens: i64,
    /// Prompt tokens the model wrote to its prompt cache for it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: i64,
    /// Images it generated.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub images: i64,
    /// Whether the team's guardrail intervened in its model call: the output is the
    /// guardrail's message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guardrail_intervened: bool,
}

impl Step {
    /// A step as planned, before it runs.
    pub fn planned(capability: String, title: String, input: serde_json::Value) -> Step {
        Step {
            capability,
            title,
            input,
            status: StepStatus::Pending,
            credits: 0,
            output: None,
            error: None,
            model: None,
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            images: 0,
            guardrail_intervened: false,
        }
    }

    /// The tokens its model call used.
    pub fn tokens(&self) -> crate::domain::tokens::TokenUsage {
        crate::domain::tokens::TokenUsage {
            input: self.input_tokens,
            output: self.output_tokens,
            cache_read: self.cache_read_tokens,
            cache_write: self.cache_write_tokens,
        }
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}
