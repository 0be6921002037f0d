//! `landing_page`: a product landing page in the brand voice: a hero (headline, subheadline),
//! three to six sections, and one call to action.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{
    list, range, text, tokens, truncate, Capability, Limits, OfflineCue, Runner, WritingBrief,
};
use crate::domain::validation::FieldErrors;

/// The most characters of a hero headline.
pub const HEADLINE_MAX: usize = 70;
/// The most characters of a call to action.
pub const CTA_MAX: usize = 40;

/// The input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// What the page sells.
    pub topic: String,
    /// Who the page is for.
    #[serde(default)]
    pub audience: Option<String>,
    /// Points the sections must make, in order.
    #[serde(default)]
    pub key_points: Vec<String>,
    /// How many sections below the hero (3–6, default 3).
    #[serde(default)]
    pub sections: Option<u32>,
    /// The call to action's words (default "Start on AWS Marketplace").
    #[serde(default)]
    pub cta: Option<String>,
}

impl Limits for Input {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "topic", &self.topic, 500);
        if let Some(audience) = &self.audience {
            text(errors, "audience", audience, 500);
        }
        list(errors, "key_points", &self.key_points, 6);
        range(errors, "sections", self.sections, 3, 6);
        if let Some(cta) = &self.cta {
            text(errors, "cta", cta, CTA_MAX);
        }
    }
}

/// The capability.
pub const CAPABILITY: Capability = Capability::define::<Input>(
    "landing_page",
    "A product landing page: hero headline and subheadline, three to six sections, and a call to action, in the brand voice.",
    tokens(2, 3_000),
    Runner::Writer {
        rules: "Write a landing page in Markdown: a hero with a headline of at most 70 characters and a one-sentence subheadline; then the requested number of sections (default 3), each a ## heading and a short paragraph making one key point in order; end with one call to action of at most 40 characters on its own line, prefixed \"CTA: \".",
        offline,
    },
    OfflineCue {
        words: &["landing page"],
        input: |subject| json!({"topic": truncate(&subject.topic, 500)}),
    },
);

fn offline(brief: &WritingBrief) -> String {
    let (topic, brand, promise) = (brief.topic(), brief.brand(), brief.promise());
    let count = brief.input["sections"].as_u64().unwrap_or(3).clamp(3, 6) as usize;
    let points: Vec<String> = brief.input["key_points"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let defaults = [
        "Every release checked the same way",
        "Set up in minutes",
        "Billed through your AWS account",
        "Built for platform teams",
        "Secure by default",
        "Support that answers",
    ];
    let sections: Vec<String> = (0..count)
        .map(|i| {
            let point = points.get(i).map_or(defaults[i], String::as_str);
            format!("## {point}\n{brand}: {promise}. {point}, so the team ships with confidence.")
        })
        .collect();
    let cta = brief.input["cta"]
        .as_str()
        .unwrap_or("Start on AWS Marketplace");
    format!(
        "# {}\n{promise}, from {brand}.\n\n{}\n\nCTA: {}",
        truncate(&topic, HEADLINE_MAX),
        sections.join("\n\n"),
        truncate(cta, CTA_MAX)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::capabilities::{capability, InputProblem};

    #[test]
    fn its_input_is_checked_against_its_limits() {
        let page = capability("landing_page").unwrap();
        assert!(page
            .validate_input(json!({"topic": "Deploy Guard"}))
            .is_ok());
        let Err(InputProblem::Invalid(errors)) = page
            .validate_input(json!({"topic": "Deploy Guard", "sections": 9, "cta": "x".repeat(41)}))
        else {
            panic!("limits are checked");
        };
        let fields: Vec<String> = errors.into_vec().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["sections", "cta"]);
    }

    #[test]
    fn the_offline_page_has_a_hero_the_sections_asked_for_and_one_cta() {
        let brief = WritingBrief {
            capability: "landing_page".into(),
            input: json!({"topic": "Deploy Guard", "sections": 4, "key_points": ["Fewer rollbacks"]}),
            request: "A landing page for Deploy Guard".into(),
            brand: Some("Acme".into()),
            promise: Some("Ship with confidence".into()),
        };
        let page = offline(&brief);
        assert!(page.starts_with("# Deploy Guard\n"));
        assert_eq!(page.matches("\n## ").count(), 4);
        assert!(page.contains("## Fewer rollbacks"));
        assert_eq!(page.lines().filter(|l| l.starts_with("CTA: ")).count(), 1);
    }
}
