//! `cosell_match`: the team's partners ranked for a product.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{list, range, Capability, CreditRule, Limits, OfflineCue, Runner};
use crate::domain::ids::ProductId;
use crate::domain::validation::FieldErrors;

/// The input.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The product to find partners for (default: the execution's product).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub product_id: Option<ProductId>,
    /// Industries the product targets.
    #[serde(default)]
    pub industries: Vec<String>,
    /// Regions the product sells in.
    #[serde(default)]
    pub regions: Vec<String>,
    /// How many partners to return (1–20, default 5).
    #[serde(default)]
    pub limit: Option<u32>,
}

impl Limits for Input {
    fn limits(&self, errors: &mut FieldErrors) {
        list(errors, "industries", &self.industries, 20);
        list(errors, "regions", &self.regions, 20);
        range(errors, "limit", self.limit, 1, 20);
    }
}

/// The capability.
pub const CAPABILITY: Capability = Capability::define::<Input>(
    "cosell_match",
    "The team's partners ranked for a product by overlap of industries, regions and solution areas.",
    CreditRule::Flat { credits: 2 },
    Runner::PartnerMatcher,
    OfflineCue {
        words: &["co-sell", "cosell", "partner match", "which partner"],
        input: |_| json!({}),
    },
);
