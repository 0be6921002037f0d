//! The capability registry: what a planned step can do. [`CAPABILITIES`] is the one place a
//! capability's id is named; each capability's module owns the rest of it: its typed input
//! (whose JSON Schema, derived from the type, is what the planner and clients see and what
//! inputs are checked against), its limits, its credit rule, how it runs ([`Runner`]), and
//! what the offline model does for it (the cues that plan it, the copy that stands in for a
//! model's). Adding a capability is one module plus one line below.
//!
//! Pure data and rules: the workflow runs each [`Runner`] through the ports it needs.

pub mod analyze_content;
pub mod cosell_match;
pub mod email_campaign;
pub mod generate_image;
pub mod generate_text;
pub mod joint_gtm_plan;
pub mod landing_page;
pub mod marketplace_listing;
pub mod seo_optimize;
pub mod social_posts;
pub mod summarize;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::objects_only::{decode, Malformed};
use super::validation::FieldErrors;

/// Every capability, in the order they are listed to clients and the planner.
pub const CAPABILITIES: &[Capability] = &[
    landing_page::CAPABILITY,
    generate_text::CAPABILITY,
    social_posts::CAPABILITY,
    email_campaign::CAPABILITY,
    generate_image::CAPABILITY,
    analyze_content::CAPABILITY,
    seo_optimize::CAPABILITY,
    cosell_match::CAPABILITY,
    joint_gtm_plan::CAPABILITY,
    marketplace_listing::CAPABILITY,
    summarize::CAPABILITY,
];

/// Looks a capability up by id.
pub fn capability(id: &str) -> Option<&'static Capability> {
    CAPABILITIES.iter().find(|c| c.id == id)
}

/// How a capability produces its output, as clients see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A text model writes it, in the brand voice; the output is checked for compliance.
    Text,
    /// An image model draws it; the PNG goes to S3.
    Image,
    /// An algorithm computes it; no model is called.
    Deterministic,
}

/// How a step of a capability runs.
#[derive(Clone, Copy, Debug)]
pub enum Runner {
    /// A text model writes it in the brand voice, following `rules`; offline, `offline`
    /// writes it from the same brief, as data.
    Writer {
        /// What the writer must produce (platform and AWS field limits included).
        rules: &'static str,
        /// The offline model's stand-in copy.
        offline: fn(&WritingBrief) -> String,
    },
    /// An image model draws it from the input's prompt.
    Painter,
    /// Readability, length, keyword density and brand-voice compliance are measured.
    Analyzer,
    /// The team's partners are ranked for a product.
    PartnerMatcher,
}

/// What a capability costs, in credits (whole numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum CreditRule {
    /// The same every time.
    Flat {
        /// Credits per run.
        credits: i64,
    },
    /// A base plus a price per thousand output tokens (started thousands count), up to the
    /// capability's output-token limit.
    Tokens {
        /// Credits per run.
        base: i64,
        /// Credits per started thousand output tokens.
        per_thousand_output_tokens: i64,
        /// The most output tokens a run may use.
        max_output_tokens: i64,
    },
    /// A price per image.
    PerImage {
        /// Credits per image.
        credits: i64,
    },
}

impl CreditRule {
    /// The most a run can cost: what an execution reserves.
    pub fn reserve(&self) -> i64 {
        match *self {
            CreditRule::Flat { credits } | CreditRule::PerImage { credits } => credits,
            CreditRule::Tokens {
                base,
                per_thousand_output_tokens,
                max_output_tokens,
            } => base + (max_output_tokens + 999) / 1_000 * per_thousand_output_tokens,
        }
    }

    /// What a run that used `output_tokens` and made `images` costs; never more than the
    /// reservation.
    pub fn charge(&self, output_tokens: i64, images: i64) -> i64 {
        let cost = match *self {
            CreditRule::Flat { credits } => credits,
            CreditRule::PerImage { credits } => credits * images.max(1),
            CreditRule::Tokens {
                base,
                per_thousand_output_tokens,
                ..
            } => base + (output_tokens.max(0) + 999) / 1_000 * per_thousand_output_tokens,
        };
        cost.min(self.reserve())
    }

    /// The most output tokens a run may ask a model for.
    pub fn max_output_tokens(&self) -> Option<i64> {
        match *self {
            CreditRule::Tokens {
                max_output_tokens, ..
            } => Some(max_output_tokens),
            _ => None,
        }
    }
}

/// A token-priced capability: four credits per started thousand output tokens.
const fn tokens(base: i64, max_output_tokens: i64) -> CreditRule {
    CreditRule::Tokens {
        base,
        per_thousand_output_tokens: 4,
        max_output_tokens,
    }
}

/// Why an input was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputProblem {
    /// It does not have the input type's shape.
    Malformed(Malformed),
    /// Its values break the capability's limits.
    Invalid(FieldErrors),
}

/// How the offline model plans a capability: the words of a request that call for it, and
/// the input it gives the step.
#[derive(Clone, Copy, Debug)]
pub struct OfflineCue {
    /// Words (lower case) that call for the capability.
    pub words: &'static [&'static str],
    /// The step's input.
    pub input: fn(&PlanningSubject) -> Value,
}

/// What an offline plan's step inputs are about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanningSubject {
    /// The request, as the client wrote it.
    pub request: String,
    /// What the copy is about: the product's launch when the execution names one, else the
    /// request.
    pub topic: String,
}

/// What a writer is asked for, as data: the prompt says the same in prose for a real model;
/// the offline model reads this.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WritingBrief {
    /// The capability.
    pub capability: String,
    /// The step's input.
    pub input: Value,
    /// The execution's request.
    pub request: String,
    /// The brand's name, when the execution names a company.
    pub brand: Option<String>,
    /// The brand's first value proposition, when it has one.
    pub promise: Option<String>,
}

impl WritingBrief {
    /// What the copy is about: the input's topic, goal or prompt, else the request (at most
    /// 120 characters).
    pub fn topic(&self) -> String {
        let topic = ["topic", "goal", "prompt"]
            .iter()
            .find_map(|k| self.input[*k].as_str())
            .unwrap_or(&self.request);
        truncate(topic.trim(), 120)
    }

    /// The brand's name, or a stand-in.
    pub fn brand(&self) -> &str {
        self.brand.as_deref().unwrap_or("our company")
    }

    /// The brand's promise, or a stand-in.
    pub fn promise(&self) -> &str {
        self.promise.as_deref().unwrap_or("Ship with confidence")
    }
}

/// What the planner is asked for, as data (the offline model reads this; a real model reads
/// the prompt).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanningTask {
    /// The capabilities the plan may use.
    pub allowed: Vec<String>,
    /// The most steps.
    pub max_steps: usize,
    /// The request.
    pub request: String,
    /// The product the execution names, if any.
    pub product: Option<String>,
}

/// One capability of the registry.
#[derive(Clone, Copy, Debug)]
pub struct Capability {
    /// Stable id, as agents and plans name it.
    pub id: &'static str,
    /// What it does, for people and for the planner.
    pub description: &'static str,
    /// What it costs.
    pub credits: CreditRule,
    /// How it runs.
    pub runner: Runner,
    /// How the offline model plans it.
    pub offline_cue: OfflineCue,
    schema: fn() -> schemars::Schema,
    check: fn(Value) -> Result<(), InputProblem>,
}

impl Capability {
    /// A capability whose input is `I`.
    pub const fn define<I: DeserializeOwned + JsonSchema + Limits>(
        id: &'static str,
        description: &'static str,
        credits: CreditRule,
        runner: Runner,
        offline_cue: OfflineCue,
    ) -> Capability {
        Capability {
            id,
            description,
            credits,
            runner,
            offline_cue,
            schema: schema_of::<I>,
            check: check::<I>,
        }
    }

    /// How it works, as clients see it.
    pub fn kind(&self) -> Kind {
        match self.runner {
            Runner::Writer { .. } => Kind::Text,
            Runner::Painter => Kind::Image,
            Runner::Analyzer | Runner::PartnerMatcher => Kind::Deterministic,
        }
    }

    /// The JSON Schema of its input.
    pub fn input_schema(&self) -> Value {
        (self.schema)().to_value()
    }

    /// Checks an input against the capability's type and limits.
    pub fn validate_input(&self, input: Value) -> Result<(), InputProblem> {
        (self.check)(input)
    }

    /// A step's input as the capability's type (checked when the step was planned).
    pub fn input<I: DeserializeOwned>(input: &Value) -> Result<I, Malformed> {
        decode(input.clone())
    }
}

fn schema_of<I: JsonSchema>() -> schemars::Schema {
    schemars::schema_for!(I)
}

fn check<I: DeserializeOwned + Limits>(input: Value) -> Result<(), InputProblem> {
    let typed: I = decode(input).map_err(InputProblem::Malformed)?;
    let mut errors = FieldErrors::default();
    typed.limits(&mut errors);
    errors.finish(()).map_err(InputProblem::Invalid)
}

/// Inputs whose values have limits beyond their type.
pub trait Limits {
    /// Adds a field error for every value out of its limits.
    fn limits(&self, errors: &mut FieldErrors);
}

/// Longest text a capability takes as input.
pub const INPUT_TEXT_MAX: usize = 50_000;

fn text(errors: &mut FieldErrors, field: &str, value: &str, max: usize) {
    errors.text(field, value, 1, max);
}

fn list(errors: &mut FieldErrors, field: &str, values: &[String], max_items: usize) {
    errors.list(field, values, max_items, 200);
}

fn range(errors: &mut FieldErrors, field: &str, value: Option<u32>, min: u32, max: u32) {
    if let Some(v) = value {
        if !(min..=max).contains(&v) {
            errors.add(field, format!("must be from {min} to {max}"));
        }
    }
}

/// At most `max` characters of `text`.
pub fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_capability_has_an_object_schema_a_price_and_a_unique_id() {
        let mut ids: Vec<&str> = CAPABILITIES.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CAPABILITIES.len());
        for capability in CAPABILITIES {
            let schema = capability.input_schema();
            assert_eq!(schema["type"], "object", "{}", capability.id);
            assert!(capability.credits.reserve() > 0);
        }
        assert!(
            capability("generate_text").unwrap().input_schema()["required"]
                .as_array()
                .unwrap()
                .contains(&json!("topic"))
        );
    }

    #[test]
    fn inputs_are_checked_against_type_and_limits() {
        let text = capability("generate_text").unwrap();
        assert!(text
            .validate_input(json!({"format": "blog_post", "topic": "Launch"}))
            .is_ok());
        assert!(matches!(
            text.validate_input(json!({"format": "poem", "topic": "x"})),
            Err(InputProblem::Malformed(_))
        ));
        let Err(InputProblem::Invalid(refused)) =
            text.validate_input(json!({"format": "blog_post", "topic": "", "target_words": 5}))
        else {
            panic!("the limits are checked");
        };
        let fields: Vec<String> = refused.into_vec().into_iter().map(|d| d.field).collect();
        assert_eq!(fields, ["topic", "target_words"]);
        assert!(capability("social_posts")
            .unwrap()
            .validate_input(json!({"topic": "x", "platforms": []}))
            .is_err());
    }

    #[test]
    fn a_charge_never_exceeds_the_reservation() {
        let rule = tokens(2, 4_000);
        assert_eq!(rule.reserve(), 18);
        assert_eq!(rule.charge(0, 0), 2);
        assert_eq!(rule.charge(1_001, 0), 10);
        assert_eq!(rule.charge(100_000, 0), 18);
        assert_eq!(CreditRule::PerImage { credits: 10 }.charge(0, 1), 10);
    }
}
