//! Agent memory in the table (the default, and the local stack's): one small record per
//! succeeded execution or conversation reply, kept under its brand — and, when its privacy settings share it across
//! brands, again where every brand of the team recalls it. Recalling reads the newest few of
//! the brand's own records and of the shared ones: two bounded queries, however long the
//! history grows.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::items::{from_item, to_item};
use super::records::Record;
use super::resources::find_eventually;
use super::{keys, teams, App, Caller};
use crate::domain::conversation::{ChatMessage, ConversationDraft};
use crate::domain::execution::{Execution, ExecutionStatus};
use crate::domain::ids::{CompanyId, ProductId, TeamId, UserId};
use crate::domain::privacy::EffectivePrivacy;
use crate::domain::resources::{CompanyDraft, ProductDraft};
use crate::error::Error;
use crate::ports::memory::{Memory, MemoryRecord, MemoryUnavailable, RecallQuery};
use crate::ports::table::{Index, Query, Table};

/// Memory kept in the one table.
#[derive(Clone)]
pub struct TableMemory {
    table: Arc<dyn Table>,
}

impl TableMemory {
    /// Memory in `table`.
    pub fn new(table: Arc<dyn Table>) -> Self {
        TableMemory { table }
    }
}

/// A memory record as stored.
#[derive(Serialize, Deserialize)]
struct Stored {
    line: String,
}

fn unavailable(error: impl std::fmt::Display) -> MemoryUnavailable {
    MemoryUnavailable(error.to_string())
}

#[async_trait]
impl Memory for TableMemory {
    async fn remember(&self, record: &MemoryRecord) -> Result<(), MemoryUnavailable> {
        let stored = Stored {
            line: record.line.clone(),
        };
        let mut places = vec![false];
        if record.shared_across_brands {
            places.push(true);
        }
        for shared in places {
            let key = keys::memory(&record.team, record.brand.as_ref(), &record.work, shared);
            let item = to_item(&stored, &key, "memory").map_err(unavailable)?;
            self.table.put(item, None).await.map_err(unavailable)?;
        }
        Ok(())
    }

    async fn recall(&self, query: &RecallQuery) -> Result<Vec<String>, MemoryUnavailable> {
        let mut found: Vec<(String, String)> = Vec::new();
        for prefix in [
            keys::brand_memory_prefix(query.brand.as_ref()),
            keys::SHARED_MEMORY_PREFIX.to_owned(),
        ] {
            let mut read = Query::prefix(
                Index::Table,
                keys::team_partition(&query.team),
                prefix.clone(),
            );
            read.descending = true;
            read.limit = query.limit.max(1) as u32;
            let page = self.table.query(read).await.map_err(unavailable)?;
            for item in &page.items {
                let execution = item
                    .get("SK")
                    .and_then(|sk| sk.as_str())
                    .and_then(|sk| sk.strip_prefix(&prefix))
                    .unwrap_or_default()
                    .to_owned();
                let stored: Stored = from_item(item).map_err(unavailable)?;
                found.push((execution, stored.line));
            }
        }
        // Newest first (execution ids are ULIDs); a shared record of the brand's own work is
        // found twice.
        found.sort_by(|a, b| b.0.cmp(&a.0));
        found.dedup_by(|a, b| a.0 == b.0);
        found.truncate(query.limit);
        Ok(found.into_iter().map(|(_, line)| line).collect())
    }
}

/// The line a succeeded execution leaves: its day, what was asked, what it produced.
fn memory_line(execution: &Execution) -> String {
    let request: String = execution.request.chars().take(160).collect();
    let produced: Vec<&str> = execution.steps.iter().map(|s| s.title.as_str()).collect();
    format!(
        "- {}: \"{request}\" → {}",
        &execution.created_at[..10.min(execution.created_at.len())],
        produced.join("; ")
    )
}

/// Whose work a record is, and for which brand and product: what decides its privacy.
struct Work<'a> {
    team: &'a TeamId,
    member: &'a UserId,
    company: Option<&'a CompanyId>,
    product: Option<&'a ProductId>,
}

/// Keeps a record of `work` with the privacy it has: the cascade of its member's settings, the
/// team's defaults, its company's and its product's.
async fn keep(
    app: &App,
    work: Work<'_>,
    session: String,
    id: String,
    request: &str,
    line: String,
) -> Result<(), Error> {
    let mut levels = teams::privacy_levels_eventually(app, work.team, work.member).await?;
    if let Some(company) = work.company {
        if let Some(company) =
            find_eventually::<CompanyDraft>(app, work.team, company.as_str()).await?
        {
            levels.push(company.data.privacy);
        }
    }
    if let Some(product) = work.product {
        if let Some(product) =
            find_eventually::<ProductDraft>(app, work.team, product.as_str()).await?
        {
            levels.push(product.data.privacy);
        }
    }
    let privacy = EffectivePrivacy::cascade(&levels);
    let record = MemoryRecord {
        team: work.team.clone(),
        brand: work.company.cloned(),
        session,
        work: id,
        actor: work.member.clone(),
        request: request.to_owned(),
        line,
        shared_across_brands: privacy.kb_cross_brand_sharing && !privacy.data_isolation_enabled,
        learnable: !privacy.training_data_opt_out,
    };
    app.memory.remember(&record).await.map_err(|e| {
        Error::unavailable_because("Memory could not be kept right now.", e.to_string())
    })
}

/// Keeps what a settled execution did, if it succeeded.
pub async fn remember(app: &App, team: &TeamId, settled: &Execution) -> Result<(), Error> {
    if settled.status != ExecutionStatus::Succeeded {
        return Ok(());
    }
    let work = Work {
        team,
        member: &settled.created_by,
        company: settled.company_id.as_ref(),
        product: settled.product_id.as_ref(),
    };
    let id = settled.id.to_string();
    keep(
        app,
        work,
        id.clone(),
        id,
        &settled.request,
        memory_line(settled),
    )
    .await
}

/// Keeps a conversation's exchange: the question and the start of the reply (the session is
/// the conversation, the work the reply).
pub async fn remember_reply(
    app: &App,
    caller: &Caller,
    conversation: &Record<ConversationDraft>,
    question: &ChatMessage,
    reply: &ChatMessage,
) -> Result<(), Error> {
    let work = Work {
        team: &caller.team_id,
        member: &caller.user_id,
        company: conversation.data.company_id.as_ref(),
        product: conversation.data.product_id.as_ref(),
    };
    let asked: String = question.content.chars().take(160).collect();
    let answered: String = reply.content.chars().take(160).collect();
    let line = format!(
        "- {}: asked \"{asked}\" → replied \"{answered}\"",
        &reply.created_at[..10.min(reply.created_at.len())]
    );
    keep(
        app,
        work,
        conversation.id.clone(),
        reply.id.clone(),
        &question.content,
        line,
    )
    .await
}
