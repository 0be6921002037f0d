//! Agent memory: what a team's past work was, kept when an execution ends or a conversation's
//! reply is stored, and recalled, a few lines at a time, by the planner and the writers of
//! later executions. The table keeps it by
//! default; Amazon Bedrock AgentCore Memory can.

use async_trait::async_trait;

use crate::domain::ids::{CompanyId, TeamId, UserId};

/// What one ended piece of work leaves to be recalled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryRecord {
    /// The team whose work it was: no other team ever recalls it.
    pub team: TeamId,
    /// The brand (company) it was for, if any.
    pub brand: Option<CompanyId>,
    /// The execution or conversation it came from (the session of its events).
    pub session: String,
    /// The piece of work it records, once: the execution, or the conversation's reply. A
    /// prefixed ULID (`exe_…`, `msg_…`), so records order by time.
    pub work: String,
    /// Who asked for it.
    pub actor: UserId,
    /// What was asked.
    pub request: String,
    /// The line recalled: the day, what was asked, what it produced.
    pub line: String,
    /// Whether other brands of the team may recall it: its privacy settings share it across
    /// brands and do not isolate it. Otherwise only work for the same brand recalls it.
    pub shared_across_brands: bool,
    /// Whether it may feed memory that learns (a store that extracts lasting facts from
    /// events with a model): not when its privacy settings opt out of training.
    pub learnable: bool,
}

/// What to recall for: one team's work, for one brand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecallQuery {
    /// The team.
    pub team: TeamId,
    /// The brand the new work is for: its own records, and those other brands share.
    pub brand: Option<CompanyId>,
    /// What the new work asks, for a store that recalls by relevance.
    pub about: String,
    /// The most lines to recall.
    pub limit: usize,
}

/// Memory could not be reached; worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("memory is unavailable: {0}")]
pub struct MemoryUnavailable(pub String);

/// Where agent memory is kept.
#[async_trait]
pub trait Memory: Send + Sync {
    /// Keeps a record; keeping the same work's record again changes nothing.
    async fn remember(&self, record: &MemoryRecord) -> Result<(), MemoryUnavailable>;

    /// The lines the query may see, most relevant (or newest) first, at most `limit`; the
    /// reads are bounded, however long the team's history.
    async fn recall(&self, query: &RecallQuery) -> Result<Vec<String>, MemoryUnavailable>;
}
