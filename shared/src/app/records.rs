//! What every stored resource shares: its record envelope, pages of records, and guarded
//! writes (a write plus the answer to give when its condition fails).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::ids::UserId;
use crate::error::{Conflict, Error};
use crate::ports::table::{CancelReason, Cursor, Item, Table, TableError, WriteOp};

/// A resource as stored: the client's fields under `data`, the server's around them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record<D> {
    /// The resource's id.
    pub id: String,
    /// What the client wrote.
    pub data: D,
    /// Who created it: members may change only their own resources.
    pub created_by: UserId,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// Bumped on every change; writes are conditional on it (optimistic locking).
    pub version: i64,
}

impl<D: Serialize> Record<D> {
    /// The record as clients see it: the fields flat, with id and timestamps.
    pub fn to_json(&self) -> Result<serde_json::Value, Error> {
        let mut json = serde_json::to_value(&self.data).map_err(Error::internal)?;
        if let serde_json::Value::Object(map) = &mut json {
            map.insert("id".into(), self.id.clone().into());
            map.insert("created_by".into(), self.created_by.to_string().into());
            map.insert("created_at".into(), self.created_at.clone().into());
            map.insert("updated_at".into(), self.updated_at.clone().into());
        }
        Ok(json)
    }
}

/// What a list route was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// 1..=100.
    pub limit: u32,
    /// Where to continue.
    pub cursor: Option<Cursor>,
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Listing<T> {
    /// The entries.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Listing<T> {
    /// Converts every entry.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Listing<U> {
        Listing {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// Reads a page of items of one kind into entities.
pub fn listing<T: DeserializeOwned>(page: crate::ports::table::Page) -> Result<Listing<T>, Error> {
    Ok(Listing {
        items: page
            .items
            .iter()
            .map(super::items::from_item)
            .collect::<Result<_, _>>()?,
        next_cursor: page.cursor.map(|c| c.encode()),
    })
}

/// The most items one filtered listing request examines before it returns a (possibly
/// short) page with a cursor, as DynamoDB's own filters do.
pub const MAX_EXAMINED: usize = 1_000;

/// A page of the entities `query` reads that `keep` keeps, `limit` at most; a request examines
/// at most [`MAX_EXAMINED`] items, so a rare match answers a short page with a cursor rather
/// than reading a whole partition.
pub async fn filtered<T: DeserializeOwned>(
    table: &dyn crate::ports::table::Table,
    query: crate::ports::table::Query,
    limit: u32,
    keep: impl Fn(&T) -> bool,
) -> Result<Listing<T>, Error> {
    let read = |item: Item| async move { super::items::from_item(&item).map(Some) };
    let query = crate::ports::table::Query {
        limit: 100,
        ..query
    };
    filtered_entries(table, query, limit, read, keep).await
}

/// Like [`filtered`], for a listing whose entries stand for other items: `resolve` reads the
/// entity an entry stands for (`None`: it is gone, and the entry is skipped). Entries are
/// resolved together, as many at a time as the page still needs; `query.limit` is how many
/// entries one query reads (the page's limit when `keep` keeps all, more when it filters).
pub async fn filtered_entries<T, Resolved>(
    table: &dyn crate::ports::table::Table,
    mut query: crate::ports::table::Query,
    limit: u32,
    resolve: impl Fn(Item) -> Resolved,
    keep: impl Fn(&T) -> bool,
) -> Result<Listing<T>, Error>
where
    Resolved: std::future::Future<Output = Result<Option<T>, Error>>,
{
    let index = query.index;
    let (mut items, mut examined) = (Vec::new(), 0);
    loop {
        let result = table.query(query.clone()).await?;
        let mut entries = result.items.as_slice();
        while !entries.is_empty() {
            let wanted = (limit as usize - items.len()).min(entries.len());
            let (batch, rest) = entries.split_at(wanted);
            entries = rest;
            let resolved =
                futures_util::future::try_join_all(batch.iter().cloned().map(&resolve)).await?;
            for (entry, entity) in batch.iter().zip(resolved) {
                examined += 1;
                let Some(entity) = entity.filter(|e| keep(e)) else {
                    continue;
                };
                items.push(entity);
                if items.len() == limit as usize {
                    let next = Cursor::after(entry, index).encode();
                    return Ok(Listing {
                        items,
                        next_cursor: Some(next),
                    });
                }
            }
        }
        match result.cursor {
            Some(cursor) if examined < MAX_EXAMINED => query.cursor = Some(cursor),
            cursor => {
                return Ok(Listing {
                    items,
                    next_cursor: cursor.map(|c| c.encode()),
                })
            }
        }
    }
}

/// A write, and what to answer if its condition does not hold.
pub struct Guarded {
    /// The write.
    pub write: WriteOp,
    /// The answer when the write's condition fails.
    pub on_condition_failed: Error,
}

impl Guarded {
    /// Pairs a write with its failure answer.
    pub fn new(write: WriteOp, on_condition_failed: Error) -> Self {
        Guarded {
            write,
            on_condition_failed,
        }
    }
}

/// Performs the writes as one: a single write directly, several in one transaction. A failed
/// condition answers with the error of the first write whose condition failed.
pub async fn commit(table: &dyn Table, mut writes: Vec<Guarded>) -> Result<(), Error> {
    if writes.len() == 1 {
        let Guarded {
            write,
            on_condition_failed,
        } = writes.remove(0);
        let result = match write {
            WriteOp::Put { item, condition } => table.put(item, condition).await,
            WriteOp::Update(update) => table.update(update).await.map(|_| ()),
            WriteOp::Delete { key, condition } => table.delete(&key, condition).await.map(|_| ()),
            check @ WriteOp::Check { .. } => table.transact(vec![check]).await,
        };
        return match result {
            Err(TableError::ConditionFailed) => Err(on_condition_failed),
            Err(TableError::TransactionCanceled { .. }) => Err(on_condition_failed),
            other => other.map_err(Error::from),
        };
    }
    let (ops, errors): (Vec<WriteOp>, Vec<Error>) = writes
        .into_iter()
        .map(|g| (g.write, g.on_condition_failed))
        .unzip();
    match table.transact(ops).await {
        Err(TableError::TransactionCanceled { reasons }) => {
            let failed = reasons
                .iter()
                .position(|r| *r == CancelReason::ConditionFailed);
            match failed.and_then(|i| errors.into_iter().nth(i)) {
                Some(error) => Err(error),
                None => Err(Error::conflict(
                    Conflict::Changed,
                    "Another request changed the same records; retry.",
                )),
            }
        }
        other => other.map_err(Error::from),
    }
}

/// Every item a query matches, reading page after page to the end: for jobs that must see
/// everything (metering) and rare requests over a team's small sets (its agents when a
/// company is deleted, a member's keys when they are removed); listings page instead.
pub async fn query_all(
    table: &dyn Table,
    mut query: crate::ports::table::Query,
) -> Result<Vec<crate::ports::table::Item>, Error> {
    let mut items = Vec::new();
    loop {
        let page = table.query(query.clone()).await?;
        items.extend(page.items);
        match page.cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(items),
        }
    }
}

/// `current` changed by a `PATCH` body (a JSON merge patch): the body must be an object naming
/// only fields of `T` (a removal of an unknown field included); the result is decoded as `T`,
/// for the caller to validate.
pub fn patched<T>(current: &T, patch: serde_json::Value) -> Result<T, Error>
where
    T: serde::Serialize + serde::de::DeserializeOwned + schemars::JsonSchema,
{
    if !patch.is_object() {
        return Err(Error::invalid_body(
            None,
            "a PATCH body must be a JSON object",
        ));
    }
    let schema = schemars::SchemaGenerator::new(
        schemars::generate::SchemaSettings::draft2020_12()
            .for_deserialize()
            .with(|s| s.inline_subschemas = true),
    )
    .into_root_schema_for::<T>()
    .to_value();
    if let Some(field) = crate::domain::merge_patch::unknown_field(&patch, &schema) {
        return Err(Error::invalid_body(
            Some(field.clone()),
            format!("unknown field `{field}`"),
        ));
    }
    let mut merged = serde_json::to_value(current).map_err(Error::internal)?;
    crate::domain::merge_patch::merge_patch(&mut merged, patch);
    super::items::decode_json(merged)
}
