//! `joint_gtm_plan`: a joint go-to-market plan with a partner.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{list, range, tokens, Capability, Limits, OfflineCue, Runner, WritingBrief};
use crate::domain::ids::PartnerId;
use crate::domain::validation::FieldErrors;

/// The input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The partner (default: the execution's partner).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub partner_id: Option<PartnerId>,
    /// What the plan should achieve.
    #[serde(default)]
    pub goals: Vec<String>,
    /// Length of the plan in weeks (4–52).
    #[serde(default)]
    pub timeline_weeks: Option<u32>,
}

impl Limits for Input {
    fn limits(&self, errors: &mut FieldErrors) {
        list(errors, "goals", &self.goals, 10);
        range(errors, "timeline_weeks", self.timeline_weeks, 4, 52);
    }
}

/// The capability.
pub const CAPABILITY: Capability = Capability::define::<Input>(
    "joint_gtm_plan",
    "A joint go-to-market plan with a partner: goals, motions, timeline, responsibilities.",
    tokens(3, 3_000),
    Runner::Writer {
        rules: "Write a joint go-to-market plan with the partner: goals, sales and marketing motions, a week-by-week timeline, and who is responsible for what.",
        offline,
    },
    OfflineCue {
        words: &["gtm plan", "go-to-market plan", "joint plan"],
        input: |_| json!({}),
    },
);

fn offline(brief: &WritingBrief) -> String {
    let brand = brief.brand();
    format!(
        "Goals: a joint pipeline for {brand} and the partner.\nMotions: co-branded webinar, AWS Marketplace private offers, joint account planning.\n\
         Timeline: weeks 1-2 enablement; weeks 3-6 campaigns; weeks 7-12 co-selling.\nResponsibilities: {brand} owns content and demos; the partner owns outreach."
    )
}
