//! Conversations with the AI: what a client writes (title, the company and product whose
//! voice and facts the replies use, the model), the messages, what a reply may cost, and how
//! much history goes with each request.

use super::tokens::TokenUsage;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::agent::check_model;
use super::capabilities::CreditRule;
use super::catalog::ModelKind;
use super::ids::{CompanyId, ProductId, UserId};
use super::resources::Draft;
use super::validation::FieldErrors;

/// Longest title.
pub const TITLE_MAX: usize = 200;
/// Longest message a person may send, in characters.
pub const CONTENT_MAX: usize = 20_000;
/// What a reply costs: one credit, and two per started thousand output tokens, at most 1,000.
pub const REPLY_CREDITS: CreditRule = CreditRule::Tokens {
    base: 1,
    per_thousand_output_tokens: 2,
    max_output_tokens: 1_000,
};
/// How many tokens of earlier messages go with a request, at most (estimated); the oldest
/// are dropped first, the system context never.
pub const HISTORY_TOKENS: i64 = 6_000;

/// The client-writable fields of a conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationDraft {
    /// What it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The company whose brand voice the replies use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<CompanyId>,
    /// The product whose facts the replies know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
    /// The text model that replies (default: the catalog's chat model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl Draft for ConversationDraft {
    fn validate(self) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let draft = ConversationDraft {
            title: errors.optional_text("title", self.title.as_deref(), TITLE_MAX),
            company_id: self.company_id,
            product_id: self.product_id,
            model: check_model(&mut errors, "model", self.model.as_deref(), ModelKind::Text),
        };
        errors.finish(draft)
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A member of the team.
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation. A reply carries what it used and cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChatMessage {
    /// The message's id (ULID: messages sort in the order they were written).
    pub id: String,
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
    /// The model that wrote a reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A reply's tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenUsage>,
    /// Whether the team's guardrail intervened: the content is the guardrail's message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guardrail_intervened: bool,
    /// A reply's cost at the catalog's prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_micro_usd: Option<i64>,
    /// A reply's credits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<i64>,
    /// How long the model took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    /// The member who sent it (or whose message a reply answers).
    pub created_by: UserId,
    /// When (RFC 3339).
    pub created_at: String,
}

/// A person's message, trimmed; empty or over [`CONTENT_MAX`] characters is refused.
pub fn check_content(content: &str) -> Result<String, FieldErrors> {
    let mut errors = FieldErrors::default();
    let content = errors.text("content", content, 1, CONTENT_MAX);
    errors.finish(content)
}

/// A rough token count of a text (four characters a token), for the history budget.
pub fn estimate_tokens(text: &str) -> i64 {
    (text.chars().count() as i64 + 3) / 4
}

/// The most recent messages whose estimated tokens fit `budget`, oldest first. `newest_first`
/// is the conversation read backwards; the first message that does not fit ends the history
/// (never a gap in the middle).
pub fn fit_history(newest_first: Vec<ChatMessage>, budget: i64) -> Vec<ChatMessage> {
    let mut left = budget;
    let mut kept: Vec<ChatMessage> = newest_first
        .into_iter()
        .take_while(|m| {
            left -= estimate_tokens(&m.content);
            left >= 0
        })
        .collect();
    kept.reverse();
    // A request starts with the person's turn.
    while kept.first().is_some_and(|m| m.role == Role::Assistant) {
        kept.remove(0);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: Role, content: &str) -> ChatMessage {
        ChatMessage {
            id: "msg".into(),
            role,
            content: content.into(),
            model: None,
            tokens: None,
            guardrail_intervened: false,
            cost_micro_usd: None,
            credits: None,
            latency_ms: None,
            created_by: UserId::parse("usr_68SMY689SG3TQPCSDWSB6PBQDP").unwrap(),
            created_at: "2026-12-02T00:00:00Z".into(),
        }
    }

    #[test]
    fn history_keeps_the_newest_messages_that_fit_oldest_first() {
        let newest_first = vec![
            message(Role::Assistant, &"c".repeat(40)),
            message(Role::User, &"b".repeat(40)),
            message(Role::Assistant, &"a".repeat(40)),
            message(Role::User, &"z".repeat(400)),
        ];
        let kept = fit_history(newest_first, 35);
        let contents: Vec<char> = kept
            .iter()
            .map(|m| m.content.chars().next().unwrap())
            .collect();
        assert_eq!(
            contents,
            ['b', 'c'],
            "the oldest that fit, from a person's turn"
        );
        assert!(fit_history(vec![message(Role::User, &"x".repeat(100))], 10).is_empty());
    }

    #[test]
    fn a_reply_reserves_its_most_and_charges_by_output() {
        assert_eq!(REPLY_CREDITS.reserve(), 3);
        assert_eq!(REPLY_CREDITS.charge(10, 0), 3);
        assert_eq!(REPLY_CREDITS.max_output_tokens(), Some(1_000));
    }

    #[test]
    fn messages_must_say_something_and_not_too_much() {
        assert_eq!(check_content("  hi  ").unwrap(), "hi");
        assert!(check_content("   ").is_err());
        assert!(check_content(&"x".repeat(CONTENT_MAX + 1)).is_err());
    }
}
