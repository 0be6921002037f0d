//! The `Table` port: typed access to the one DynamoDB table.
//!
//! Conditions, updates and queries are plain Rust values. The DynamoDB adapter compiles them
//! to expressions; the embedded adapter evaluates them directly. Both pass the same contract
//! suite (`tests/table_contract.rs`), so code above this port cannot tell them apart.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Partition key attribute of the table.
pub const PK: &str = "PK";
/// Sort key attribute of the table.
pub const SK: &str = "SK";
/// Partition key attribute of the first global secondary index.
pub const GSI1PK: &str = "GSI1PK";
/// Sort key attribute of the first global secondary index.
pub const GSI1SK: &str = "GSI1SK";
/// Name of the first global secondary index.
pub const GSI1_NAME: &str = "GSI1";
/// The attribute DynamoDB's time to live reads (epoch seconds).
pub const TTL: &str = "ttl";
/// The table's global secondary indexes: name, partition key, sort key; each projects every
/// attribute. With [`PK`], [`SK`] and [`TTL`] this is the table's whole shape: `template.yaml`
/// declares it (a test holds the two together) and `vellocity-local create-table` creates it.
pub const INDEXES: [(&str, &str, &str); 1] = [(GSI1_NAME, GSI1PK, GSI1SK)];
/// DynamoDB's limit on the writes of one transaction.
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// An attribute value. Numbers are integers only: credits, counters and timestamps in this
/// product are exact, and an `i64` round-trips through DynamoDB's decimal numbers unchanged.
/// Serialises like DynamoDB JSON (`{"S":"x"}`), which is also the embedded store's file format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// A string.
    S(String),
    /// An integer number.
    N(i64),
    /// A boolean.
    #[serde(rename = "BOOL")]
    Bool(bool),
    /// An explicit null.
    #[serde(rename = "NULL")]
    Null,
    /// A list of values.
    L(Vec<Value>),
    /// A map of values.
    M(BTreeMap<String, Value>),
}

impl Value {
    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::S(s) => Some(s),
            _ => None,
        }
    }

    /// The number inside, if this is a number.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::N(n) => Some(*n),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::S(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::S(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::N(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// One stored item: attribute name → value, including the key attributes.
pub type Item = BTreeMap<String, Value>;

/// The primary key of an item.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Partition key (`PK`).
    pub pk: String,
    /// Sort key (`SK`).
    pub sk: String,
}

impl Key {
    /// A key from its two parts.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key of a stored item, if it has one.
    pub fn of(item: &Item) -> Option<Key> {
        Some(Key::new(item.get(PK)?.as_str()?, item.get(SK)?.as_str()?))
    }
}

/// Comparison operators usable in a [`Condition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A condition on the current version of an item; the write happens only if it holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The attribute is present (on the key attribute: the item exists).
    Exists(String),
    /// The attribute is absent (on the key attribute: the item does not exist).
    NotExists(String),
    /// The attribute is present and compares to the value as given. Values of another type
    /// never compare true, except for `Ne`.
    Compare(String, CompareOp, Value),
    /// All of the conditions hold.
    And(Vec<Condition>),
    /// At least one of the conditions holds.
    Or(Vec<Condition>),
}

impl Condition {
    /// The item exists.
    pub fn item_exists() -> Self {
        Condition::Exists(PK.to_owned())
    }

    /// The item does not exist.
    pub fn item_absent() -> Self {
        Condition::NotExists(PK.to_owned())
    }

    /// `attr = value`.
    pub fn eq(attr: &str, value: impl Into<Value>) -> Self {
        Condition::Compare(attr.to_owned(), CompareOp::Eq, value.into())
    }

    /// `attr op value`.
    pub fn compare(attr: &str, op: CompareOp, value: impl Into<Value>) -> Self {
        Condition::Compare(attr.to_owned(), op, value.into())
    }
}

/// One action of an update.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateAction {
    /// Set a top-level attribute.
    Set(String, Value),
    /// Remove a top-level attribute.
    Remove(String),
    /// Add to a number attribute (subtract with a negative amount); a missing one counts as 0.
    Add(String, i64),
}

/// An update of one item. Like DynamoDB, an update of a missing item creates it, so guard
/// with [`Condition::item_exists`] where that is not wanted.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// The item to update.
    pub key: Key,
    /// What to change, in order; each attribute at most once.
    pub actions: Vec<UpdateAction>,
    /// Only update if this holds.
    pub condition: Option<Condition>,
}

/// Which key a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    /// The table's own `PK`/`SK`.
    Table,
    /// `GSI1PK`/`GSI1SK`.
    Gsi1,
}

impl Index {
    /// The partition and sort key attribute names of this index.
    pub fn key_attributes(self) -> (&'static str, &'static str) {
        match self {
            Index::Table => (PK, SK),
            Index::Gsi1 => (GSI1PK, GSI1SK),
        }
    }
}

/// Which sort keys of a partition a query returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// Every sort key.
    All,
    /// Sort keys starting with this prefix.
    BeginsWith(String),
    /// Sort keys from the first to the second, both included.
    Between(String, String),
}

impl SortKey {
    /// Whether a sort key value falls in this range.
    pub fn matches(&self, sk: &str) -> bool {
        match self {
            SortKey::All => true,
            SortKey::BeginsWith(prefix) => sk.starts_with(prefix.as_str()),
            SortKey::Between(low, high) => low.as_str() <= sk && sk <= high.as_str(),
        }
    }
}

/// A query of one partition on the table or an index.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The table or the index to read.
    pub index: Index,
    /// The partition key value.
    pub partition: String,
    /// Which sort keys.
    pub sort_key: SortKey,
    /// Newest (highest sort key) first.
    pub descending: bool,
    /// At most this many items (1..).
    pub limit: u32,
    /// Continue after the page that returned this cursor.
    pub cursor: Option<Cursor>,
}

impl Query {
    /// All items of a partition whose sort key starts with `prefix`, ascending, 100 per page.
    pub fn prefix(index: Index, partition: impl Into<String>, prefix: impl Into<String>) -> Self {
        Query {
            index,
            partition: partition.into(),
            sort_key: SortKey::BeginsWith(prefix.into()),
            descending: false,
            limit: 100,
            cursor: None,
        }
    }
}

/// One page of query results.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The items, in query order.
    pub items: Vec<Item>,
    /// Where the next page starts; `None` when this is the last page.
    pub cursor: Option<Cursor>,
}

/// Where a query stops and the next page starts: the key attributes of the last item
/// returned. Opaque to clients (base64url of JSON), and checked on the way back in so that a
/// forged cursor cannot read another partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(BTreeMap<String, String>);

impl Cursor {
    /// The cursor after `item` on `index`.
    pub fn after(item: &Item, index: Index) -> Cursor {
        let (ipk, isk) = index.key_attributes();
        let mut keys = BTreeMap::new();
        for attr in [PK, SK, ipk, isk] {
            if let Some(Value::S(v)) = item.get(attr) {
                keys.insert(attr.to_owned(), v.clone());
            }
        }
        Cursor(keys)
    }

    /// The key attributes the cursor holds.
    pub fn keys(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&self.0).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads a client's cursor; `None` if it is not one this service produced.
    pub fn decode(text: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let keys: BTreeMap<String, String> = serde_json::from_slice(&bytes).ok()?;
        Some(Cursor(keys))
    }

    /// Whether this cursor can continue `query`: same partition, a sort key inside the
    /// query's range, and every key attribute the index needs.
    pub fn fits(&self, query: &Query) -> bool {
        let (ipk, isk) = query.index.key_attributes();
        let has_all = [PK, SK, ipk, isk].iter().all(|a| self.0.contains_key(*a));
        let allowed = self
            .0
            .keys()
            .all(|k| [PK, SK, ipk, isk].contains(&k.as_str()));
        has_all
            && allowed
            && self.0.get(ipk) == Some(&query.partition)
            && self.0.get(isk).is_some_and(|sk| query.sort_key.matches(sk))
    }
}

/// One write of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    /// Put (create or replace) an item.
    Put {
        /// The whole item, keys included.
        item: Item,
        /// Only if this holds.
        condition: Option<Condition>,
    },
    /// Update an item.
    Update(Update),
    /// Delete an item.
    Delete {
        /// The item to delete.
        key: Key,
        /// Only if this holds.
        condition: Option<Condition>,
    },
    /// Write nothing; only require the condition to hold.
    Check {
        /// The item to check.
        key: Key,
        /// What must hold.
        condition: Condition,
    },
}

impl WriteOp {
    /// The key of the item this write touches.
    pub fn key(&self) -> Option<Key> {
        match self {
            WriteOp::Put { item, .. } => Key::of(item),
            WriteOp::Update(update) => Some(update.key.clone()),
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => Some(key.clone()),
        }
    }
}

/// Why one write of a cancelled transaction did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// This write was fine; another one failed.
    None,
    /// Its condition did not hold.
    ConditionFailed,
    /// Anything else the store reported (conflicting transaction, validation, …).
    Other(String),
}

/// What can go wrong at the table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The condition of a single write did not hold; nothing was written.
    #[error("the condition of the write did not hold")]
    ConditionFailed,
    /// A transaction was cancelled as a whole; one reason per write, in order.
    #[error("transaction cancelled: {reasons:?}")]
    TransactionCanceled {
        /// One entry per write of the transaction.
        reasons: Vec<CancelReason>,
    },
    /// A cursor that does not belong to this query.
    #[error("the pagination cursor does not belong to this listing")]
    InvalidCursor,
    /// The request is malformed (too many writes, two writes on one item, an empty key, …).
    #[error("invalid table request: {0}")]
    Invalid(String),
    /// The store is throttling; retry with backoff.
    #[error("the table is throttling requests")]
    Throttled,
    /// Anything else from the store.
    #[error("table backend error: {0}")]
    Backend(String),
}

/// Typed access to the one table. Implemented by the DynamoDB and the embedded adapters.
#[async_trait]
pub trait Table: Send + Sync {
    /// Reads one item (strongly consistent).
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError>;

    /// Reads one item eventually consistently: on DynamoDB half the cost of [`Table::get`], and
    /// perhaps a moment behind the latest write. For what was written well before it is read
    /// (a running execution's agent and brand), never to decide a write.
    async fn get_eventually(&self, key: &Key) -> Result<Option<Item>, TableError> {
        self.get(key).await
    }

    /// Creates or replaces an item, if the condition holds.
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError>;

    /// Updates (or creates) an item, if the condition holds; returns the item as written.
    async fn update(&self, update: Update) -> Result<Item, TableError>;

    /// Deletes an item, if the condition holds; returns the item as it was.
    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, TableError>;

    /// Reads one page of a partition.
    async fn query(&self, query: Query) -> Result<Page, TableError>;

    /// Writes up to [`MAX_TRANSACTION_WRITES`] items as a whole, or nothing.
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), TableError>;

    /// The feed of the events outbox, where this table keeps one itself (the embedded table);
    /// `None` where the platform delivers it (DynamoDB Streams invoke the consumer in AWS).
    fn events_feed(&self) -> Option<&dyn EventsFeed> {
        None
    }
}

/// The events outbox as a feed: every event item (`SK` starting `EVENT#`), recorded in the
/// transaction that writes it and kept until acknowledged, in the order written — what
/// DynamoDB Streams are to the table in AWS.
#[async_trait]
pub trait EventsFeed: Send + Sync {
    /// Up to `limit` of the oldest records not yet acknowledged, with their sequence numbers.
    async fn pending(&self, limit: usize) -> Result<Vec<(i64, Item)>, TableError>;

    /// Forgets the record `sequence` (it has been handled).
    async fn acknowledge(&self, sequence: i64) -> Result<(), TableError>;
}

/// Checks what both adapters refuse before touching the store: the size of a transaction and
/// two writes on the same item.
pub fn check_transaction(writes: &[WriteOp]) -> Result<(), TableError> {
    if writes.is_empty() || writes.len() > MAX_TRANSACTION_WRITES {
        return Err(TableError::Invalid(format!(
            "a transaction holds 1 to {MAX_TRANSACTION_WRITES} writes, not {}",
            writes.len()
        )));
    }
    let mut keys = std::collections::BTreeSet::new();
    for write in writes {
        let key = write
            .key()
            .ok_or_else(|| TableError::Invalid("a write without a key".into()))?;
        if !keys.insert(key) {
            return Err(TableError::Invalid(
                "two writes of one transaction touch the same item".into(),
            ));
        }
    }
    Ok(())
}
