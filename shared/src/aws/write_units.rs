//! What a transaction's writes cost, by DynamoDB's published rules, for the cost model.
//!
//! DynamoDB Local reports a `TransactWriteItems` call as if it wrote one item (its largest:
//! ten 100-byte puts "consume" 2 units), while DynamoDB bills "two underlying writes of every
//! item in the transaction: one to prepare the transaction and one to commit it" (Developer
//! Guide, *Capacity management for transactions*) — the same ten puts cost 20. So the metered
//! table reads each item before and after a transaction and bills it here:
//!
//! - the table: every item, condition checks included, at 2 × its size in 1 KB units (the
//!   larger of its size before and after; at least one unit);
//! - each index that projects every attribute: a write of the item's new size when it enters
//!   or stays in the index, a delete of its old size when it leaves or its index key changes,
//!   once each (an index is updated after the commit, not by its two phases — an assumption:
//!   the guide does not say).
//!
//! Sizes follow *Item sizes and formats*: attribute names and string values count their UTF-8
//! bytes, a number one byte per two significant digits plus one, a boolean or null one byte,
//! a list or map 3 bytes plus its elements plus one byte each.

use crate::ports::table::{Item, Value, INDEXES};

/// The size DynamoDB counts for an item, in bytes.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::S(text) => text.len(),
        Value::N(number) => {
            let digits = number.unsigned_abs().to_string();
            let significant = digits.trim_end_matches('0').len().max(1);
            significant.div_ceil(2) + 1
        }
        Value::Bool(_) | Value::Null => 1,
        Value::L(values) => 3 + values.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        Value::M(fields) => {
            3 + fields
                .iter()
                .map(|(name, v)| name.len() + value_size(v) + 1)
                .sum::<usize>()
        }
    }
}

/// 1 KB write units of `bytes`, at least one.
fn units(bytes: usize) -> f64 {
    bytes.div_ceil(1_024).max(1) as f64
}

/// The write units a transaction's write of one item costs, from the item as it was before
/// and after the transaction (`None`: absent).
pub fn transactional_write_units<'a>(before: Option<&'a Item>, after: Option<&'a Item>) -> f64 {
    let size = |item: Option<&Item>| item.map_or(0, item_size);
    let table = 2.0 * units(size(before).max(size(after)));
    let indexes: f64 = INDEXES
        .iter()
        .map(|(_, pk, sk)| {
            let entry = |item: Option<&'a Item>| {
                let i = item?;
                Some(((i.get(*pk)?, i.get(*sk)?), item_size(i)))
            };
            match (entry(before), entry(after)) {
                (None, None) => 0.0,
                (Some((_, old)), None) => units(old),
                (None, Some((_, new))) => units(new),
                (Some((old_key, _)), Some((new_key, new))) if old_key == new_key => {
                    // The item stays in the index: rewritten only if it changed.
                    if before == after {
                        0.0
                    } else {
                        units(new)
                    }
                }
                (Some((_, old)), Some((_, new))) => units(old) + units(new),
            }
        })
        .sum();
    table + indexes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::table::{GSI1PK, GSI1SK};

    fn item(fields: &[(&str, Value)]) -> Item {
        fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    #[test]
    fn sizes_count_names_and_values_as_dynamodb_documents() {
        let sized = item(&[
            ("PK", Value::S("TEAM#1".into())),
            ("n", Value::N(1_200)),
            ("ok", Value::Bool(true)),
            ("l", Value::L(vec![Value::S("ab".into()), Value::Null])),
            ("m", Value::M([("k".to_owned(), Value::N(7))].into())),
        ]);
        // PK 2+6, n 1+(2 digits "12" → 1)+1, ok 2+1, l 1+3+(2+1)+(1+1), m 1+3+(1+2+1).
        assert_eq!(item_size(&sized), 8 + 3 + 3 + 9 + 8);
    }

    #[test]
    fn every_item_of_a_transaction_costs_two_units_per_kilobyte_and_its_index_copy_one() {
        let small = item(&[("PK", Value::S("a".into()))]);
        assert_eq!(transactional_write_units(None, Some(&small)), 2.0);
        let big = item(&[
            ("PK", Value::S("a".into())),
            ("x", Value::S("y".repeat(1_500))),
        ]);
        // An update billed at the larger of before and after.
        assert_eq!(transactional_write_units(Some(&big), Some(&small)), 4.0);
        // A condition check on an unchanged item: the table only.
        let indexed = item(&[
            ("PK", Value::S("a".into())),
            (GSI1PK, Value::S("g".into())),
            (GSI1SK, Value::S("s".into())),
        ]);
        assert_eq!(
            transactional_write_units(Some(&indexed), Some(&indexed)),
            2.0
        );
        // A new indexed item: its index copy too.
        assert_eq!(transactional_write_units(None, Some(&indexed)), 3.0);
        // An index key that changes: the old copy deleted, the new one written.
        let moved = item(&[
            ("PK", Value::S("a".into())),
            (GSI1PK, Value::S("h".into())),
            (GSI1SK, Value::S("s".into())),
        ]);
        assert_eq!(transactional_write_units(Some(&indexed), Some(&moved)), 4.0);
    }
}
