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
use super::{keys, members, teams, App, Caller};
use crate::domain::conversation::{ChatMessage, ConversationDraft};
use crate::domain::execution::{Execution, ExecutionStatus};
use crate::domain::ids::{CompanyId, TeamId, UserId};
use crate::domain::privacy::{EffectivePrivacy, PrivacySettings};
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
                let work = item
                    .get("SK")
                    .and_then(|sk| sk.as_str())
                    .and_then(|sk| sk.strip_prefix(&prefix))
                    .unwrap_or_default()
                    .to_owned();
                let stored: Stored = from_item(item).map_err(unavailable)?;
                found.push((work, stored.line));
            }
        }
        // Newest first (keys end in the work's ULID); a shared record of the brand's own work
        // is found twice.
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

/// Whose work a record is, for which brand, and the privacy it has.
struct Work<'a> {
    team: &'a TeamId,
    member: &'a UserId,
    brand: Option<&'a CompanyId>,
    privacy: EffectivePrivacy,
}

/// Keeps a record of `work`.
async fn keep(
    app: &App,
    work: Work<'_>,
    session: String,
    id: String,
    request: &str,
    line: String,
) -> Result<(), Error> {
    let record = MemoryRecord {
        team: work.team.clone(),
        brand: work.brand.cloned(),
        session,
        work: id,
        actor: work.member.clone(),
        request: request.to_owned(),
        line,
        shared_across_brands: work.privacy.kb_cross_brand_sharing
            && !work.privacy.data_isolation_enabled,
        learnable: !work.privacy.training_data_opt_out,
    };
    app.memory.remember(&record).await.map_err(|e| {
        Error::unavailable_because("Memory could not be kept right now.", e.to_string())
    })
}

/// Keeps what a settled execution did, if it succeeded, with the privacy its work has: the
/// cascade of its member's settings, the team's defaults, its company's and its product's.
pub async fn remember(app: &App, team: &TeamId, settled: &Execution) -> Result<(), Error> {
    if settled.status != ExecutionStatus::Succeeded {
        return Ok(());
    }
    let mut levels = teams::privacy_levels_eventually(app, team, &settled.created_by).await?;
    if let Some(company) = &settled.company_id {
        if let Some(company) = find_eventually::<CompanyDraft>(app, team, company.as_str()).await? {
            levels.push(company.data.privacy);
        }
    }
    if let Some(product) = &settled.product_id {
        if let Some(product) = find_eventually::<ProductDraft>(app, team, product.as_str()).await? {
            levels.push(product.data.privacy);
        }
    }
    let work = Work {
        team,
        member: &settled.created_by,
        brand: settled.company_id.as_ref(),
        privacy: EffectivePrivacy::cascade(&levels),
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

/// What a reply was about: its conversation, with the company and product the reply read
/// and the team's privacy defaults read with its hold (so only the member's settings are
/// read again).
pub struct ReplyContext<'a> {
    /// The conversation.
    pub conversation: &'a Record<ConversationDraft>,
    /// Its company, as read for the reply.
    pub company: Option<&'a CompanyDraft>,
    /// Its product, as read for the reply.
    pub product: Option<&'a ProductDraft>,
    /// The team's privacy defaults.
    pub team_defaults: PrivacySettings,
}

/// Keeps a conversation's exchange: the question and the start of the reply (the session is
/// the conversation, the work the reply).
pub async fn remember_reply(
    app: &App,
    caller: &Caller,
    about: ReplyContext<'_>,
    question: &ChatMessage,
    reply: &ChatMessage,
) -> Result<(), Error> {
    let member = members::privacy_eventually(app, &caller.team_id, &caller.user_id).await?;
    let mut levels = vec![member, about.team_defaults];
    levels.extend(about.company.map(|c| c.privacy));
    levels.extend(about.product.map(|p| p.privacy));
    let work = Work {
        team: &caller.team_id,
        member: &caller.user_id,
        brand: about.conversation.data.company_id.as_ref(),
        privacy: EffectivePrivacy::cascade(&levels),
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
        about.conversation.id.clone(),
        reply.id.clone(),
        &question.content,
        line,
    )
    .await
}
