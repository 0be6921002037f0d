//! The capability registry: what a planned step can do. Each capability has a typed input
//! (its JSON Schema is derived from the type, so the schema shown to the planner and to
//! clients is the one inputs are checked against), a kind, and a credit rule.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::items::decode_json;
use crate::domain::ids::{PartnerId, ProductId};
use crate::domain::validation::FieldErrors;
use crate::error::Error;

/// How a capability produces its output.
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
}

/// One capability of the registry.
#[derive(Clone, Copy, Debug)]
pub struct Capability {
    /// Stable id, as agents and plans name it.
    pub id: &'static str,
    /// What it does, for people and for the planner.
    pub description: &'static str,
    /// How it works.
    pub kind: Kind,
    /// What it costs.
    pub credits: CreditRule,
    schema: fn() -> schemars::Schema,
    check: fn(serde_json::Value) -> Result<(), Error>,
}

impl Capability {
    /// The JSON Schema of its input.
    pub fn input_schema(&self) -> serde_json::Value {
        (self.schema)().to_value()
    }

    /// Checks an input against the capability's type and limits.
    pub fn validate_input(&self, input: serde_json::Value) -> Result<(), Error> {
        (self.check)(input)
    }
}

/// Inputs whose values have limits beyond their type.
trait Limits {
    fn limits(&self, errors: &mut FieldErrors);
}

fn check<T: for<'de> Deserialize<'de> + Limits>(input: serde_json::Value) -> Result<(), Error> {
    let typed: T = decode_json(input)?;
    let mut errors = FieldErrors::default();
    typed.limits(&mut errors);
    errors.finish(()).map_err(Error::validation)
}

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

/// Longest text a capability takes as input.
pub const INPUT_TEXT_MAX: usize = 50_000;

/// Long-form formats.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TextFormat {
    /// A blog post.
    BlogPost,
    /// A landing page.
    LandingPage,
    /// A case study.
    CaseStudy,
    /// A press release.
    PressRelease,
}

/// `generate_text`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateTextInput {
    /// What to write.
    pub format: TextFormat,
    /// The subject.
    pub topic: String,
    /// Terms to work in.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Approximate length in words (100–2500).
    #[serde(default)]
    pub target_words: Option<u32>,
}

impl Limits for GenerateTextInput {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "topic", &self.topic, 500);
        list(errors, "keywords", &self.keywords, 20);
        range(errors, "target_words", self.target_words, 100, 2_500);
    }
}

/// Social platforms and their post limits.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// LinkedIn (3000 characters).
    Linkedin,
    /// X (280 characters).
    X,
}

impl Platform {
    /// The platform's post length limit in characters.
    pub fn limit(self) -> usize {
        match self {
            Platform::Linkedin => 3_000,
            Platform::X => 280,
        }
    }
}

/// `social_posts`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SocialPostsInput {
    /// The subject.
    pub topic: String,
    /// Where to post.
    pub platforms: Vec<Platform>,
    /// Variants per platform (1–5).
    #[serde(default)]
    pub variants: Option<u32>,
}

impl Limits for SocialPostsInput {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "topic", &self.topic, 500);
        if self.platforms.is_empty() {
            errors.add("platforms", "must name at least one of linkedin, x");
        }
        range(errors, "variants", self.variants, 1, 5);
    }
}

/// `email_campaign`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailCampaignInput {
    /// What the campaign should achieve.
    pub goal: String,
    /// Who receives it.
    #[serde(default)]
    pub audience: Option<String>,
    /// Subject lines to propose (1–5).
    #[serde(default)]
    pub subject_lines: Option<u32>,
}

impl Limits for EmailCampaignInput {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "goal", &self.goal, 500);
        if let Some(audience) = &self.audience {
            text(errors, "audience", audience, 500);
        }
        range(errors, "subject_lines", self.subject_lines, 1, 5);
    }
}

/// Image sizes the image models support.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ImageSize {
    /// 1024 × 1024.
    Square,
    /// 1280 × 720.
    Landscape,
    /// 720 × 1280.
    Portrait,
}

/// `generate_image`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateImageInput {
    /// What to draw.
    pub prompt: String,
    /// Visual style, e.g. "flat illustration".
    #[serde(default)]
    pub style: Option<String>,
    /// Image size (default square).
    #[serde(default)]
    pub size: Option<ImageSize>,
}

impl Limits for GenerateImageInput {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "prompt", &self.prompt, 1_000);
        if let Some(style) = &self.style {
            text(errors, "style", style, 200);
        }
    }
}

/// `analyze_content`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeContentInput {
    /// The text to analyse.
    pub text: String,
    /// Terms the text must contain.
    #[serde(default)]
    pub required_terms: Vec<String>,
    /// Keywords whose density to measure.
    #[serde(default)]
    pub keywords: Vec<String>,
}

impl Limits for AnalyzeContentInput {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "text", &self.text, INPUT_TEXT_MAX);
        list(errors, "required_terms", &self.required_terms, 20);
        list(errors, "keywords", &self.keywords, 20);
    }
}

/// `seo_optimize`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeoOptimizeInput {
    /// The page's subject.
    pub topic: String,
    /// Existing copy to optimise, if any.
    #[serde(default)]
    pub text: Option<String>,
    /// Keywords to rank for.
    #[serde(default)]
    pub target_keywords: Vec<String>,
}

impl Limits for SeoOptimizeInput {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "topic", &self.topic, 500);
        if let Some(t) = &self.text {
            text(errors, "text", t, INPUT_TEXT_MAX);
        }
        list(errors, "target_keywords", &self.target_keywords, 10);
    }
}

/// `cosell_match`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CosellMatchInput {
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

impl Limits for CosellMatchInput {
    fn limits(&self, errors: &mut FieldErrors) {
        list(errors, "industries", &self.industries, 20);
        list(errors, "regions", &self.regions, 20);
        range(errors, "limit", self.limit, 1, 20);
    }
}

/// `joint_gtm_plan`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JointGtmPlanInput {
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

impl Limits for JointGtmPlanInput {
    fn limits(&self, errors: &mut FieldErrors) {
        list(errors, "goals", &self.goals, 10);
        range(errors, "timeline_weeks", self.timeline_weeks, 4, 52);
    }
}

/// `marketplace_listing`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceListingInput {
    /// The product (default: the execution's product).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub product_id: Option<ProductId>,
    /// Points the listing must make.
    #[serde(default)]
    pub highlights: Vec<String>,
}

impl Limits for MarketplaceListingInput {
    fn limits(&self, errors: &mut FieldErrors) {
        list(errors, "highlights", &self.highlights, 3);
    }
}

/// `summarize`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummarizeInput {
    /// The text to summarise.
    pub text: String,
    /// The longest summary, in words (20–500).
    #[serde(default)]
    pub max_words: Option<u32>,
}

impl Limits for SummarizeInput {
    fn limits(&self, errors: &mut FieldErrors) {
        text(errors, "text", &self.text, INPUT_TEXT_MAX);
        range(errors, "max_words", self.max_words, 20, 500);
    }
}

const fn tokens(base: i64, max_output_tokens: i64) -> CreditRule {
    CreditRule::Tokens {
        base,
        per_thousand_output_tokens: 4,
        max_output_tokens,
    }
}

macro_rules! capability {
    ($id:literal, $kind:expr, $credits:expr, $input:ty, $description:literal) => {
        Capability {
            id: $id,
            description: $description,
            kind: $kind,
            credits: $credits,
            schema: || schemars::schema_for!($input),
            check: check::<$input>,
        }
    };
}

/// Every capability.
pub const CAPABILITIES: &[Capability] = &[
    capability!("generate_text", Kind::Text, tokens(2, 4_000), GenerateTextInput, "Long-form copy (blog post, landing page, case study, press release) in the brand voice."),
    capability!("social_posts", Kind::Text, tokens(1, 1_500), SocialPostsInput, "LinkedIn and X post variants, each within its platform's length limit."),
    capability!("email_campaign", Kind::Text, tokens(1, 2_000), EmailCampaignInput, "An email campaign: subject lines, preview text and body."),
    capability!("generate_image", Kind::Image, CreditRule::PerImage { credits: 10 }, GenerateImageInput, "An image from a Bedrock image model, stored as PNG in S3."),
    capability!("analyze_content", Kind::Deterministic, CreditRule::Flat { credits: 1 }, AnalyzeContentInput, "Readability, length, keyword density and brand-voice compliance of a text."),
    capability!("seo_optimize", Kind::Text, tokens(1, 1_000), SeoOptimizeInput, "An SEO title (≤ 60 characters), meta description (≤ 155) and keywords."),
    capability!("cosell_match", Kind::Deterministic, CreditRule::Flat { credits: 2 }, CosellMatchInput, "The team's partners ranked for a product by overlap of industries, regions and solution areas."),
    capability!("joint_gtm_plan", Kind::Text, tokens(3, 3_000), JointGtmPlanInput, "A joint go-to-market plan with a partner: goals, motions, timeline, responsibilities."),
    capability!("marketplace_listing", Kind::Text, tokens(1, 2_000), MarketplaceListingInput, "AWS Marketplace listing copy within AWS's field limits."),
    capability!("summarize", Kind::Text, tokens(1, 800), SummarizeInput, "A summary of a text within a word limit."),
];

/// Looks a capability up by id.
pub fn capability(id: &str) -> Option<&'static Capability> {
    CAPABILITIES.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_registry_has_the_ten_capabilities_with_schemas() {
        let ids: Vec<&str> = CAPABILITIES.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), 10);
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
            Err(crate::error::Error::InvalidBody { .. })
        ));
        let refused = text
            .validate_input(json!({"format": "blog_post", "topic": "", "target_words": 5}))
            .unwrap_err();
        assert!(matches!(refused, crate::error::Error::Validation(_)));
        let fields: Vec<String> = refused
            .details()
            .unwrap()
            .iter()
            .map(|d| d.field.clone())
            .collect();
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
