//! Companies, products and partners: one set of use cases for every resource kind, with the
//! differences (key prefix, id kind, links between kinds, privacy) declared by [`Resource`].

use std::collections::HashMap;

use serde_json::Value as Json;

use super::items::{from_item, to_item, value_of};
use super::records::{commit, listing, patched, query_all, Guarded, Listing, PageRequest, Record};
use super::{keys, App, Caller};
use crate::domain::agent::AgentDraft;
use crate::domain::conversation::ConversationDraft;
use crate::domain::ids::{
    AgentId, CompanyId, ConversationId, PartnerId, PrefixedId, ProductId, TeamId,
};
use crate::domain::privacy::{EffectivePrivacy, PrivacySettings};
use crate::domain::resources::{CompanyDraft, Draft, PartnerDraft, ProductDraft};
use crate::error::{Conflict, Error};
use crate::ports::rfc3339;
use crate::ports::table::{CompareOp, Condition, Key, Query, Update, UpdateAction, WriteOp};

/// Number of products that name a company; a company with products cannot be deleted.
const PRODUCT_COUNT: &str = "product_count";
/// Number of agents that name a company or a product as their default; it cannot be deleted
/// while any do (an agent whose default vanished would fail every later run).
const AGENT_REFS: &str = "agent_refs";

/// A kind of resource a team keeps.
pub trait Resource: Draft {
    /// Singular name, for messages and the item type.
    const KIND: &'static str;
    /// Sort key prefix under the team partition.
    const SK_PREFIX: &'static str;
    /// The id kind.
    type Id: PrefixedId;

    /// Writes that must happen together with a create (`before` = None), a change, or a
    /// delete (`after` = None): e.g. a product keeps its company's product count.
    fn linked_writes(
        _team: &Caller,
        _before: Option<&Self>,
        _after: Option<&Self>,
    ) -> Vec<Guarded> {
        Vec::new()
    }

    /// Counters kept on this kind's items that must be zero for a delete, each with the
    /// answer when it is not.
    fn delete_guards() -> Vec<(&'static str, Error)> {
        Vec::new()
    }

    /// The agent field that may name a resource of this kind as the agent's default.
    const AGENT_DEFAULT: Option<&'static str> = None;

    /// This level of the privacy cascade, for kinds that have one.
    fn privacy(&self) -> Option<PrivacySettings> {
        None
    }

    /// The company whose privacy settings this resource inherits.
    fn parent_company(&self) -> Option<&CompanyId> {
        None
    }
}

impl Resource for CompanyDraft {
    const KIND: &'static str = "company";
    const SK_PREFIX: &'static str = "COMPANY#";
    type Id = CompanyId;

    const AGENT_DEFAULT: Option<&'static str> = Some("default_company_id");

    fn delete_guards() -> Vec<(&'static str, Error)> {
        vec![(
            PRODUCT_COUNT,
            Error::conflict(
                Conflict::CompanyHasProducts,
                "This company still has products; delete or move them first.",
            ),
        )]
    }

    fn privacy(&self) -> Option<PrivacySettings> {
        Some(self.privacy)
    }
}

fn count_products(caller: &Caller, company: &CompanyId, by: i64) -> Guarded {
    Guarded::new(
        WriteOp::Update(Update {
            key: record_key::<CompanyDraft>(&caller.team_id, company.as_str()),
            actions: vec![UpdateAction::Add(PRODUCT_COUNT.into(), by)],
            condition: Some(Condition::item_exists()),
        }),
        Error::invalid_field("company_id", "No company with this id exists in your team."),
    )
}

impl Resource for ProductDraft {
    const KIND: &'static str = "product";
    const SK_PREFIX: &'static str = "PRODUCT#";
    type Id = ProductId;
    const AGENT_DEFAULT: Option<&'static str> = Some("default_product_id");

    fn linked_writes(caller: &Caller, before: Option<&Self>, after: Option<&Self>) -> Vec<Guarded> {
        let old = before.map(|p| &p.company_id);
        let new = after.map(|p| &p.company_id);
        if old == new {
            return Vec::new();
        }
        let mut writes = Vec::new();
        if let Some(new) = new {
            writes.push(count_products(caller, new, 1));
        }
        if let Some(old) = old {
            writes.push(count_products(caller, old, -1));
        }
        writes
    }

    fn privacy(&self) -> Option<PrivacySettings> {
        Some(self.privacy)
    }

    fn parent_company(&self) -> Option<&CompanyId> {
        Some(&self.company_id)
    }
}

impl Resource for PartnerDraft {
    const KIND: &'static str = "partner";
    const SK_PREFIX: &'static str = "PARTNER#";
    type Id = PartnerId;
}

/// Keeps the count of agents that name a resource as their default: the one an agent starts
/// to name must exist and counts one more, the one it stops naming one less.
fn count_agent_refs<R: Resource>(
    caller: &Caller,
    field: &str,
    before: Option<&R::Id>,
    after: Option<&R::Id>,
) -> Vec<Guarded> {
    if before == after {
        return Vec::new();
    }
    let count = |id: &R::Id, by: i64| Update {
        key: record_key::<R>(&caller.team_id, &id.to_string()),
        actions: vec![UpdateAction::Add(AGENT_REFS.into(), by)],
        condition: Some(Condition::item_exists()),
    };
    let mut writes = Vec::new();
    if let Some(id) = after {
        writes.push(Guarded::new(
            WriteOp::Update(count(id, 1)),
            Error::invalid_field(
                field,
                format!("No {} with this id exists in your team.", R::KIND),
            ),
        ));
    }
    if let Some(id) = before {
        writes.push(Guarded::new(
            WriteOp::Update(count(id, -1)),
            Error::conflict(
                Conflict::Changed,
                format!(
                    "The agent's default {} changed while this request ran; retry.",
                    R::KIND
                ),
            ),
        ));
    }
    writes
}

impl Resource for AgentDraft {
    const KIND: &'static str = "agent";
    const SK_PREFIX: &'static str = "AGENT#";
    type Id = AgentId;

    fn linked_writes(caller: &Caller, before: Option<&Self>, after: Option<&Self>) -> Vec<Guarded> {
        let company = |a: Option<&Self>| a.and_then(|a| a.default_company_id.clone());
        let product = |a: Option<&Self>| a.and_then(|a| a.default_product_id.clone());
        let mut writes = count_agent_refs::<CompanyDraft>(
            caller,
            "default_company_id",
            company(before).as_ref(),
            company(after).as_ref(),
        );
        writes.extend(count_agent_refs::<ProductDraft>(
            caller,
            "default_product_id",
            product(before).as_ref(),
            product(after).as_ref(),
        ));
        writes
    }
}

impl Resource for ConversationDraft {
    const KIND: &'static str = "conversation";
    const SK_PREFIX: &'static str = "CONV#";
    type Id = ConversationId;

    /// The company and product a conversation names must exist when it starts naming them.
    /// (Deleting them later is allowed: replies then go without that voice or those facts.)
    fn linked_writes(caller: &Caller, before: Option<&Self>, after: Option<&Self>) -> Vec<Guarded> {
        let Some(after) = after else {
            return Vec::new();
        };
        let mut writes = Vec::new();
        let company = after.company_id.as_ref();
        if company.is_some() && company != before.and_then(|b| b.company_id.as_ref()) {
            writes.extend(company.map(|id| exists::<CompanyDraft>(caller, id, "company_id")));
        }
        let product = after.product_id.as_ref();
        if product.is_some() && product != before.and_then(|b| b.product_id.as_ref()) {
            writes.extend(product.map(|id| exists::<ProductDraft>(caller, id, "product_id")));
        }
        writes
    }
}

/// A check, in a transaction, that a record the request names exists in the caller's team.
pub fn exists<R: Resource>(caller: &Caller, id: &impl std::fmt::Display, field: &str) -> Guarded {
    Guarded::new(
        WriteOp::Check {
            key: record_key::<R>(&caller.team_id, &id.to_string()),
            condition: Condition::item_exists(),
        },
        Error::invalid_field(
            field,
            format!("No {} with this id exists in your team.", R::KIND),
        ),
    )
}

/// The key of a resource of a team: the one key builder of every resource kind.
pub fn record_key<R: Resource>(team: &TeamId, id: &str) -> Key {
    Key::new(keys::team_partition(team), format!("{}{id}", R::SK_PREFIX))
}

/// Refuses ids of the wrong kind before any read.
fn parse_id<R: Resource>(id: &str) -> Result<R::Id, Error> {
    R::Id::parse(id).map_err(|_| Error::not_found(R::KIND))
}

/// Members may change only what they created; admins and owners anything.
pub fn ensure_may_change<R: Resource>(caller: &Caller, record: &Record<R>) -> Result<(), Error> {
    if caller.role.edits_all_resources() || record.created_by == caller.user_id {
        Ok(())
    } else {
        Err(Error::forbidden(format!(
            "Members can change only the {} records they created; ask an admin.",
            R::KIND
        )))
    }
}

/// Reads one resource of the caller's team; other teams' ids answer 404.
pub async fn get<R: Resource>(app: &App, caller: &Caller, id: &str) -> Result<Record<R>, Error> {
    find::<R>(app, &caller.team_id, id)
        .await?
        .ok_or_else(|| Error::not_found(R::KIND))
}

/// Reads one resource of `team` (strongly consistent); `None` for an id that is not one of
/// this kind or not there.
pub async fn find<R: Resource>(
    app: &App,
    team: &TeamId,
    id: &str,
) -> Result<Option<Record<R>>, Error> {
    read::<R>(app, team, id, true).await
}

/// Like [`find`], read eventually consistently (half the cost): for a workflow's tasks, which
/// read the resources their execution was created with, never to decide a write.
pub async fn find_eventually<R: Resource>(
    app: &App,
    team: &TeamId,
    id: &str,
) -> Result<Option<Record<R>>, Error> {
    read::<R>(app, team, id, false).await
}

async fn read<R: Resource>(
    app: &App,
    team: &TeamId,
    id: &str,
    consistent: bool,
) -> Result<Option<Record<R>>, Error> {
    let Ok(id) = R::Id::parse(id) else {
        return Ok(None);
    };
    let key = record_key::<R>(team, &id.to_string());
    let item = match consistent {
        true => app.table.get(&key).await?,
        false => app.table.get_eventually(&key).await?,
    };
    item.as_ref().map(from_item).transpose()
}

/// The first `limit` (1–100) resources of one kind of `team`, oldest first.
pub async fn first<R: Resource>(
    app: &App,
    team: &TeamId,
    limit: u32,
) -> Result<Vec<Record<R>>, Error> {
    let mut query = Query::prefix(
        crate::ports::table::Index::Table,
        keys::team_partition(team),
        R::SK_PREFIX,
    );
    query.limit = limit;
    let page = app.table.query(query).await?;
    page.items.iter().map(from_item).collect()
}

/// Lists the caller's team's resources of one kind, oldest first.
pub async fn list<R: Resource>(
    app: &App,
    caller: &Caller,
    page: PageRequest,
) -> Result<Listing<Record<R>>, Error> {
    let mut query = Query::prefix(
        crate::ports::table::Index::Table,
        keys::team_partition(&caller.team_id),
        R::SK_PREFIX,
    );
    query.limit = page.limit;
    query.cursor = page.cursor;
    listing(app.table.query(query).await?)
}

/// Creates a resource from a validated draft.
pub async fn create<R: Resource>(app: &App, caller: &Caller, draft: R) -> Result<Record<R>, Error> {
    let draft = draft.validate()?;
    let now = rfc3339(app.clock.now());
    let record = Record {
        id: R::Id::generate().to_string(),
        data: draft,
        created_by: caller.user_id.clone(),
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    };
    let key = record_key::<R>(&caller.team_id, &record.id);
    let mut writes = vec![Guarded::new(
        WriteOp::Put {
            item: to_item(&record, &key, R::KIND)?,
            condition: Some(Condition::item_absent()),
        },
        Error::conflict(
            Conflict::Changed,
            "A resource with this id exists already; retry.",
        ),
    )];
    writes.extend(R::linked_writes(caller, None, Some(&record.data)));
    writes.push(record_event::<R>(app, caller, "created", &record.id)?);
    commit(app.table.as_ref(), writes).await?;
    Ok(record)
}

/// The event telling that a record of the caller's team was created, changed or deleted.
pub fn record_event<R: Resource>(
    app: &App,
    caller: &Caller,
    what: &str,
    id: &str,
) -> Result<Guarded, Error> {
    let data = serde_json::json!({ format!("{}_id", R::KIND): id });
    let kind = format!("{}.{what}", R::KIND);
    let (_, write) = super::events::record(
        &caller.team_id,
        &kind,
        Some(caller.actor()),
        data,
        app.clock.now(),
    )?;
    Ok(write)
}

/// Applies a JSON merge patch (RFC 7386) to a resource, validates the result as a whole and
/// writes it if nobody changed the resource meanwhile.
pub async fn update<R: Resource>(
    app: &App,
    caller: &Caller,
    id: &str,
    patch: Json,
) -> Result<Record<R>, Error> {
    let current = get::<R>(app, caller, id).await?;
    ensure_may_change(caller, &current)?;
    let draft = patched(&current.data, patch)?.validate()?;
    let record = Record {
        data: draft,
        updated_at: rfc3339(app.clock.now()),
        version: current.version + 1,
        ..current.clone()
    };
    // Only the client's fields and the bookkeeping change; server-kept attributes (such as a
    // company's product count) stay as they are.
    let mut writes = vec![Guarded::new(
        WriteOp::Update(Update {
            key: record_key::<R>(&caller.team_id, &record.id),
            actions: vec![
                UpdateAction::Set("data".into(), value_of(&record.data)?),
                UpdateAction::Set("updated_at".into(), record.updated_at.clone().into()),
                UpdateAction::Set("version".into(), record.version.into()),
            ],
            condition: Some(Condition::eq("version", current.version)),
        }),
        Error::conflict(
            Conflict::Changed,
            format!(
                "The {} changed while this request ran; fetch it and retry.",
                R::KIND
            ),
        ),
    )];
    writes.extend(R::linked_writes(
        caller,
        Some(&current.data),
        Some(&record.data),
    ));
    writes.push(record_event::<R>(app, caller, "changed", &record.id)?);
    commit(app.table.as_ref(), writes).await?;
    Ok(record)
}

/// Deletes a resource, with its linked writes, unless something still refers to it: its
/// counters say why (a company's products), and agents naming it as their default are named.
pub async fn delete<R: Resource>(app: &App, caller: &Caller, id: &str) -> Result<(), Error> {
    let id = parse_id::<R>(id)?;
    let key = record_key::<R>(&caller.team_id, &id.to_string());
    let item = app
        .table
        .get(&key)
        .await?
        .ok_or_else(|| Error::not_found(R::KIND))?;
    let current: Record<R> = from_item(&item)?;
    ensure_may_change(caller, &current)?;
    let mut counters: Vec<&str> = Vec::new();
    for (counter, error) in R::delete_guards() {
        if item.get(counter).and_then(|v| v.as_i64()).unwrap_or(0) > 0 {
            return Err(error);
        }
        counters.push(counter);
    }
    if let Some(field) = R::AGENT_DEFAULT {
        refuse_if_agents_name::<R>(app, caller, field, &current.id).await?;
        counters.push(AGENT_REFS);
    }
    // The same checks, held in the write itself against a product or an agent added meanwhile.
    let mut conditions = vec![Condition::eq("version", current.version)];
    conditions.extend(counters.into_iter().map(|counter| {
        Condition::Or(vec![
            Condition::NotExists(counter.into()),
            Condition::compare(counter, CompareOp::Le, 0),
        ])
    }));
    let mut writes = vec![Guarded::new(
        WriteOp::Delete {
            key,
            condition: Some(Condition::And(conditions)),
        },
        Error::conflict(
            Conflict::Changed,
            format!(
                "The {} changed while this request ran (something may refer to it now); retry.",
                R::KIND
            ),
        ),
    )];
    writes.extend(R::linked_writes(caller, Some(&current.data), None));
    writes.push(record_event::<R>(app, caller, "deleted", &current.id)?);
    commit(app.table.as_ref(), writes).await
}

/// 409 `in_use_by_agents`, naming them, if agents of the team name `id` in `field`.
async fn refuse_if_agents_name<R: Resource>(
    app: &App,
    caller: &Caller,
    field: &str,
    id: &str,
) -> Result<(), Error> {
    let query = Query::prefix(
        crate::ports::table::Index::Table,
        keys::team_partition(&caller.team_id),
        AgentDraft::SK_PREFIX,
    );
    let mut naming = Vec::new();
    for item in query_all(app.table.as_ref(), query).await? {
        let agent: Record<Json> = from_item(&item)?;
        if agent.data.get(field).and_then(Json::as_str) == Some(id) {
            naming.push(format!(
                "{} ({})",
                agent.data["name"].as_str().unwrap_or_default(),
                agent.id
            ));
        }
    }
    if naming.is_empty() {
        return Ok(());
    }
    Err(Error::conflict(
        Conflict::InUseByAgents,
        format!(
            "This {} is the default of these agents: {}. Change their `{field}` or delete them first.",
            R::KIND,
            naming.join(", ")
        ),
    ))
}

/// Renders records for clients; kinds with privacy settings get `effective_privacy`, the
/// cascade user → team → company → product resolved for the caller.
pub async fn render<R: Resource>(
    app: &App,
    caller: &Caller,
    records: &[Record<R>],
) -> Result<Vec<Json>, Error> {
    let mut rendered = Vec::with_capacity(records.len());
    let mut base: Option<Vec<PrivacySettings>> = None;
    let mut companies: HashMap<CompanyId, PrivacySettings> = HashMap::new();
    for record in records {
        let mut json = record.to_json()?;
        if let Some(own) = record.data.privacy() {
            if base.is_none() {
                base = Some(super::teams::privacy_base(app, caller).await?);
            }
            let mut levels = base.clone().unwrap_or_default();
            if let Some(company) = record.data.parent_company() {
                if !companies.contains_key(company) {
                    let parent = get::<CompanyDraft>(app, caller, company.as_str())
                        .await
                        .map(|c| c.data.privacy)
                        .unwrap_or_default();
                    companies.insert(company.clone(), parent);
                }
                levels.push(companies[company]);
            }
            levels.push(own);
            let effective = value_of(&EffectivePrivacy::cascade(&levels))?;
            if let Json::Object(map) = &mut json {
                map.insert(
                    "effective_privacy".into(),
                    super::items::value_to_json(&effective),
                );
            }
        }
        rendered.push(json);
    }
    Ok(rendered)
}
