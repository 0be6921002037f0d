//! A table that counts what it does, as DynamoDB bills it: the items it writes (a
//! transaction counts each of its writes) and the items its queries return. The benches and
//! the system tests share it.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use vellocity::local::table::EmbeddedTable;
use vellocity::ports::table::{
    Condition, Item, Key, Page, Query, Table, TableError, Update, WriteOp,
};

/// An in-memory embedded table, counted.
pub struct CountingTable {
    inner: EmbeddedTable,
    /// Items written.
    pub writes: AtomicUsize,
    /// Items returned by queries.
    pub queried: AtomicUsize,
}

impl CountingTable {
    /// A fresh table, nothing counted yet.
    pub fn in_memory() -> Self {
        CountingTable {
            inner: EmbeddedTable::in_memory(),
            writes: AtomicUsize::new(0),
            queried: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.put(item, condition).await
    }
    async fn update(&self, update: Update) -> Result<Item, TableError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.update(update).await
    }
    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, TableError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, TableError> {
        let page = self.inner.query(query).await?;
        self.queried.fetch_add(page.items.len(), Ordering::Relaxed);
        Ok(page)
    }
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), TableError> {
        self.writes.fetch_add(writes.len(), Ordering::Relaxed);
        self.inner.transact(writes).await
    }
}
