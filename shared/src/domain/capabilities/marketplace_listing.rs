//! `marketplace_listing`: AWS Marketplace listing copy within AWS's field limits.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{list, tokens, truncate, Capability, Limits, OfflineCue, Runner, WritingBrief};
use crate::domain::ids::ProductId;
use crate::domain::validation::FieldErrors;

/// The input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The product (default: the execution's product).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub product_id: Option<ProductId>,
    /// Points the listing must make.
    #[serde(default)]
    pub highlights: Vec<String>,
}

impl Limits for Input {
    fn limits(&self, errors: &mut FieldErrors) {
        list(errors, "highlights", &self.highlights, 3);
    }
}

/// The capability.
pub const CAPABILITY: Capability = Capability::define::<Input>(
    "marketplace_listing",
    "AWS Marketplace listing copy within AWS's field limits.",
    tokens(1, 2_000),
    Runner::Writer {
        rules: "Write AWS Marketplace listing copy: a product title of at most 255 characters, a short description of at most 1000, a long description of at most 5000, and exactly three highlights of at most 250 characters each.",
        offline,
    },
    OfflineCue {
        words: &["listing"],
        input: |_| json!({}),
    },
);

fn offline(brief: &WritingBrief) -> String {
    let (topic, brand, promise) = (brief.topic(), brief.brand(), brief.promise());
    format!(
        "Product title: {}\nShort description: {}\nLong description: {brand} on AWS Marketplace. {promise}.\nHighlights:\n- {promise}\n- Deploys in minutes\n- Billed through your AWS account",
        truncate(brand, 255),
        truncate(&format!("{promise}. {topic}."), 1_000)
    )
}
