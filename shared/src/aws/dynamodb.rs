//! The DynamoDB `Table`: compiles the port's typed conditions, updates and queries into
//! DynamoDB expressions with placeholder names and values.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnConsumedCapacity,
    ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
    Update as DdbUpdate,
};
use aws_sdk_dynamodb::Client;

use super::write_units;

use crate::ports::table::{
    check_transaction, CancelReason, CompareOp, Condition, Cursor, Index, Item, Key, Page, Query,
    SortKey, Table, TableError, Update, UpdateAction, Value, WriteOp, GSI1_NAME, INDEXES, PK, SK,
    TTL,
};

/// The table behind a DynamoDB client.
#[derive(Clone)]
pub struct DynamoDbTable {
    client: Client,
    table_name: String,
    /// Where to add up the capacity each call consumed, when asked (the cost model of
    /// `benches/cold_start.rs`); unset, calls do not ask DynamoDB for it.
    capacity: Option<Arc<ConsumedCapacity>>,
}

/// Capacity units consumed by a table's calls, in thousandths: as DynamoDB reports them
/// (`ReturnConsumedCapacity: TOTAL`: the table's and its indexes'), except transactions, which
/// DynamoDB Local misreports and [`super::write_units`] bills from their items.
#[derive(Debug, Default)]
pub struct ConsumedCapacity {
    read: AtomicU64,
    write: AtomicU64,
    /// Write units by what was written (see [`ConsumedCapacity::take_writes`]).
    writes: std::sync::Mutex<BTreeMap<String, (usize, f64)>>,
}

impl ConsumedCapacity {
    /// Read capacity units consumed so far.
    pub fn read_units(&self) -> f64 {
        self.read.load(Ordering::Relaxed) as f64 / 1_000.0
    }

    /// Write capacity units consumed so far.
    pub fn write_units(&self) -> f64 {
        self.write.load(Ordering::Relaxed) as f64 / 1_000.0
    }

    /// The write units since the last call, by what each call wrote (its items' kinds, as
    /// their sort keys begin: `EXEC + EVENT + OUTPUT`), with the number of such calls: where
    /// the writes go.
    pub fn take_writes(&self) -> BTreeMap<String, (usize, f64)> {
        std::mem::take(&mut *self.writes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn add(counter: &AtomicU64, consumed: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>) {
        if let Some(units) = consumed.and_then(|c| c.capacity_units()) {
            counter.fetch_add((units * 1_000.0).round() as u64, Ordering::Relaxed);
        }
    }

    fn add_write(&self, keys: impl IntoIterator<Item = Key>, units: f64) {
        self.write
            .fetch_add((units * 1_000.0).round() as u64, Ordering::Relaxed);
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for key in keys {
            let kind = key.sk.split('#').next().unwrap_or_default().to_owned();
            *kinds.entry(kind).or_default() += 1;
        }
        let label = kinds
            .into_iter()
            .map(|(kind, n)| match n {
                1 => kind,
                n => format!("{kind} x{n}"),
            })
            .collect::<Vec<_>>()
            .join(" + ");
        let mut writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let entry = writes.entry(label).or_default();
        entry.0 += 1;
        entry.1 += units;
    }
}

impl DynamoDbTable {
    /// Wraps a client (built once per cold start) and the table's name.
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        DynamoDbTable {
            client,
            table_name: table_name.into(),
            capacity: None,
        }
    }

    /// The same table, adding up the capacity its calls consume into `capacity`.
    pub fn metered(self, capacity: Arc<ConsumedCapacity>) -> Self {
        DynamoDbTable {
            capacity: Some(capacity),
            ..self
        }
    }

    /// `TOTAL` when the calls are metered.
    fn consumed(&self) -> Option<ReturnConsumedCapacity> {
        self.capacity
            .as_ref()
            .map(|_| ReturnConsumedCapacity::Total)
    }

    fn read(&self, consumed: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>) {
        if let Some(capacity) = &self.capacity {
            ConsumedCapacity::add(&capacity.read, consumed);
        }
    }

    fn wrote(
        &self,
        key: Option<Key>,
        consumed: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>,
    ) {
        if let Some(capacity) = &self.capacity {
            let units = consumed.and_then(|c| c.capacity_units()).unwrap_or(0.0);
            capacity.add_write(key, units);
        }
    }

    /// Reads an item; `metered`: its capacity is counted (the meter's own reads are not).
    async fn get_item(
        &self,
        key: &Key,
        consistent: bool,
        metered: bool,
    ) -> Result<Option<Item>, TableError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .set_key(Some(key_attributes(key)))
            .consistent_read(consistent)
            .set_return_consumed_capacity(self.consumed().filter(|_| metered))
            .send()
            .await
            .map_err(|e| self.error(e))?;
        self.read(output.consumed_capacity());
        output.item().map(from_attributes).transpose()
    }

    /// The items a transaction writes, as they are now, when its writes are metered (see
    /// [`super::write_units`]); read apart from the metered calls.
    async fn metered_items(
        &self,
        writes: &[WriteOp],
    ) -> Result<Option<Vec<Option<Item>>>, TableError> {
        if self.capacity.is_none() {
            return Ok(None);
        }
        let mut items = Vec::with_capacity(writes.len());
        for key in writes.iter().filter_map(WriteOp::key) {
            items.push(self.get_item(&key, true, false).await?);
        }
        Ok(Some(items))
    }

    /// Adds a transaction's write units as DynamoDB bills them, from its items before and after.
    fn wrote_transaction(
        &self,
        writes: &[WriteOp],
        before: &[Option<Item>],
        after: &[Option<Item>],
    ) {
        if let Some(capacity) = &self.capacity {
            let units: f64 = before
                .iter()
                .zip(after)
                .map(|(old, new)| {
                    write_units::transactional_write_units(old.as_ref(), new.as_ref())
                })
                .sum();
            capacity.add_write(writes.iter().filter_map(WriteOp::key), units);
        }
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        error: SdkError<E, R>,
    ) -> TableError {
        map_error(error, &self.table_name)
    }

    /// Creates the table with the shape `template.yaml` deploys (keys, [`INDEXES`], [`TTL`]),
    /// on demand; for DynamoDB Local and new environments. Returns false if it existed already.
    pub async fn create(&self) -> Result<bool, TableError> {
        let string = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_error)
        };
        let mut create = self
            .client
            .create_table()
            .table_name(&self.table_name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string(PK)?)
            .attribute_definitions(string(SK)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            // The events outbox leaves the table through its stream, as in template.yaml.
            .stream_specification(
                aws_sdk_dynamodb::types::StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewImage)
                    .build()
                    .map_err(build_error)?,
            );
        for (name, pk, sk) in INDEXES {
            let all = Projection::builder()
                .projection_type(ProjectionType::All)
                .build();
            create = create
                .attribute_definitions(string(pk)?)
                .attribute_definitions(string(sk)?)
                .global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(name)
                        .key_schema(key(pk, KeyType::Hash)?)
                        .key_schema(key(sk, KeyType::Range)?)
                        .projection(all)
                        .build()
                        .map_err(build_error)?,
                );
        }
        match create.send().await {
            Ok(_) => {}
            Err(error) if error.code() == Some("ResourceInUseException") => return Ok(false),
            Err(error) => return Err(self.error(error)),
        }
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL)
            .enabled(true)
            .build()
            .map_err(build_error)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table_name)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(true)
    }
}

/// Converts a port value into a DynamoDB attribute value.
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::S(s) => AttributeValue::S(s.clone()),
        Value::N(n) => AttributeValue::N(n.to_string()),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Null => AttributeValue::Null(true),
        Value::L(list) => AttributeValue::L(list.iter().map(to_attribute).collect()),
        Value::M(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// Converts a DynamoDB attribute value into a port value; types this product never writes
/// (binary, sets, fractional numbers) are reported rather than guessed.
pub fn from_attribute(value: &AttributeValue) -> Result<Value, TableError> {
    Ok(match value {
        AttributeValue::S(s) => Value::S(s.clone()),
        AttributeValue::N(n) => Value::N(
            n.parse()
                .map_err(|_| TableError::Backend(format!("number {n} is not an integer")))?,
        ),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(list) => {
            Value::L(list.iter().map(from_attribute).collect::<Result<_, _>>()?)
        }
        AttributeValue::M(map) => Value::M(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), from_attribute(v)?)))
                .collect::<Result<_, TableError>>()?,
        ),
        other => {
            return Err(TableError::Backend(format!(
                "unsupported attribute type {other:?}"
            )))
        }
    })
}

fn to_attributes(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter()
        .map(|(k, v)| (k.clone(), to_attribute(v)))
        .collect()
}

fn from_attributes(item: &HashMap<String, AttributeValue>) -> Result<Item, TableError> {
    item.iter()
        .map(|(k, v)| Ok((k.clone(), from_attribute(v)?)))
        .collect()
}

fn key_attributes(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// How often a transaction cancelled only by conflicts with other transactions is tried.
const CONFLICT_ATTEMPTS: u32 = 5;

/// Whether a cancellation was caused only by concurrent transactions (no condition failed).
fn only_conflicts(reasons: &[CancelReason]) -> bool {
    reasons
        .iter()
        .any(|r| matches!(r, CancelReason::Other(code) if code == "TransactionConflict"))
        && reasons.iter().all(|r| {
            matches!(r, CancelReason::None)
                || matches!(r, CancelReason::Other(code) if code == "TransactionConflict")
        })
}

/// Collects `#nN` / `:vN` placeholders while an expression is compiled.
#[derive(Default)]
struct Expression {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn name(&mut self, name: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, n)| n.as_str() == name) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn condition(&mut self, condition: &Condition) -> String {
        match condition {
            Condition::Exists(attr) => format!("attribute_exists({})", self.name(attr)),
            Condition::NotExists(attr) => format!("attribute_not_exists({})", self.name(attr)),
            Condition::Compare(attr, op, value) => {
                let name = self.name(attr);
                let value = self.value(to_attribute(value));
                let op = match op {
                    CompareOp::Eq => "=",
                    CompareOp::Ne => "<>",
                    CompareOp::Lt => "<",
                    CompareOp::Le => "<=",
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                };
                // `<>` is true on a missing attribute in DynamoDB; the port says a comparison
                // needs the attribute, so require it explicitly.
                format!("(attribute_exists({name}) AND {name} {op} {value})")
            }
            Condition::And(all) => self.join(
                all,
                " AND ",
                "attribute_exists(PK) OR attribute_not_exists(PK)",
            ),
            Condition::Or(any) => self.join(
                any,
                " OR ",
                "attribute_exists(PK) AND attribute_not_exists(PK)",
            ),
        }
    }

    /// Joins sub-conditions; an empty list means `empty` (true for AND, false for OR).
    fn join(&mut self, parts: &[Condition], separator: &str, empty: &str) -> String {
        if parts.is_empty() {
            let pk = self.name(PK);
            return format!("({})", empty.replace("PK", &pk));
        }
        let compiled: Vec<String> = parts.iter().map(|c| self.condition(c)).collect();
        match compiled.as_slice() {
            // DynamoDB refuses parentheses around a parenthesised condition as redundant.
            [one] => one.clone(),
            _ => format!("({})", compiled.join(separator)),
        }
    }

    fn update(&mut self, actions: &[UpdateAction]) -> String {
        let (mut set, mut remove) = (Vec::new(), Vec::new());
        for action in actions {
            match action {
                UpdateAction::Set(attr, value) => {
                    let name = self.name(attr);
                    let value = self.value(to_attribute(value));
                    set.push(format!("{name} = {value}"));
                }
                UpdateAction::Remove(attr) => remove.push(self.name(attr)),
                UpdateAction::Add(attr, amount) => {
                    let name = self.name(attr);
                    let zero = self.value(AttributeValue::N("0".into()));
                    let amount = self.value(AttributeValue::N(amount.to_string()));
                    set.push(format!("{name} = if_not_exists({name}, {zero}) + {amount}"));
                }
            }
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression.push_str(&format!("SET {}", set.join(", ")));
        }
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        expression.trim().to_owned()
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Maps an SDK error to the port's errors by its stable error code; a missing table is named
/// with the command that creates it.
fn map_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: SdkError<E, R>,
    table: &str,
) -> TableError {
    let code = error.code().unwrap_or_default().to_owned();
    match code.as_str() {
        "ResourceNotFoundException" => TableError::Backend(format!(
            "the DynamoDB table {table} does not exist; create it with \
             `vellocity-local create-table --table {table}`"
        )),
        "ConditionalCheckFailedException" => TableError::ConditionFailed,
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded" => TableError::Throttled,
        "ValidationException" => {
            TableError::Invalid(error.message().unwrap_or_default().to_owned())
        }
        _ => TableError::Backend(format!(
            "{code}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&error)
        )),
    }
}

fn build_error(e: impl std::fmt::Display) -> TableError {
    TableError::Invalid(e.to_string())
}

fn compile_update(update: &Update) -> Result<(String, Expression, Option<String>), TableError> {
    if update.actions.is_empty() {
        return Err(TableError::Invalid(
            "an update needs at least one action".into(),
        ));
    }
    let mut expression = Expression::default();
    let text = expression.update(&update.actions);
    let condition = update.condition.as_ref().map(|c| expression.condition(c));
    Ok((text, expression, condition))
}

#[async_trait]
impl Table for DynamoDbTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        self.get_item(key, true, true).await
    }

    async fn get_eventually(&self, key: &Key) -> Result<Option<Item>, TableError> {
        self.get_item(key, false, true).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        let mut expression = Expression::default();
        let condition = condition.map(|c| expression.condition(&c));
        let output = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(to_attributes(&item)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expression.names())
            .set_expression_attribute_values(expression.values())
            .set_return_consumed_capacity(self.consumed())
            .send()
            .await
            .map_err(|e| self.error(e))?;
        self.wrote(Key::of(&item), output.consumed_capacity());
        Ok(())
    }

    async fn update(&self, update: Update) -> Result<Item, TableError> {
        let (text, expression, condition) = compile_update(&update)?;
        let output = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .set_key(Some(key_attributes(&update.key)))
            .update_expression(text)
            .set_condition_expression(condition)
            .set_expression_attribute_names(expression.names())
            .set_expression_attribute_values(expression.values())
            .return_values(ReturnValue::AllNew)
            .set_return_consumed_capacity(self.consumed())
            .send()
            .await
            .map_err(|e| self.error(e))?;
        self.wrote(Some(update.key.clone()), output.consumed_capacity());
        from_attributes(output.attributes().unwrap_or(&HashMap::new()))
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, TableError> {
        let mut expression = Expression::default();
        let condition = condition.map(|c| expression.condition(&c));
        let output = self
            .client
            .delete_item()
            .table_name(&self.table_name)
            .set_key(Some(key_attributes(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expression.names())
            .set_expression_attribute_values(expression.values())
            .return_values(ReturnValue::AllOld)
            .set_return_consumed_capacity(self.consumed())
            .send()
            .await
            .map_err(|e| self.error(e))?;
        self.wrote(Some(key.clone()), output.consumed_capacity());
        output.attributes().map(from_attributes).transpose()
    }

    async fn query(&self, query: Query) -> Result<Page, TableError> {
        if query.limit == 0 {
            return Err(TableError::Invalid(
                "a query limit must be at least 1".into(),
            ));
        }
        let start_key = match &query.cursor {
            Some(cursor) if !cursor.fits(&query) => return Err(TableError::InvalidCursor),
            Some(cursor) => Some(
                cursor
                    .keys()
                    .iter()
                    .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
                    .collect::<HashMap<_, _>>(),
            ),
            None => None,
        };
        let (pk_attr, sk_attr) = query.index.key_attributes();
        let mut expression = Expression::default();
        let pk = expression.name(pk_attr);
        let partition = expression.value(AttributeValue::S(query.partition.clone()));
        let mut key_condition = format!("{pk} = {partition}");
        match &query.sort_key {
            SortKey::All => {}
            SortKey::BeginsWith(prefix) => {
                let sk = expression.name(sk_attr);
                let prefix = expression.value(AttributeValue::S(prefix.clone()));
                key_condition.push_str(&format!(" AND begins_with({sk}, {prefix})"));
            }
            SortKey::Between(low, high) => {
                let sk = expression.name(sk_attr);
                let low = expression.value(AttributeValue::S(low.clone()));
                let high = expression.value(AttributeValue::S(high.clone()));
                key_condition.push_str(&format!(" AND {sk} BETWEEN {low} AND {high}"));
            }
        }
        // One item more than asked tells whether another page exists, so the last page never
        // hands out a cursor to an empty page.
        let limit = query.limit as usize;
        let mut items = Vec::with_capacity(limit + 1);
        let mut next_start = start_key;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table_name)
                .set_index_name((query.index == Index::Gsi1).then(|| GSI1_NAME.to_owned()))
                .key_condition_expression(&key_condition)
                .set_expression_attribute_names(expression.names())
                .set_expression_attribute_values(expression.values())
                .consistent_read(query.index == Index::Table)
                .scan_index_forward(!query.descending)
                .limit((limit + 1 - items.len()) as i32)
                .set_exclusive_start_key(next_start)
                .set_return_consumed_capacity(self.consumed())
                .send()
                .await
                .map_err(|e| self.error(e))?;
            self.read(output.consumed_capacity());
            for item in output.items() {
                items.push(from_attributes(item)?);
            }
            next_start = output.last_evaluated_key().cloned();
            if items.len() > limit || next_start.is_none() {
                break;
            }
        }
        let cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| Cursor::after(last, query.index))
        } else {
            None
        };
        Ok(Page { items, cursor })
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), TableError> {
        check_transaction(&writes)?;
        let mut compiled = Vec::with_capacity(writes.len());
        for write in &writes {
            let mut expression = Expression::default();
            let item = match write {
                WriteOp::Put { item, condition } => {
                    let condition = condition.as_ref().map(|c| expression.condition(c));
                    let put = Put::builder()
                        .table_name(&self.table_name)
                        .set_item(Some(to_attributes(item)))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expression.names())
                        .set_expression_attribute_values(expression.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().put(put).build()
                }
                WriteOp::Update(update) => {
                    let (text, expression, condition) = compile_update(update)?;
                    let update = DdbUpdate::builder()
                        .table_name(&self.table_name)
                        .set_key(Some(key_attributes(&update.key)))
                        .update_expression(text)
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expression.names())
                        .set_expression_attribute_values(expression.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().update(update).build()
                }
                WriteOp::Delete { key, condition } => {
                    let condition = condition.as_ref().map(|c| expression.condition(c));
                    let delete = Delete::builder()
                        .table_name(&self.table_name)
                        .set_key(Some(key_attributes(key)))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expression.names())
                        .set_expression_attribute_values(expression.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().delete(delete).build()
                }
                WriteOp::Check { key, condition } => {
                    let condition = expression.condition(condition);
                    let check = ConditionCheck::builder()
                        .table_name(&self.table_name)
                        .set_key(Some(key_attributes(key)))
                        .condition_expression(condition)
                        .set_expression_attribute_names(expression.names())
                        .set_expression_attribute_values(expression.values())
                        .build()
                        .map_err(build_error)?;
                    TransactWriteItem::builder().condition_check(check).build()
                }
            };
            compiled.push(item);
        }
        // Concurrent transactions on the same item cancel each other with TransactionConflict
        // (and no condition failed); those are retried briefly before the caller sees them.
        // DynamoDB Local bills a transaction as one item: metered, its items are billed here.
        let before = self.metered_items(&writes).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(compiled.clone()))
                .send()
                .await;
            let outcome = match result {
                Ok(_) => {
                    if let (Some(before), Some(after)) =
                        (&before, self.metered_items(&writes).await?)
                    {
                        self.wrote_transaction(&writes, before, &after);
                    }
                    Ok(())
                }
                Err(SdkError::ServiceError(context)) => match context.err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                        let reasons = cancelled
                            .cancellation_reasons()
                            .iter()
                            .map(|reason| match reason.code() {
                                None | Some("None") => CancelReason::None,
                                Some("ConditionalCheckFailed") => CancelReason::ConditionFailed,
                                Some(other) => CancelReason::Other(other.to_owned()),
                            })
                            .collect();
                        Err(TableError::TransactionCanceled { reasons })
                    }
                    _ => Err(self.error(SdkError::ServiceError(context))),
                },
                Err(other) => Err(self.error(other)),
            };
            match outcome {
                Err(TableError::TransactionCanceled { reasons })
                    if attempt < CONFLICT_ATTEMPTS && only_conflicts(&reasons) =>
                {
                    tokio::time::sleep(full_jitter(10 * 2u64.pow(attempt))).await;
                }
                other => return other,
            }
        }
    }
}

/// A random delay below `cap_ms` ("full jitter"): retries of writers that collided spread out
/// instead of colliding again in lockstep. Random per call, not per process: every Lambda
/// sandbox has the same process id.
fn full_jitter(cap_ms: u64) -> std::time::Duration {
    let random = getrandom::u64().unwrap_or(cap_ms / 2);
    std::time::Duration::from_millis(random % cap_ms.max(1))
}
