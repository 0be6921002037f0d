//! Companies, products and partners: one set of use cases for every resource kind, with the
//! differences (key prefix, id kind, links between kinds, privacy) declared by [`Resource`].

use std::collections::HashMap;

use serde_json::Value as Json;

use super::items::{decode_json, from_item, to_item, value_of};
use super::records::{commit, listing, Guarded, Listing, PageRequest, Record};
use super::{keys, App, Caller};
use crate::domain::agent::AgentDraft;
use crate::domain::ids::{AgentId, CompanyId, PartnerId, PrefixedId, ProductId};
use crate::domain::privacy::{EffectivePrivacy, PrivacySettings};
use crate::domain::resources::{CompanyDraft, Draft, PartnerDraft, ProductDraft};
use crate::error::Error;
use crate::ports::rfc3339;
use crate::ports::table::{Condition, Key, Query, Update, UpdateAction, WriteOp};

/// Number of products that name a company; a company with products cannot be deleted.
const PRODUCT_COUNT: &str = "product_count";

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

    /// What must hold for a delete, and the answer when it does not.
    fn delete_guard() -> Option<(Condition, Error)> {
        None
    }

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

    fn delete_guard() -> Option<(Condition, Error)> {
        Some((
            Condition::Or(vec![
                Condition::NotExists(PRODUCT_COUNT.into()),
                Condition::eq(PRODUCT_COUNT, 0),
            ]),
            Error::conflict(
                "company_has_products",
                "This company still has products; delete or move them first.",
            ),
        ))
    }

    fn privacy(&self) -> Option<PrivacySettings> {
        Some(self.privacy)
    }
}

fn count_products(caller: &Caller, company: &CompanyId, by: i64) -> Guarded {
    Guarded::new(
        WriteOp::Update(Update {
            key: record_key::<CompanyDraft>(caller, company.as_str()),
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

/// Requires a record of kind `R` to exist when a reference to it is set or changed.
fn require<R: Resource>(
    caller: &Caller,
    field: &str,
    before: Option<&R::Id>,
    after: Option<&R::Id>,
) -> Option<Guarded> {
    let id = after.filter(|a| Some(*a) != before)?;
    Some(Guarded::new(
        WriteOp::Check {
            key: record_key::<R>(caller, &id.to_string()),
            condition: Condition::item_exists(),
        },
        Error::invalid_field(
            field,
            format!("No {} with this id exists in your team.", R::KIND),
        ),
    ))
}

impl Resource for AgentDraft {
    const KIND: &'static str = "agent";
    const SK_PREFIX: &'static str = "AGENT#";
    type Id = AgentId;

    fn linked_writes(caller: &Caller, before: Option<&Self>, after: Option<&Self>) -> Vec<Guarded> {
        let company = |a: Option<&Self>| a.and_then(|a| a.default_company_id.clone());
        let product = |a: Option<&Self>| a.and_then(|a| a.default_product_id.clone());
        [
            require::<CompanyDraft>(
                caller,
                "default_company_id",
                company(before).as_ref(),
                company(after).as_ref(),
            ),
            require::<ProductDraft>(
                caller,
                "default_product_id",
                product(before).as_ref(),
                product(after).as_ref(),
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The key of a resource of the caller's team.
fn record_key<R: Resource>(caller: &Caller, id: &str) -> Key {
    Key::new(
        keys::team_partition(&caller.team_id),
        format!("{}{id}", R::SK_PREFIX),
    )
}

/// Refuses ids of the wrong kind before any read.
fn parse_id<R: Resource>(id: &str) -> Result<R::Id, Error> {
    R::Id::parse(id).map_err(|_| Error::not_found(R::KIND))
}

/// Members may change only what they created; admins and owners anything.
fn ensure_may_change<R: Resource>(caller: &Caller, record: &Record<R>) -> Result<(), Error> {
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
    let id = parse_id::<R>(id)?;
    let item = app
        .table
        .get(&record_key::<R>(caller, &id.to_string()))
        .await?;
    match item {
        Some(item) => from_item(&item),
        None => Err(Error::not_found(R::KIND)),
    }
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
    let key = record_key::<R>(caller, &record.id);
    let mut writes = vec![Guarded::new(
        WriteOp::Put {
            item: to_item(&record, &key, R::KIND)?,
            condition: Some(Condition::item_absent()),
        },
        Error::conflict("conflict", "A resource with this id exists already; retry."),
    )];
    writes.extend(R::linked_writes(caller, None, Some(&record.data)));
    commit(app.table.as_ref(), writes).await?;
    Ok(record)
}

/// Applies a JSON merge patch (RFC 7386) to a resource, validates the result as a whole and
/// writes it if nobody changed the resource meanwhile.
pub async fn update<R: Resource>(
    app: &App,
    caller: &Caller,
    id: &str,
    patch: Json,
) -> Result<Record<R>, Error> {
    if !patch.is_object() {
        return Err(Error::invalid_body(
            None,
            "a PATCH body must be a JSON object",
        ));
    }
    let current = get::<R>(app, caller, id).await?;
    ensure_may_change(caller, &current)?;
    let mut merged = serde_json::to_value(&current.data).map_err(Error::internal)?;
    merge_patch(&mut merged, patch);
    let draft: R = decode_json(merged)?;
    let draft = draft.validate()?;
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
            key: record_key::<R>(caller, &record.id),
            actions: vec![
                UpdateAction::Set("data".into(), value_of(&record.data)?),
                UpdateAction::Set("updated_at".into(), record.updated_at.clone().into()),
                UpdateAction::Set("version".into(), record.version.into()),
            ],
            condition: Some(Condition::eq("version", current.version)),
        }),
        Error::conflict(
            "conflict",
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
    commit(app.table.as_ref(), writes).await?;
    Ok(record)
}

/// Deletes a resource, with its linked writes, if its delete guard holds.
pub async fn delete<R: Resource>(app: &App, caller: &Caller, id: &str) -> Result<(), Error> {
    let current = get::<R>(app, caller, id).await?;
    ensure_may_change(caller, &current)?;
    let mut conditions = vec![Condition::eq("version", current.version)];
    let mut on_failure = Error::conflict(
        "conflict",
        format!("The {} changed while this request ran; retry.", R::KIND),
    );
    if let Some((guard, error)) = R::delete_guard() {
        conditions.push(guard);
        on_failure = error;
    }
    let mut writes = vec![Guarded::new(
        WriteOp::Delete {
            key: record_key::<R>(caller, &current.id),
            condition: Some(Condition::And(conditions)),
        },
        on_failure,
    )];
    writes.extend(R::linked_writes(caller, Some(&current.data), None));
    commit(app.table.as_ref(), writes).await
}

/// Applies an RFC 7386 JSON merge patch: objects merge, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Json, patch: Json) {
    match (target, patch) {
        (Json::Object(target), Json::Object(patch)) => {
            for (name, value) in patch {
                if value.is_null() {
                    target.remove(&name);
                } else {
                    merge_patch(target.entry(name).or_insert(Json::Null), value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
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

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn a_merge_patch_merges_objects_removes_nulls_and_replaces_the_rest() {
        let mut doc = json!({"name": "A", "brand_voice": {"tone": "bold", "audience": "CTOs"}, "tags": ["x"]});
        merge_patch(
            &mut doc,
            json!({"brand_voice": {"tone": null, "guidelines": "short"}, "tags": ["y", "z"]}),
        );
        assert_eq!(
            doc,
            json!({"name": "A", "brand_voice": {"audience": "CTOs", "guidelines": "short"}, "tags": ["y", "z"]})
        );
    }
}
