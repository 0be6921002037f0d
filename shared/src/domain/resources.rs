//! The resources a team keeps: companies (with their brand voice), products (Marketplace
//! listings) and co-sell partners. Each has a *draft*: the fields a client writes, validated
//! and normalised as a whole. A PATCH is a JSON merge patch applied to the current draft and
//! validated again, so creation and change share one set of rules.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ids::CompanyId;
use super::privacy::PrivacySettings;
use super::validation::{Email, FieldErrors};

/// The client-writable fields of a resource.
pub trait Draft: Serialize + DeserializeOwned + JsonSchema + Clone + Send + Sync + 'static {
    /// Trims and checks every field; returns the normalised draft or every problem found.
    fn validate(self) -> Result<Self, FieldErrors>;
}

/// Longest name of any resource.
pub const NAME_MAX: usize = 100;
/// Longest description.
pub const DESCRIPTION_MAX: usize = 5_000;

/// How a company sounds: what every AI capability writes in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandVoice {
    /// The tone, e.g. "confident, warm, no jargon".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tone: Option<String>,
    /// Who the company writes for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// What the company promises its customers.
    #[serde(default)]
    pub value_propositions: Vec<String>,
    /// Writing rules in prose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidelines: Option<String>,
    /// Phrases generated copy must never contain.
    #[serde(default)]
    pub banned_phrases: Vec<String>,
    /// An example of copy in the right voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_copy: Option<String>,
}

impl BrandVoice {
    fn validate(self, errors: &mut FieldErrors) -> BrandVoice {
        BrandVoice {
            tone: errors.optional_text("brand_voice.tone", self.tone.as_deref(), 200),
            audience: errors.optional_text("brand_voice.audience", self.audience.as_deref(), 500),
            value_propositions: errors.list(
                "brand_voice.value_propositions",
                &self.value_propositions,
                10,
                300,
            ),
            guidelines: errors.optional_text(
                "brand_voice.guidelines",
                self.guidelines.as_deref(),
                DESCRIPTION_MAX,
            ),
            banned_phrases: errors.list(
                "brand_voice.banned_phrases",
                &self.banned_phrases,
                50,
                100,
            ),
            sample_copy: errors.optional_text(
                "brand_voice.sample_copy",
                self.sample_copy.as_deref(),
                10_000,
            ),
        }
    }
}

/// A company (brand) of a team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyDraft {
    /// Display name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Public website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// What the company does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How its copy must sound.
    #[serde(default)]
    pub brand_voice: BrandVoice,
    /// Privacy settings at company level.
    #[serde(default)]
    pub privacy: PrivacySettings,
}

impl Draft for CompanyDraft {
    fn validate(self) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let draft = CompanyDraft {
            name: errors.text("name", &self.name, 1, NAME_MAX),
            website: errors.url("website", self.website.as_deref()),
            description: errors.optional_text(
                "description",
                self.description.as_deref(),
                DESCRIPTION_MAX,
            ),
            brand_voice: self.brand_voice.validate(&mut errors),
            privacy: self.privacy,
        };
        errors.finish(draft)
    }
}

/// Where a product is listed on AWS Marketplace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceListing {
    /// The Marketplace product code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_code: Option<String>,
    /// The seller's SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
}

/// Marketplace product codes and SKUs: letters, digits, `-` and `_`, at most 64.
fn listing_code(errors: &mut FieldErrors, field: &str, value: Option<&str>) -> Option<String> {
    let code = errors.optional_text(field, value, 64)?;
    if !code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        errors.add(field, "may contain only letters, digits, '-' and '_'");
    }
    Some(code)
}

/// A product (Marketplace listing) of one of the team's companies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductDraft {
    /// The company that sells it; must be one of the team's companies.
    pub company_id: CompanyId,
    /// Display name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its AWS Marketplace listing.
    #[serde(default)]
    pub marketplace: MarketplaceListing,
    /// Marketplace categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// What customers use it for.
    #[serde(default)]
    pub use_cases: Vec<String>,
    /// Privacy settings at product level.
    #[serde(default)]
    pub privacy: PrivacySettings,
}

impl Draft for ProductDraft {
    fn validate(self) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let draft = ProductDraft {
            company_id: self.company_id,
            name: errors.text("name", &self.name, 1, NAME_MAX),
            description: errors.optional_text(
                "description",
                self.description.as_deref(),
                DESCRIPTION_MAX,
            ),
            marketplace: MarketplaceListing {
                product_code: listing_code(
                    &mut errors,
                    "marketplace.product_code",
                    self.marketplace.product_code.as_deref(),
                ),
                sku: listing_code(
                    &mut errors,
                    "marketplace.sku",
                    self.marketplace.sku.as_deref(),
                ),
            },
            categories: errors.list("categories", &self.categories, 20, 100),
            use_cases: errors.list("use_cases", &self.use_cases, 20, 300),
            privacy: self.privacy,
        };
        errors.finish(draft)
    }
}

/// AWS Partner Network tiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerTier {
    /// Registered.
    Registered,
    /// Select tier.
    Select,
    /// Advanced tier.
    Advanced,
    /// Premier tier.
    Premier,
}

/// Whom to talk to at a partner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// The contact's name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The contact's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The contact's phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A co-sell partner of a team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerDraft {
    /// Display name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Industries the partner serves.
    #[serde(default)]
    pub industries: Vec<String>,
    /// Regions the partner sells in.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Solution areas the partner covers.
    #[serde(default)]
    pub solution_areas: Vec<String>,
    /// APN tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<PartnerTier>,
    /// Whom to talk to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
}

impl Draft for PartnerDraft {
    fn validate(self) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let contact = self.contact.map(|c| Contact {
            name: errors.text("contact.name", &c.name, 1, NAME_MAX),
            email: c.email.and_then(|e| match Email::parse(&e) {
                Ok(email) => Some(email.as_str().to_owned()),
                Err(message) => {
                    errors.add("contact.email", message);
                    None
                }
            }),
            phone: errors
                .optional_text("contact.phone", c.phone.as_deref(), 40)
                .inspect(|p| {
                    if !p
                        .chars()
                        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
                    {
                        errors.add(
                            "contact.phone",
                            "may contain only digits, spaces and + - ( ) .",
                        );
                    }
                }),
        });
        let draft = PartnerDraft {
            name: errors.text("name", &self.name, 1, NAME_MAX),
            industries: errors.list("industries", &self.industries, 50, 100),
            regions: errors.list("regions", &self.regions, 50, 100),
            solution_areas: errors.list("solution_areas", &self.solution_areas, 50, 100),
            tier: self.tier,
            contact,
        };
        errors.finish(draft)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(json: serde_json::Value) -> Result<CompanyDraft, FieldErrors> {
        serde_json::from_value::<CompanyDraft>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn a_company_draft_is_trimmed() {
        let draft = company(serde_json::json!({
            "name": "  Acme ", "website": "https://acme.example",
            "brand_voice": {"tone": " bold ", "banned_phrases": ["synergy"]}
        }))
        .unwrap();
        assert_eq!(draft.name, "Acme");
        assert_eq!(draft.brand_voice.tone.as_deref(), Some("bold"));
    }

    #[test]
    fn every_problem_of_a_company_draft_is_reported_with_its_field() {
        let errors = company(serde_json::json!({
            "name": "", "website": "acme", "brand_voice": {"tone": "x".repeat(201)}
        }))
        .unwrap_err()
        .into_vec();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "website", "brand_voice.tone"]);
        assert!(errors[2].message.contains("at most 200"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed = serde_json::from_value::<CompanyDraft>(
            serde_json::json!({"name": "A", "colour": "red"}),
        );
        assert!(parsed
            .unwrap_err()
            .to_string()
            .contains("unknown field `colour`"));
    }

    #[test]
    fn a_partner_contact_needs_a_valid_email_and_phone() {
        let draft: PartnerDraft = serde_json::from_value(serde_json::json!({
            "name": "Globex", "tier": "advanced",
            "contact": {"name": "Hank", "email": "not-an-email", "phone": "call me"}
        }))
        .unwrap();
        let fields: Vec<String> = draft
            .validate()
            .unwrap_err()
            .into_vec()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["contact.email", "contact.phone"]);
    }

    #[test]
    fn product_listing_codes_are_checked() {
        let draft: ProductDraft = serde_json::from_value(serde_json::json!({
            "company_id": CompanyId::generate(), "name": "Widget",
            "marketplace": {"product_code": "abc 123"}
        }))
        .unwrap();
        let errors = draft.validate().unwrap_err().into_vec();
        assert_eq!(errors[0].field, "marketplace.product_code");
    }
}
