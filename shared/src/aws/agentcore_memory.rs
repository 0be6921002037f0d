//! Agent memory on Amazon Bedrock AgentCore Memory. Each succeeded execution, and each reply
//! of a conversation, is one event (actor = the team and the brand, or the team's shared actor
//! for work its privacy shares across brands; session = the execution or the conversation):
//! what was asked and what came of it. The memory's
//! semantic strategy (see `template.yaml`) extracts lasting records from the events into
//! `/vellocity/{actorId}/`; recalling retrieves the most relevant of the brand's namespace and
//! of the team's shared one. Work whose privacy opts out of training is kept as an event with
//! extraction skipped: no model learns from it, and it is not recalled.
//!
//! With `AGENTCORE_MEMORY_ROLE_ARN` set, every call for a team runs on credentials of that
//! role assumed with the session tag `team=<team id>`, whose policy allows only actors and
//! namespaces under that team: IAM, not this code, keeps one team from another's memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_bedrockagentcore::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockagentcore::primitives::DateTime;
use aws_sdk_bedrockagentcore::types::{
    Content, Conversational, ExtractionMode, MemoryContent, PayloadType, Role, SearchCriteria,
};
use aws_sdk_bedrockagentcore::Client;
use aws_types::SdkConfig;

use crate::domain::ids::{CompanyId, TeamId};
use crate::ports::memory::{Memory, MemoryRecord, MemoryUnavailable, RecallQuery};

/// The actor of a team's work for a brand (`none`: work without one).
pub fn brand_actor(team: &TeamId, brand: Option<&CompanyId>) -> String {
    format!("{team}/{}", brand.map_or("none", |b| b.as_str()))
}

/// The actor of a team's work that every brand of the team may recall.
pub fn shared_actor(team: &TeamId) -> String {
    format!("{team}/shared")
}

/// Where the strategy keeps what it extracted from an actor's events.
pub fn namespace_of(actor: &str) -> String {
    format!("/vellocity/{actor}/")
}

/// How the adapter gets a client for a team's calls.
enum Clients {
    /// One client for every team (a deployment without the per-team role, or a local endpoint).
    Shared(Client),
    /// A client per team, on the role assumed with the team's session tag; kept while the
    /// process lives (a few hundred teams at most, then started afresh).
    PerTeam {
        config: Box<SdkConfig>,
        role_arn: String,
        by_team: Mutex<HashMap<TeamId, Client>>,
    },
}

/// The most per-team clients kept before the cache starts afresh.
const KEPT_CLIENTS: usize = 256;

/// Amazon Bedrock AgentCore Memory behind the [`Memory`] port.
pub struct AgentCoreMemory {
    memory_id: String,
    clients: Clients,
}

impl AgentCoreMemory {
    /// The memory `memory_id`, called with `config`'s credentials, or (with `role_arn`) with
    /// those of the role assumed for each team.
    pub fn new(config: &SdkConfig, memory_id: String, role_arn: Option<String>) -> Self {
        let clients = match role_arn {
            Some(role_arn) => Clients::PerTeam {
                config: Box::new(config.clone()),
                role_arn,
                by_team: Mutex::default(),
            },
            None => Clients::Shared(Client::new(config)),
        };
        AgentCoreMemory { memory_id, clients }
    }

    /// A client whose calls are allowed only the team's actors and namespaces.
    async fn client(&self, team: &TeamId) -> Client {
        let (config, role_arn, by_team) = match &self.clients {
            Clients::Shared(client) => return client.clone(),
            Clients::PerTeam {
                config,
                role_arn,
                by_team,
            } => (config, role_arn, by_team),
        };
        if let Some(client) = by_team.lock().unwrap_or_else(|p| p.into_inner()).get(team) {
            return client.clone();
        }
        let credentials = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
            .session_name(format!("vellocity-memory-{team}"))
            .tags([("team", team.to_string())])
            .configure(config)
            .build()
            .await;
        let scoped = aws_sdk_bedrockagentcore::config::Builder::from(config.as_ref())
            .credentials_provider(credentials)
            .build();
        let client = Client::from_conf(scoped);
        let mut by_team = by_team.lock().unwrap_or_else(|p| p.into_inner());
        if by_team.len() >= KEPT_CLIENTS {
            by_team.clear();
        }
        by_team.insert(team.clone(), client.clone());
        client
    }
}

fn unavailable<E, R>(what: &str) -> impl FnOnce(SdkError<E, R>) -> MemoryUnavailable + '_
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    move |error| match (error.code(), error.message()) {
        (Some(code), message) => {
            MemoryUnavailable(format!("{what}: {code}: {}", message.unwrap_or_default()))
        }
        _ => MemoryUnavailable(format!("{what}: {}", DisplayErrorContext(&error))),
    }
}

fn conversational(role: Role, text: &str) -> Result<PayloadType, MemoryUnavailable> {
    Conversational::builder()
        .content(Content::Text(text.to_owned()))
        .role(role)
        .build()
        .map(PayloadType::Conversational)
        .map_err(|e| MemoryUnavailable(e.to_string()))
}

/// When the work was done: the time in its id (a ULID), so a retried event is the same
/// request and its client token makes it one event.
fn started_at(record: &MemoryRecord) -> DateTime {
    let ulid = record
        .work
        .split_once('_')
        .and_then(|(_, body)| ulid::Ulid::from_string(body).ok());
    let millis = ulid.map_or(0, |u| u.timestamp_ms());
    DateTime::from_millis(millis as i64)
}

#[async_trait]
impl Memory for AgentCoreMemory {
    async fn remember(&self, record: &MemoryRecord) -> Result<(), MemoryUnavailable> {
        let actor = match record.shared_across_brands {
            true => shared_actor(&record.team),
            false => brand_actor(&record.team, record.brand.as_ref()),
        };
        let mut event = self
            .client(&record.team)
            .await
            .create_event()
            .memory_id(&self.memory_id)
            .actor_id(actor)
            .session_id(record.session.as_str())
            .event_timestamp(started_at(record))
            .payload(conversational(Role::User, &record.request)?)
            .payload(conversational(Role::Assistant, &record.line)?)
            .client_token(record.work.as_str());
        if !record.learnable {
            event = event.extraction_mode(ExtractionMode::Skip);
        }
        event
            .send()
            .await
            .map_err(unavailable("AgentCore Memory CreateEvent"))?;
        Ok(())
    }

    async fn recall(&self, query: &RecallQuery) -> Result<Vec<String>, MemoryUnavailable> {
        let client = self.client(&query.team).await;
        let criteria = SearchCriteria::builder()
            .search_query(query.about.chars().take(1_000).collect::<String>())
            .top_k(query.limit.max(1) as i32)
            .build()
            .map_err(|e| MemoryUnavailable(e.to_string()))?;
        let mut found: Vec<(f64, String)> = Vec::new();
        for actor in [
            brand_actor(&query.team, query.brand.as_ref()),
            shared_actor(&query.team),
        ] {
            let page = client
                .retrieve_memory_records()
                .memory_id(&self.memory_id)
                .namespace(namespace_of(&actor))
                .search_criteria(criteria.clone())
                .max_results(query.limit.max(1) as i32)
                .send()
                .await
                .map_err(unavailable("AgentCore Memory RetrieveMemoryRecords"))?;
            for summary in page.memory_record_summaries() {
                if let Some(MemoryContent::Text(text)) = summary.content() {
                    found.push((summary.score().unwrap_or(0.0), text.clone()));
                }
            }
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut lines: Vec<String> = Vec::new();
        for (_, text) in found {
            if !lines.contains(&text) {
                lines.push(text);
            }
        }
        lines.truncate(query.limit);
        Ok(lines)
    }
}
