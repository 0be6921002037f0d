//! The embedded `Table`: the whole table in memory, evaluated with DynamoDB's semantics and,
//! when opened on a directory, kept there so the local stack keeps its data across restarts:
//! every committed write is appended to a journal (one line per write or transaction, so a
//! write is all or nothing even after a crash), and opening the table folds the journal into a
//! snapshot.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ports::table::{
    check_transaction, CancelReason, CompareOp, Condition, Cursor, Index, Item, Key, Page, Query,
    Table, TableError, Update, UpdateAction, Value, WriteOp, GSI1SK, PK, SK,
};

const SNAPSHOT_FILE: &str = "table.json";
const JOURNAL_FILE: &str = "journal.jsonl";

/// One committed change of one item.
#[derive(Serialize, Deserialize)]
enum Change {
    /// The item as it is now.
    Put(Item),
    /// The item is gone.
    Delete { pk: String, sk: String },
}

impl Change {
    fn of(key: Key, item: Option<Item>) -> Change {
        match item {
            Some(item) => Change::Put(item),
            None => Change::Delete {
                pk: key.pk,
                sk: key.sk,
            },
        }
    }

    fn apply(self, items: &mut BTreeMap<Key, Item>) {
        match self {
            Change::Put(item) => {
                if let Some(key) = Key::of(&item) {
                    items.insert(key, item);
                }
            }
            Change::Delete { pk, sk } => {
                items.remove(&Key::new(pk, sk));
            }
        }
    }
}

struct State {
    items: BTreeMap<Key, Item>,
    journal: Option<File>,
}

/// An in-process table with DynamoDB's semantics.
pub struct EmbeddedTable {
    state: Mutex<State>,
}

fn invalid_data(file: &Path, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{} is not a Vellocity data file: {e}", file.display()),
    )
}

impl EmbeddedTable {
    /// A table that lives only as long as the process.
    pub fn in_memory() -> Self {
        EmbeddedTable {
            state: Mutex::new(State {
                items: BTreeMap::new(),
                journal: None,
            }),
        }
    }

    /// Opens (or creates) the table kept under `dir`: loads the snapshot, replays the journal
    /// (ignoring a last line cut short by a crash), writes a fresh snapshot and starts a new
    /// journal.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let snapshot = dir.join(SNAPSHOT_FILE);
        let journal = dir.join(JOURNAL_FILE);
        let mut items = BTreeMap::new();
        match std::fs::read(&snapshot) {
            Ok(bytes) => {
                let stored: Vec<Item> =
                    serde_json::from_slice(&bytes).map_err(|e| invalid_data(&snapshot, e))?;
                for item in stored {
                    Change::Put(item).apply(&mut items);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match File::open(&journal) {
            Ok(file) => {
                for line in BufReader::new(file).lines() {
                    let Ok(changes) = serde_json::from_str::<Vec<Change>>(&line?) else {
                        break;
                    };
                    for change in changes {
                        change.apply(&mut items);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let all: Vec<&Item> = items.values().collect();
        let tmp = snapshot.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&all)?)?;
        std::fs::rename(tmp, &snapshot)?;
        let journal = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(journal)?;
        Ok(EmbeddedTable {
            state: Mutex::new(State {
                items,
                journal: Some(journal),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides a write under the lock: `decide` reads the items and returns its result with
    /// the changes to make, which are journalled and then applied, or nothing at all.
    fn write<T>(
        &self,
        decide: impl FnOnce(&BTreeMap<Key, Item>) -> Result<(T, Vec<(Key, Option<Item>)>), TableError>,
    ) -> Result<T, TableError> {
        let mut state = self.lock();
        let (out, changes) = decide(&state.items)?;
        let changes: Vec<Change> = changes
            .into_iter()
            .map(|(key, item)| Change::of(key, item))
            .collect();
        if let Some(journal) = state.journal.as_mut() {
            let mut line =
                serde_json::to_vec(&changes).map_err(|e| TableError::Backend(e.to_string()))?;
            line.push(b'\n');
            journal
                .write_all(&line)
                .map_err(|e| TableError::Backend(format!("saving data: {e}")))?;
        }
        for change in changes {
            change.apply(&mut state.items);
        }
        Ok(out)
    }
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
        Ok(self.lock().items.get(key).cloned())
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        let key = require_key(&item)?;
        self.write(|items| {
            check(condition.as_ref(), items.get(&key))?;
            Ok(((), vec![(key, Some(item))]))
        })
    }

    async fn update(&self, update: Update) -> Result<Item, TableError> {
        self.write(|items| {
            let current = items.get(&update.key);
            check(update.condition.as_ref(), current)?;
            let next = apply_update(&update, current)?;
            Ok((next.clone(), vec![(update.key.clone(), Some(next))]))
        })
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, TableError> {
        self.write(|items| {
            check(condition.as_ref(), items.get(key))?;
            Ok((items.get(key).cloned(), vec![(key.clone(), None)]))
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
        let state = self.lock();
        // The table's own partitions are contiguous in key order; the index is scanned.
        let candidates: Box<dyn Iterator<Item = &Item>> = match query.index {
            Index::Table => Box::new(
                state
                    .items
                    .range(Key::new(query.partition.clone(), "")..)
                    .take_while(|(key, _)| key.pk == query.partition)
                    .map(|(_, item)| item),
            ),
            Index::Gsi1 => Box::new(state.items.values()),
        };
        // Each item's position is computed once; the table's partitions are already in key
        // order, only the index needs sorting.
        let mut matching: Vec<((String, String, String), &Item)> = candidates
            .filter(|item| item.get(ipk).and_then(Value::as_str) == Some(query.partition.as_str()))
            .filter(|item| {
                item.get(isk)
                    .and_then(Value::as_str)
                    .is_some_and(|sk| query.sort_key.matches(sk))
            })
            .map(|item| (position(item, query.index), item))
            .collect();
        if query.index == Index::Gsi1 {
            matching.sort_by(|a, b| a.0.cmp(&b.0));
        }
        if query.descending {
            matching.reverse();
        }
        let start = query
            .cursor
            .as_ref()
            .map(|c| cursor_position(c, query.index));
        let limit = query.limit as usize;
        let mut page: Vec<Item> = matching
            .iter()
            .filter(|(here, _)| match &start {
                None => true,
                Some(start) if query.descending => here < start,
                Some(start) => here > start,
            })
            .take(limit + 1)
            .map(|(_, item)| (*item).clone())
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
            Ok(((), next))
        })
    }
}
