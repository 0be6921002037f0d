//! The embedded `Table`: one SQLite database (the bundled library, in WAL mode) holding one row
//! per item, evaluated with DynamoDB's semantics.
//!
//! SQLite rather than a file format of our own: a committed transaction is atomic and durable
//! (`synchronous=FULL`: a write answered 2xx survives a crash of the process or the machine),
//! several processes may open the same file (the server and the admin commands beside it see
//! each other's writes at once, `BEGIN IMMEDIATE` serialises their read-check-write
//! transactions), and memory stays bounded by its page cache whatever the table holds.
//!
//! Conditions and updates are evaluated in Rust inside the write transaction, so the rules are
//! written once here and the contract suite (`tests/table_contract.rs`) holds them against
//! DynamoDB Local.

mod legacy;

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, OptionalExtension, ToSql, TransactionBehavior};

use crate::ports::table::{
    check_transaction, CancelReason, CompareOp, Condition, Cursor, EventsFeed, Index, Item, Key,
    Page, Query, SortKey, Table, TableError, Update, UpdateAction, Value, WriteOp, GSI1PK, GSI1SK,
    PK, SK,
};

/// The database file inside a data directory.
pub const DATABASE_FILE: &str = "vellocity.sqlite3";

/// The schema this code reads and writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// One row per item: the key columns for lookups and ordering, the whole item as DynamoDB JSON.
/// The partial index is GSI1: like DynamoDB's, it holds only items with both of its keys.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk     TEXT NOT NULL,
    sk     TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    item   TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE TABLE IF NOT EXISTS events_feed (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    item TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_feed_record AFTER INSERT ON items
WHEN NEW.sk LIKE 'EVENT#%'
BEGIN
    INSERT INTO events_feed (item) VALUES (NEW.item);
END;
";

/// How long a write waits for another process's write transaction before it gives up with
/// [`TableError::Throttled`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A table in an embedded SQLite database, with DynamoDB's semantics.
pub struct EmbeddedTable {
    connection: Mutex<Connection>,
}

/// A database with `schema` created: the file at `path`, opened as [`connect`] does, or one in
/// memory that lives as long as the connection (tests, benchmarks).
pub fn open_database(path: Option<&Path>, schema: &str) -> rusqlite::Result<Connection> {
    let connection = match path {
        Some(path) => connect(path)?,
        None => Connection::open_in_memory()?,
    };
    connection.execute_batch(schema)?;
    Ok(connection)
}

/// Opens a SQLite connection the way every part of the local stack shares a data directory:
/// WAL (readers never block the writer; several processes), durable commits, and a wait for
/// another process's write lock instead of an immediate failure.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    configure(&connection)?;
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "{} cannot be shared: its journal mode stays {mode}",
            path.display()
        )));
    }
    Ok(connection)
}

fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "synchronous", "FULL")
}

fn backend(error: rusqlite::Error) -> TableError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            TableError::Throttled
        }
        _ => TableError::Backend(format!("embedded database: {error}")),
    }
}

impl EmbeddedTable {
    /// A table that lives only as long as the process (tests, benchmarks).
    pub fn in_memory() -> Self {
        let connection = open_database(None, SCHEMA).expect("SQLite opens an in-memory database");
        EmbeddedTable {
            connection: Mutex::new(connection),
        }
    }

    /// Opens (or creates) the table kept under `dir`. A directory written by an older version
    /// (a JSON snapshot and journal) is imported once; a database written by a newer version
    /// is refused.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", dir.display());
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        let path = dir.join(DATABASE_FILE);
        let mut connection = connect(&path).map_err(|e| fail(&e))?;
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| fail(&e))?;
        if version > SCHEMA_VERSION {
            return Err(format!(
                "{} was written by a newer Vellocity (schema {version}, this one reads {SCHEMA_VERSION}); \
                 upgrade vellocity-local or use another --data-dir",
                path.display()
            ));
        }
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| fail(&e))?;
        tx.execute_batch(SCHEMA).map_err(|e| fail(&e))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| fail(&e))?;
        let imported = legacy::import(dir, |item| put_row(&tx, &item).map_err(|e| e.to_string()))?;
        tx.commit().map_err(|e| fail(&e))?;
        legacy::retire(dir, imported).map_err(|e| fail(&e))?;
        Ok(EmbeddedTable {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides and makes a write in one `BEGIN IMMEDIATE` transaction: `decide` reads the
    /// current items it needs and returns its result with the changes to make, which are
    /// committed together, or nothing at all.
    fn write<T>(
        &self,
        decide: impl FnOnce(&Reader<'_>) -> Result<(T, Vec<(Key, Option<Item>)>), TableError>,
    ) -> Result<T, TableError> {
        let mut connection = self.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let (out, changes) = decide(&Reader(&tx))?;
        for (key, item) in changes {
            match item {
                Some(item) => put_row(&tx, &item),
                None => tx
                    .execute(
                        "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
                        [&key.pk, &key.sk],
                    )
                    .map(|_| ()),
            }
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(out)
    }
}

#[async_trait]
impl EventsFeed for EmbeddedTable {
    async fn pending(&self, limit: usize) -> Result<Vec<(i64, Item)>, TableError> {
        let connection = self.lock();
        let rows: Vec<(i64, String)> = connection
            .prepare_cached("SELECT seq, item FROM events_feed ORDER BY seq LIMIT ?1")
            .and_then(|mut statement| {
                statement
                    .query_map([limit as i64], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .map_err(backend)?;
        drop(connection);
        rows.into_iter()
            .map(|(seq, text)| Ok((seq, parse_item(&text)?)))
            .collect()
    }

    async fn acknowledge(&self, sequence: i64) -> Result<(), TableError> {
        self.lock()
            .execute("DELETE FROM events_feed WHERE seq = ?1", [sequence])
            .map(|_| ())
            .map_err(backend)
    }
}

/// Reads items inside a write transaction.
struct Reader<'a>(&'a Connection);

impl Reader<'_> {
    fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        get_row(self.0, key)
    }
}

fn get_row(connection: &Connection, key: &Key) -> Result<Option<Item>, TableError> {
    let text: Option<String> = connection
        .prepare_cached("SELECT item FROM items WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut s| s.query_row([&key.pk, &key.sk], |row| row.get(0)).optional())
        .map_err(backend)?;
    text.map(|t| parse_item(&t)).transpose()
}

fn parse_item(text: &str) -> Result<Item, TableError> {
    serde_json::from_str(text).map_err(|e| TableError::Backend(format!("a stored item: {e}")))
}

/// Inserts or replaces one item's row.
fn put_row(connection: &Connection, item: &Item) -> rusqlite::Result<()> {
    let text = |name: &str| item.get(name).and_then(Value::as_str);
    let (pk, sk) = (text(PK).unwrap_or_default(), text(SK).unwrap_or_default());
    let gsi1 = text(GSI1PK).zip(text(GSI1SK));
    let json = serde_json::to_string(item)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, item) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(rusqlite::params![
            pk,
            sk,
            gsi1.map(|g| g.0),
            gsi1.map(|g| g.1),
            json
        ])
        .map(|_| ())
}

fn require_key(item: &Item) -> Result<Key, TableError> {
    Key::of(item)
        .filter(|k| !k.pk.is_empty() && !k.sk.is_empty())
        .ok_or_else(|| TableError::Invalid("an item needs non-empty string PK and SK".into()))
}

/// Evaluates a condition against the current item (or its absence), as DynamoDB does.
fn holds(condition: &Condition, item: Option<&Item>) -> bool {
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

/// A string parameter bound as its UTF-8 bytes, which may be no valid UTF-8 (the upper bound
/// of a prefix): SQLite compares text byte by byte, as DynamoDB orders its string keys.
struct Bytes(Vec<u8>);

impl ToSql for Bytes {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(&self.0)))
    }
}

impl From<&str> for Bytes {
    fn from(text: &str) -> Self {
        Bytes(text.as_bytes().to_vec())
    }
}

/// Above every UTF-8 string that starts with `prefix`: after it, no valid UTF-8 sequence starts
/// with a byte over F4, nor with F4 followed by one over 8F.
fn prefix_end(prefix: &str) -> Bytes {
    let mut bytes = prefix.as_bytes().to_vec();
    bytes.extend([0xF4, 0x90]);
    Bytes(bytes)
}

/// The SQL and parameters of one page of a query: the index's partition, the sort-key range,
/// the position after the cursor, in order, one row more than the page to know if another
/// follows.
fn page_sql(query: &Query) -> (String, Vec<Bytes>) {
    let (partition, sort, order) = match query.index {
        Index::Table => ("pk", "sk", vec!["sk"]),
        Index::Gsi1 => ("gsi1pk", "gsi1sk", vec!["gsi1sk", "pk", "sk"]),
    };
    let mut sql = format!("SELECT item FROM items WHERE {partition} = ?");
    let mut params: Vec<Bytes> = vec![query.partition.as_str().into()];
    match &query.sort_key {
        SortKey::All => {}
        SortKey::BeginsWith(prefix) => {
            sql.push_str(&format!(" AND {sort} >= ? AND {sort} < ?"));
            params.extend([prefix.as_str().into(), prefix_end(prefix)]);
        }
        SortKey::Between(low, high) => {
            sql.push_str(&format!(" AND {sort} BETWEEN ? AND ?"));
            params.extend([low.as_str().into(), high.as_str().into()]);
        }
    }
    let direction = if query.descending { "DESC" } else { "ASC" };
    if let Some(cursor) = &query.cursor {
        let columns = order.join(", ");
        let holes = vec!["?"; order.len()].join(", ");
        let after = if query.descending { "<" } else { ">" };
        sql.push_str(&format!(" AND ({columns}) {after} ({holes})"));
        let keys = cursor.keys();
        let attribute = |column: &str| match column {
            "gsi1sk" => GSI1SK,
            "pk" => PK,
            _ => SK,
        };
        params.extend(order.iter().map(|column| {
            let value = keys.get(attribute(column)).map(String::as_str);
            value.unwrap_or_default().into()
        }));
    }
    let order_by: Vec<String> = order.iter().map(|c| format!("{c} {direction}")).collect();
    sql.push_str(&format!(
        " ORDER BY {} LIMIT {}",
        order_by.join(", "),
        query.limit as u64 + 1
    ));
    (sql, params)
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        get_row(&self.lock(), key)
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        let key = require_key(&item)?;
        self.write(|items| {
            check(condition.as_ref(), items.get(&key)?.as_ref())?;
            Ok(((), vec![(key, Some(item))]))
        })
    }

    async fn update(&self, update: Update) -> Result<Item, TableError> {
        self.write(|items| {
            let current = items.get(&update.key)?;
            check(update.condition.as_ref(), current.as_ref())?;
            let next = apply_update(&update, current.as_ref())?;
            Ok((next.clone(), vec![(update.key.clone(), Some(next))]))
        })
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, TableError> {
        self.write(|items| {
            let current = items.get(key)?;
            check(condition.as_ref(), current.as_ref())?;
            Ok((current, vec![(key.clone(), None)]))
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
        let (sql, params) = page_sql(&query);
        let connection = self.lock();
        let rows: Vec<String> = connection
            .prepare_cached(&sql)
            .and_then(|mut statement| {
                statement
                    .query_map(params_from_iter(params.iter()), |row| row.get(0))?
                    .collect()
            })
            .map_err(backend)?;
        drop(connection);
        let mut items = rows
            .iter()
            .map(|text| parse_item(text))
            .collect::<Result<Vec<_>, _>>()?;
        let limit = query.limit as usize;
        let cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| Cursor::after(last, query.index))
        } else {
            None
        };
        Ok(Page { items, cursor })
    }

    fn events_feed(&self) -> Option<&dyn EventsFeed> {
        Some(self)
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
                        check(condition.as_ref(), items.get(&key)?.as_ref()).map(|_| {
                            next.push((key, Some(item.clone())));
                        })
                    }
                    WriteOp::Update(update) => {
                        let current = items.get(&update.key)?;
                        match check(update.condition.as_ref(), current.as_ref()) {
                            Ok(()) => {
                                let after = apply_update(update, current.as_ref())?;
                                next.push((update.key.clone(), Some(after)));
                                Ok(())
                            }
                            Err(e) => Err(e),
                        }
                    }
                    WriteOp::Delete { key, condition } => {
                        check(condition.as_ref(), items.get(key)?.as_ref()).map(|_| {
                            next.push((key.clone(), None));
                        })
                    }
                    WriteOp::Check { key, condition } => {
                        check(Some(condition), items.get(key)?.as_ref())
                    }
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
