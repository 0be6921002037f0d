//! Tokens: what a model call read and wrote, and what it read from or wrote to its prompt
//! cache — priced apart by the catalog.

use serde::{Deserialize, Serialize};

/// Tokens one model used (or one call).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct TokenUsage {
    /// Tokens read at the full price.
    pub input: i64,
    /// Tokens written.
    pub output: i64,
    /// Prompt tokens read from the model's prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read: i64,
    /// Prompt tokens written to the model's prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write: i64,
}

impl TokenUsage {
    /// Adds another's tokens to these.
    pub fn add(&mut self, other: &TokenUsage) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
    }

    /// Takes another's tokens from these.
    pub fn subtract(&mut self, other: &TokenUsage) {
        self.input -= other.input;
        self.output -= other.output;
        self.cache_read -= other.cache_read;
        self.cache_write -= other.cache_write;
    }
}

fn is_zero(count: &i64) -> bool {
    *count == 0
}
