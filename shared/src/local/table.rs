//! The embedded `Table`: the whole table in memory, evaluated with DynamoDB's semantics and,
//! when opened on a directory, saved there after every write so the local stack keeps its data
//! across restarts.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::table::{
    check_transaction, CancelReason, CompareOp, Condition, Cursor, Index, Item, Key, Page, Query,
    Table, TableError, Update, UpdateAction, Value, WriteOp, GSI1SK, PK, SK,
};

const DATA_FILE: &str = "table.json";

/// An in-process table with DynamoDB's semantics.
pub struct EmbeddedTable {
    items: Mutex<BTreeMap<Key, Item>>,
    file: Option<PathBuf>,
}

impl EmbeddedTable {
    /// A table that lives only as long as the process.
    pub fn in_memory() -> Self {
        EmbeddedTable {
            items: Mutex::new(BTreeMap::new()),
            file: None,
        }
    }

    /// Opens (or creates) the table saved under `dir`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let file = dir.join(DATA_FILE);
        let mut items = BTreeMap::new();
        match std::fs::read(&file) {
            Ok(bytes) => {
                let stored: Vec<Item> = serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is not a Vellocity data file: {e}", file.display()),
                    )
                })?;
                for item in stored {
                    if let Some(key) = Key::of(&item) {
                        items.insert(key, item);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(EmbeddedTable {
            items: Mutex::new(items),
            file: Some(file),
        })
    }

    /// Runs `change` on the items under the lock and saves them if it succeeded.
    fn write<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<Key, Item>) -> Result<T, TableError>,
    ) -> Result<T, TableError> {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let out = change(&mut items)?;
        if let Some(file) = &self.file {
            save(file, &items).map_err(|e| TableError::Backend(format!("saving data: {e}")))?;
        }
        Ok(out)
    }
}

/// Writes the snapshot to a temporary file and renames it over the old one, so a crash never
/// leaves a half-written data file.
fn save(file: &Path, items: &BTreeMap<Key, Item>) -> std::io::Result<()> {
    let all: Vec<&Item> = items.values().collect();
    let bytes = serde_json::to_vec(&all)?;
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, file)
}

fn require_key(item: &Item) -> Result<Key, TableError> {
    Key::of(item)
        .filter(|k| !k.pk.is_empty() && !k.sk.is_empty())
        .ok_or_else(|| TableError::Invalid("an item needs non-empty string PK and SK".into()))
}

/// Evaluates a condition against the current item (or its absence), as DynamoDB does.
pub(crate) fn holds(condition: &Condition, item: Option<&Item>) -> bool {
    let attr = |name: &str| item.and_then(|i| i.get(name));
    match condition {
        Condition::Exists(name) => attr(name).is_some(),
        Condition::NotExists(name) => attr(name).is_none(),
        Condition::Compare(name, op, value) => match attr(name) {
            None => false,
            Some(current) => compare(current, *op, value),
        },
        Condition::And(all) => all.iter().all(|c| holds(c, item)),
        Condition::Or(any) => any.iter().any(|c| holds(c, item)),
    }
}

fn compare(current: &Value, op: CompareOp, value: &Value) -> bool {
    let ordering = match (current, value) {
        (Value::S(a), Value::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Value::N(a), Value::N(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op {
        CompareOp::Eq => current == value,
        CompareOp::Ne => current != value,
        CompareOp::Lt => ordering == Some(Ordering::Less),
        CompareOp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Gt => ordering == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
    }
}

fn check(condition: Option<&Condition>, item: Option<&Item>) -> Result<(), TableError> {
    match condition {
        Some(c) if !holds(c, item) => Err(TableError::ConditionFailed),
        _ => Ok(()),
    }
}

/// The item after an update, or why the update is invalid.
fn apply_update(update: &Update, current: Option<&Item>) -> Result<Item, TableError> {
    let mut item = current.cloned().unwrap_or_else(|| {
        Item::from([
            (PK.to_owned(), Value::S(update.key.pk.clone())),
            (SK.to_owned(), Value::S(update.key.sk.clone())),
        ])
    });
    for action in &update.actions {
        let name = match action {
            UpdateAction::Set(n, _) | UpdateAction::Remove(n) | UpdateAction::Add(n, _) => n,
        };
        if name == PK || name == SK {
            return Err(TableError::Invalid(format!(
                "cannot update key attribute {name}"
            )));
        }
        match action {
            UpdateAction::Set(name, value) => {
                item.insert(name.clone(), value.clone());
            }
            UpdateAction::Remove(name) => {
                item.remove(name);
            }
            UpdateAction::Add(name, amount) => {
                let now = match item.get(name) {
                    None => 0,
                    Some(Value::N(n)) => *n,
                    Some(_) => {
                        return Err(TableError::Invalid(format!("{name} is not a number")));
                    }
                };
                let sum = now
                    .checked_add(*amount)
                    .ok_or_else(|| TableError::Invalid(format!("{name} would overflow")))?;
                item.insert(name.clone(), Value::N(sum));
            }
        }
    }
    Ok(item)
}

/// The position of an item in a query's order.
fn position(item: &Item, index: Index) -> (String, String, String) {
    let text = |name: &str| {
        item.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match index {
        Index::Table => (text(SK), String::new(), String::new()),
        Index::Gsi1 => (text(GSI1SK), text(PK), text(SK)),
    }
}

fn cursor_position(cursor: &Cursor, index: Index) -> (String, String, String) {
    let text = |name: &str| cursor.keys().get(name).cloned().unwrap_or_default();
    match index {
        Index::Table => (text(SK), String::new(), String::new()),
        Index::Gsi1 => (text(GSI1SK), text(PK), text(SK)),
    }
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        let items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        Ok(items.get(key).cloned())
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        let key = require_key(&item)?;
        self.write(|items| {
            check(condition.as_ref(), items.get(&key))?;
            items.insert(key, item);
            Ok(())
        })
    }

    async fn update(&self, update: Update) -> Result<Item, TableError> {
        self.write(|items| {
            let current = items.get(&update.key);
            check(update.condition.as_ref(), current)?;
            let next = apply_update(&update, current)?;
            items.insert(update.key.clone(), next.clone());
            Ok(next)
        })
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, TableError> {
        self.write(|items| {
            check(condition.as_ref(), items.get(key))?;
            Ok(items.remove(key))
        })
    }

    async fn query(&self, query: Query) -> Result<Page, TableError> {
        if query.limit == 0 {
            return Err(TableError::Invalid(
                "a query limit must be at least 1".into(),
            ));
        }
        if let Some(cursor) = &query.cursor {
            if !cursor.fits(&query) {
                return Err(TableError::InvalidCursor);
            }
        }
        let (ipk, isk) = query.index.key_attributes();
        let items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let mut matching: Vec<&Item> = items
            .values()
            .filter(|item| item.get(ipk).and_then(Value::as_str) == Some(query.partition.as_str()))
            .filter(|item| {
                item.get(isk)
                    .and_then(Value::as_str)
                    .is_some_and(|sk| query.sort_key.matches(sk))
            })
            .collect();
        matching.sort_by_key(|item| position(item, query.index));
        if query.descending {
            matching.reverse();
        }
        let start = query
            .cursor
            .as_ref()
            .map(|c| cursor_position(c, query.index));
        let after_start = |item: &&&Item| match &start {
            None => true,
            Some(start) => {
                let here = position(item, query.index);
                if query.descending {
                    here < *start
                } else {
                    here > *start
                }
            }
        };
        let limit = query.limit as usize;
        let mut page: Vec<Item> = matching
            .iter()
            .filter(after_start)
            .take(limit + 1)
            .map(|item| (*item).clone())
            .collect();
        let cursor = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|last| Cursor::after(last, query.index))
        } else {
            None
        };
        Ok(Page {
            items: page,
            cursor,
        })
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), TableError> {
        check_transaction(&writes)?;
        for write in &writes {
            if let WriteOp::Put { item, .. } = write {
                require_key(item)?;
            }
        }
        self.write(|items| {
            let mut next: Vec<(Key, Option<Item>)> = Vec::new();
            let mut reasons = Vec::with_capacity(writes.len());
            for write in &writes {
                let outcome = match write {
                    WriteOp::Put { item, condition } => {
                        let key = require_key(item)?;
                        check(condition.as_ref(), items.get(&key)).map(|_| {
                            next.push((key, Some(item.clone())));
                        })
                    }
                    WriteOp::Update(update) => {
                        let current = items.get(&update.key);
                        match check(update.condition.as_ref(), current) {
                            Ok(()) => {
                                let after = apply_update(update, current)?;
                                next.push((update.key.clone(), Some(after)));
                                Ok(())
                            }
                            Err(e) => Err(e),
                        }
                    }
                    WriteOp::Delete { key, condition } => check(condition.as_ref(), items.get(key))
                        .map(|_| {
                            next.push((key.clone(), None));
                        }),
                    WriteOp::Check { key, condition } => check(Some(condition), items.get(key)),
                };
                reasons.push(match outcome {
                    Ok(()) => CancelReason::None,
                    Err(_) => CancelReason::ConditionFailed,
                });
            }
            if reasons.iter().any(|r| *r != CancelReason::None) {
                return Err(TableError::TransactionCanceled { reasons });
            }
            for (key, item) in next {
                match item {
                    Some(item) => items.insert(key, item),
                    None => items.remove(&key),
                };
            }
            Ok(())
        })
    }
}
