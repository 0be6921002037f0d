//! The `Table` contract: every case runs against the embedded adapter and against the
//! DynamoDB adapter on DynamoDB Local, and must pass identically on both.

use std::sync::Arc;

use vellocity::aws::dynamodb::ConsumedCapacity;
use vellocity::local::table::EmbeddedTable;
use vellocity::ports::table::{
    CancelReason, CompareOp, Condition, Cursor, Index, Item, Key, Query, SortKey, Table,
    TableError, Update, UpdateAction, Value, WriteOp, PK, SK,
};

use crate::dynamodb;

fn item(pk: &str, sk: &str, attrs: &[(&str, Value)]) -> Item {
    let mut item = Item::new();
    item.insert("PK".into(), Value::S(pk.into()));
    item.insert("SK".into(), Value::S(sk.into()));
    for (name, value) in attrs {
        item.insert((*name).into(), value.clone());
    }
    item
}

fn sks(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["SK"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn put_then_get_round_trips_every_value_type(table: &dyn Table) {
    let nested = Value::M(
        [(
            "inner".to_owned(),
            Value::L(vec![Value::N(-3), Value::S("x".into()), Value::Null]),
        )]
        .into(),
    );
    let stored = item(
        "TEAM#a",
        "COMPANY#1",
        &[
            ("name", "Acme".into()),
            ("count", Value::N(i64::MAX)),
            ("on", true.into()),
            ("nothing", Value::Null),
            ("doc", nested),
        ],
    );
    table.put(stored.clone(), None).await.unwrap();
    assert_eq!(
        table.get(&Key::new("TEAM#a", "COMPANY#1")).await.unwrap(),
        Some(stored)
    );
    assert_eq!(
        table.get(&Key::new("TEAM#a", "COMPANY#2")).await.unwrap(),
        None
    );
}

async fn a_conditional_put_does_not_overwrite(table: &dyn Table) {
    table
        .put(
            item("P", "S", &[("v", 1.into())]),
            Some(Condition::item_absent()),
        )
        .await
        .unwrap();
    let again = table
        .put(
            item("P", "S", &[("v", 2.into())]),
            Some(Condition::item_absent()),
        )
        .await;
    assert!(matches!(again, Err(TableError::ConditionFailed)));
    assert_eq!(
        table.get(&Key::new("P", "S")).await.unwrap().unwrap()["v"],
        Value::N(1)
    );
    let missing = table
        .put(item("P", "T", &[]), Some(Condition::item_exists()))
        .await;
    assert!(matches!(missing, Err(TableError::ConditionFailed)));
}

async fn conditions_compare_numbers_strings_and_presence(table: &dyn Table) {
    table
        .put(item("P", "S", &[("n", 5.into()), ("s", "m".into())]), None)
        .await
        .unwrap();
    let cases = [
        (Condition::compare("n", CompareOp::Eq, 5), true),
        (Condition::compare("n", CompareOp::Ne, 5), false),
        (Condition::compare("n", CompareOp::Lt, 6), true),
        (Condition::compare("n", CompareOp::Le, 5), true),
        (Condition::compare("n", CompareOp::Gt, 5), false),
        (Condition::compare("n", CompareOp::Ge, 5), true),
        (Condition::compare("s", CompareOp::Gt, "a"), true),
        (Condition::compare("s", CompareOp::Lt, "a"), false),
        (Condition::compare("n", CompareOp::Eq, "5"), false),
        (Condition::compare("missing", CompareOp::Ne, 1), false),
        (Condition::compare("missing", CompareOp::Lt, 1), false),
        (Condition::Exists("s".into()), true),
        (Condition::NotExists("s".into()), false),
        (
            Condition::And(vec![Condition::eq("n", 5), Condition::eq("s", "m")]),
            true,
        ),
        (
            Condition::And(vec![Condition::eq("n", 5), Condition::eq("s", "x")]),
            false,
        ),
        (
            Condition::Or(vec![Condition::eq("n", 4), Condition::eq("s", "m")]),
            true,
        ),
        (
            Condition::Or(vec![
                Condition::eq("n", 4),
                Condition::NotExists("n".into()),
            ]),
            false,
        ),
    ];
    for (i, (condition, expected)) in cases.into_iter().enumerate() {
        let result = table
            .update(Update {
                key: Key::new("P", "S"),
                actions: vec![UpdateAction::Set("touched".into(), Value::N(i as i64))],
                condition: Some(condition.clone()),
            })
            .await;
        match (expected, result) {
            (true, Ok(_)) | (false, Err(TableError::ConditionFailed)) => {}
            (_, other) => panic!("{condition:?}: expected {expected}, got {other:?}"),
        }
    }
}

async fn updates_set_remove_and_add(table: &dyn Table) {
    table
        .put(
            item("P", "S", &[("gone", "x".into()), ("n", 10.into())]),
            None,
        )
        .await
        .unwrap();
    let after = table
        .update(Update {
            key: Key::new("P", "S"),
            actions: vec![
                UpdateAction::Set("name".into(), "Acme".into()),
                UpdateAction::Remove("gone".into()),
                UpdateAction::Add("n".into(), -3),
                UpdateAction::Add("fresh".into(), 2),
            ],
            condition: Some(Condition::item_exists()),
        })
        .await
        .unwrap();
    assert_eq!(
        after,
        item(
            "P",
            "S",
            &[
                ("name", "Acme".into()),
                ("n", 7.into()),
                ("fresh", 2.into())
            ]
        )
    );
    assert_eq!(table.get(&Key::new("P", "S")).await.unwrap(), Some(after));
}

async fn an_update_without_a_condition_creates_the_item(table: &dyn Table) {
    let created = table
        .update(Update {
            key: Key::new("P", "NEW"),
            actions: vec![UpdateAction::Add("n".into(), 1)],
            condition: None,
        })
        .await
        .unwrap();
    assert_eq!(created, item("P", "NEW", &[("n", 1.into())]));
}

async fn a_failed_update_changes_nothing(table: &dyn Table) {
    table
        .put(item("P", "S", &[("n", 1.into())]), None)
        .await
        .unwrap();
    let failed = table
        .update(Update {
            key: Key::new("P", "S"),
            actions: vec![UpdateAction::Add("n".into(), -2)],
            condition: Some(Condition::compare("n", CompareOp::Ge, 2)),
        })
        .await;
    assert!(matches!(failed, Err(TableError::ConditionFailed)));
    assert_eq!(
        table.get(&Key::new("P", "S")).await.unwrap().unwrap()["n"],
        Value::N(1)
    );
}

async fn delete_returns_the_old_item_and_honours_its_condition(table: &dyn Table) {
    let stored = item("P", "S", &[("v", 1.into())]);
    table.put(stored.clone(), None).await.unwrap();
    let refused = table
        .delete(&Key::new("P", "S"), Some(Condition::eq("v", 2)))
        .await;
    assert!(matches!(refused, Err(TableError::ConditionFailed)));
    assert_eq!(
        table
            .delete(&Key::new("P", "S"), Some(Condition::eq("v", 1)))
            .await
            .unwrap(),
        Some(stored)
    );
    assert_eq!(table.get(&Key::new("P", "S")).await.unwrap(), None);
    assert_eq!(table.delete(&Key::new("P", "S"), None).await.unwrap(), None);
}

async fn seed_partition(table: &dyn Table) {
    for i in 1..=5 {
        table
            .put(item("TEAM#a", &format!("COMPANY#{i}"), &[]), None)
            .await
            .unwrap();
    }
    table
        .put(item("TEAM#a", "PRODUCT#1", &[]), None)
        .await
        .unwrap();
    table
        .put(item("TEAM#b", "COMPANY#9", &[]), None)
        .await
        .unwrap();
}

async fn queries_page_through_a_prefix_in_both_orders(table: &dyn Table) {
    seed_partition(table).await;
    for (descending, expected) in [
        (false, ["1", "2", "3", "4", "5"]),
        (true, ["5", "4", "3", "2", "1"]),
    ] {
        let mut query = Query::prefix(Index::Table, "TEAM#a", "COMPANY#");
        query.limit = 2;
        query.descending = descending;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = table.query(query.clone()).await.unwrap();
            pages += 1;
            seen.extend(sks(&page.items));
            match page.cursor {
                Some(cursor) => query.cursor = Some(Cursor::decode(&cursor.encode()).unwrap()),
                None => break,
            }
        }
        let expected: Vec<String> = expected.iter().map(|n| format!("COMPANY#{n}")).collect();
        assert_eq!(seen, expected);
        assert_eq!(pages, 3, "2 + 2 + 1 items, and no empty page at the end");
    }
}

async fn a_page_that_ends_exactly_at_the_last_item_has_no_cursor(table: &dyn Table) {
    seed_partition(table).await;
    let mut query = Query::prefix(Index::Table, "TEAM#a", "COMPANY#");
    query.limit = 5;
    let page = table.query(query).await.unwrap();
    assert_eq!(page.items.len(), 5);
    assert_eq!(page.cursor, None);
}

async fn queries_read_a_sort_key_range(table: &dyn Table) {
    seed_partition(table).await;
    let query = Query {
        index: Index::Table,
        partition: "TEAM#a".into(),
        sort_key: SortKey::Between("COMPANY#2".into(), "COMPANY#4".into()),
        descending: false,
        limit: 10,
        cursor: None,
    };
    assert_eq!(
        sks(&table.query(query).await.unwrap().items),
        ["COMPANY#2", "COMPANY#3", "COMPANY#4"]
    );
}

async fn queries_read_the_secondary_index(table: &dyn Table) {
    for (team, user) in [
        ("TEAM#a", "USER#1"),
        ("TEAM#b", "USER#1"),
        ("TEAM#c", "USER#2"),
    ] {
        let attrs = [
            ("GSI1PK", Value::S(user.into())),
            ("GSI1SK", Value::S(team.into())),
        ];
        table
            .put(item(team, &format!("MEMBER#{user}"), &attrs), None)
            .await
            .unwrap();
    }
    let mut query = Query::prefix(Index::Gsi1, "USER#1", "TEAM#");
    query.limit = 1;
    let first = table.query(query.clone()).await.unwrap();
    assert_eq!(first.items[0]["PK"], Value::S("TEAM#a".into()));
    query.cursor = first.cursor;
    let second = table.query(query).await.unwrap();
    assert_eq!(second.items[0]["PK"], Value::S("TEAM#b".into()));
    assert_eq!(second.cursor, None);
}

async fn a_cursor_from_another_partition_is_refused(table: &dyn Table) {
    seed_partition(table).await;
    let mut theirs = Query::prefix(Index::Table, "TEAM#b", "COMPANY#");
    theirs.limit = 1;
    table
        .put(item("TEAM#b", "COMPANY#8", &[]), None)
        .await
        .unwrap();
    let their_cursor = table.query(theirs).await.unwrap().cursor.unwrap();
    let mut mine = Query::prefix(Index::Table, "TEAM#a", "COMPANY#");
    mine.cursor = Some(their_cursor);
    assert!(matches!(
        table.query(mine.clone()).await,
        Err(TableError::InvalidCursor)
    ));
    let mut outside = Query::prefix(Index::Table, "TEAM#a", "PRODUCT#");
    let mut first = Query::prefix(Index::Table, "TEAM#a", "COMPANY#");
    first.limit = 1;
    outside.cursor = table.query(first).await.unwrap().cursor;
    assert!(matches!(
        table.query(outside).await,
        Err(TableError::InvalidCursor)
    ));
}

async fn a_transaction_writes_everything_or_nothing(table: &dyn Table) {
    table
        .put(item("TEAM#a", "TEAM", &[("balance", 10.into())]), None)
        .await
        .unwrap();
    table.put(item("TEAM#a", "OLD", &[]), None).await.unwrap();
    table
        .put(item("TEAM#a", "MEMBER#1", &[]), None)
        .await
        .unwrap();
    let spend = |amount: i64| {
        WriteOp::Update(Update {
            key: Key::new("TEAM#a", "TEAM"),
            actions: vec![UpdateAction::Add("balance".into(), -amount)],
            condition: Some(Condition::compare("balance", CompareOp::Ge, amount)),
        })
    };
    let writes = |amount| {
        vec![
            WriteOp::Put {
                item: item("TEAM#a", "EXEC#1", &[]),
                condition: Some(Condition::item_absent()),
            },
            spend(amount),
            WriteOp::Delete {
                key: Key::new("TEAM#a", "OLD"),
                condition: None,
            },
            WriteOp::Check {
                key: Key::new("TEAM#a", "MEMBER#1"),
                condition: Condition::item_exists(),
            },
        ]
    };
    match table.transact(writes(11)).await {
        Err(TableError::TransactionCanceled { reasons }) => assert_eq!(
            reasons,
            [
                CancelReason::None,
                CancelReason::ConditionFailed,
                CancelReason::None,
                CancelReason::None
            ]
        ),
        other => panic!("expected a cancelled transaction, got {other:?}"),
    }
    assert_eq!(
        table.get(&Key::new("TEAM#a", "EXEC#1")).await.unwrap(),
        None
    );
    assert!(table
        .get(&Key::new("TEAM#a", "OLD"))
        .await
        .unwrap()
        .is_some());
    table.transact(writes(10)).await.unwrap();
    assert_eq!(
        table
            .get(&Key::new("TEAM#a", "TEAM"))
            .await
            .unwrap()
            .unwrap()["balance"],
        Value::N(0)
    );
    assert!(table
        .get(&Key::new("TEAM#a", "EXEC#1"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(table.get(&Key::new("TEAM#a", "OLD")).await.unwrap(), None);
}

async fn a_transaction_holds_up_to_one_hundred_distinct_items(table: &dyn Table) {
    let puts = |n: usize| -> Vec<WriteOp> {
        (0..n)
            .map(|i| WriteOp::Put {
                item: item("P", &format!("S#{i:03}"), &[]),
                condition: None,
            })
            .collect()
    };
    assert!(matches!(
        table.transact(puts(101)).await,
        Err(TableError::Invalid(_))
    ));
    let mut twice = puts(2);
    twice.push(WriteOp::Check {
        key: Key::new("P", "S#000"),
        condition: Condition::item_absent(),
    });
    assert!(matches!(
        table.transact(twice).await,
        Err(TableError::Invalid(_))
    ));
    table.transact(puts(100)).await.unwrap();
    let mut query = Query::prefix(Index::Table, "P", "S#");
    query.limit = 100;
    assert_eq!(table.query(query).await.unwrap().items.len(), 100);
}

async fn a_condition_of_one_part_holds_like_the_part(table: &dyn Table) {
    let version = Condition::eq("version", 1);
    let exists_and_positive = Condition::compare("count", CompareOp::Gt, 0);
    table
        .put(item("P", "S", &[("version", Value::N(1))]), None)
        .await
        .unwrap();
    for condition in [
        Condition::And(vec![version.clone()]),
        Condition::Or(vec![version.clone()]),
        Condition::And(vec![Condition::Or(vec![Condition::And(vec![
            version.clone()
        ])])]),
    ] {
        table
            .put(item("P", "S", &[("version", Value::N(1))]), Some(condition))
            .await
            .unwrap();
    }
    let refused = table
        .put(
            item("P", "S", &[]),
            Some(Condition::And(vec![exists_and_positive])),
        )
        .await;
    assert!(matches!(refused, Err(TableError::ConditionFailed)));
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&vellocity::local::table::EmbeddedTable::in_memory()).await;
                }
            )*
        }
        mod dynamodb_local {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&super::dynamodb::fresh_table().await).await;
                }
            )*
        }
    };
}

contract!(
    put_then_get_round_trips_every_value_type,
    a_conditional_put_does_not_overwrite,
    conditions_compare_numbers_strings_and_presence,
    updates_set_remove_and_add,
    an_update_without_a_condition_creates_the_item,
    a_failed_update_changes_nothing,
    delete_returns_the_old_item_and_honours_its_condition,
    queries_page_through_a_prefix_in_both_orders,
    a_page_that_ends_exactly_at_the_last_item_has_no_cursor,
    queries_read_a_sort_key_range,
    queries_read_the_secondary_index,
    a_cursor_from_another_partition_is_refused,
    a_transaction_writes_everything_or_nothing,
    a_transaction_holds_up_to_one_hundred_distinct_items,
    a_condition_of_one_part_holds_like_the_part,
);

#[tokio::test]
async fn the_embedded_table_keeps_its_data_across_restarts() {
    let dir = std::env::temp_dir().join(format!("vellocity-persist-{}", ulid::Ulid::new()));
    let team = item("TEAM#a", "TEAM", &[("name", "Acme".into())]);
    {
        let table = EmbeddedTable::open(&dir).unwrap();
        table.put(team.clone(), None).await.unwrap();
        table.put(item("TEAM#a", "GONE", &[]), None).await.unwrap();
        table
            .delete(&Key::new("TEAM#a", "GONE"), None)
            .await
            .unwrap();
        let writes = vec![
            WriteOp::Put {
                item: item("TEAM#a", "A", &[]),
                condition: None,
            },
            WriteOp::Update(Update {
                key: Key::new("TEAM#a", "TEAM"),
                actions: vec![UpdateAction::Add("credits".into(), 5)],
                condition: None,
            }),
        ];
        table.transact(writes).await.unwrap();
    }
    let reopened = EmbeddedTable::open(&dir).unwrap();
    let mut expected = team;
    expected.insert("credits".into(), Value::N(5));
    assert_eq!(
        reopened.get(&Key::new("TEAM#a", "TEAM")).await.unwrap(),
        Some(expected)
    );
    assert!(reopened
        .get(&Key::new("TEAM#a", "A"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        reopened.get(&Key::new("TEAM#a", "GONE")).await.unwrap(),
        None
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn fresh_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("vellocity-{name}-{}", ulid::Ulid::new()))
}

#[tokio::test]
async fn two_tables_on_one_directory_see_each_others_writes_at_once() {
    // The server and an admin command beside it: two handles on one data directory.
    let dir = fresh_dir("shared");
    let server = EmbeddedTable::open(&dir).unwrap();
    let admin = EmbeddedTable::open(&dir).unwrap();
    admin
        .put(item("TEAM#a", "TEAM", &[("credits", Value::N(1))]), None)
        .await
        .unwrap();
    server
        .update(Update {
            key: Key::new("TEAM#a", "TEAM"),
            actions: vec![UpdateAction::Add("credits".into(), 5)],
            condition: Some(Condition::item_exists()),
        })
        .await
        .unwrap();
    let seen = admin.get(&Key::new("TEAM#a", "TEAM")).await.unwrap();
    assert_eq!(seen.unwrap()["credits"], Value::N(6));
    let page = admin
        .query(Query::prefix(Index::Table, "TEAM#a", ""))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["TEAM"]);
    drop((server, admin));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_data_directory_of_the_journal_format_is_imported_once() {
    let dir = fresh_dir("legacy");
    std::fs::create_dir_all(&dir).unwrap();
    let snapshot = serde_json::json!([
        {"PK": {"S": "TEAM#a"}, "SK": {"S": "TEAM"}, "name": {"S": "Acme"}},
        {"PK": {"S": "TEAM#a"}, "SK": {"S": "GONE"}}
    ]);
    std::fs::write(dir.join("table.json"), snapshot.to_string()).unwrap();
    // Two whole lines, then one a crash cut short (and what a crash left after it).
    let journal = concat!(
        "[{\"Put\":{\"PK\":{\"S\":\"TEAM#a\"},\"SK\":{\"S\":\"A\"}}}]\n",
        "[{\"Delete\":{\"pk\":\"TEAM#a\",\"sk\":\"GONE\"}}]\n",
        "[{\"Put\":{\"PK\":\u{0}\u{0}\n",
        "[{\"Put\":{\"PK\":{\"S\":\"TEAM#a\"},\"SK\":{\"S\":\"LATE\"}}}]\n",
    );
    std::fs::write(dir.join("journal.jsonl"), journal).unwrap();

    let table = EmbeddedTable::open(&dir).unwrap();
    let page = table
        .query(Query::prefix(Index::Table, "TEAM#a", ""))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["A", "TEAM"]);
    assert_eq!(page.items[1]["name"], Value::S("Acme".into()));
    assert!(!dir.join("table.json").exists() && !dir.join("journal.jsonl").exists());
    assert!(dir.join("table.json.imported").exists());
    assert!(dir.join("journal.jsonl.imported").exists());
    // Opened again, nothing is imported twice and writes since then stay.
    table.delete(&Key::new("TEAM#a", "A"), None).await.unwrap();
    drop(table);
    let reopened = EmbeddedTable::open(&dir).unwrap();
    let page = reopened
        .query(Query::prefix(Index::Table, "TEAM#a", ""))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["TEAM"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_data_directory_this_version_cannot_read_is_refused_with_what_to_do() {
    // Written by a newer version: its schema is refused, naming the file.
    let newer = fresh_dir("newer");
    drop(EmbeddedTable::open(&newer).unwrap());
    let database = newer.join(vellocity::local::table::DATABASE_FILE);
    rusqlite::Connection::open(&database)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let refused = EmbeddedTable::open(&newer).err().unwrap();
    assert!(
        refused.contains("newer Vellocity") && refused.contains(&database.display().to_string()),
        "{refused}"
    );
    // An old snapshot that is not what the old version wrote: refused, nothing imported.
    let broken = fresh_dir("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("table.json"), "not json").unwrap();
    let refused = EmbeddedTable::open(&broken).err().unwrap();
    assert!(
        refused.contains("table.json") && refused.contains("move it away"),
        "{refused}"
    );
    assert!(
        broken.join("table.json").exists(),
        "the old file stays where it was"
    );
    for dir in [newer, broken] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[tokio::test]
async fn a_metered_dynamodb_table_adds_up_the_capacity_each_call_costs_as_dynamodb_bills_it() {
    let capacity = Arc::new(ConsumedCapacity::default());
    let table = dynamodb::fresh_table().await.metered(capacity.clone());
    let mut item = Item::new();
    item.insert(PK.into(), Value::S("TEAM#t".into()));
    item.insert(SK.into(), Value::S("THING#1".into()));
    item.insert("text".into(), Value::S("x".repeat(1_500)));
    // Writes count 1 KB units: 2 for a 1.5 KB item.
    table.put(item.clone(), None).await.unwrap();
    assert_eq!((capacity.read_units(), capacity.write_units()), (0.0, 2.0));
    // A strongly consistent read of up to 4 KB is one unit, a query of it too.
    table.get(&Key::new("TEAM#t", "THING#1")).await.unwrap();
    table
        .query(Query::prefix(Index::Table, "TEAM#t", "THING#"))
        .await
        .unwrap();
    assert_eq!((capacity.read_units(), capacity.write_units()), (2.0, 2.0));
    // An eventually consistent read costs half, and finds the item all the same.
    let found = table
        .get_eventually(&Key::new("TEAM#t", "THING#1"))
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&item));
    assert_eq!(capacity.read_units(), 2.5);
    // A transaction's writes count twice, for every item (DynamoDB Local bills only its
    // largest): two new 1.5 KB items, 4 units each, and the indexed one's copy on GSI1, 2; an
    // update of a small item, 2; a condition check on a 1.5 KB item, 4.
    let mut other = item.clone();
    other.insert(SK.into(), Value::S("THING#2".into()));
    let mut indexed = item.clone();
    indexed.insert(SK.into(), Value::S("THING#3".into()));
    indexed.insert("GSI1PK".into(), Value::S("LIST#t".into()));
    indexed.insert("GSI1SK".into(), Value::S("THING#3".into()));
    let mut small = item.clone();
    small.insert(SK.into(), Value::S("THING#4".into()));
    small.insert("text".into(), Value::S("x".into()));
    table.put(small, None).await.unwrap();
    let before = capacity.write_units();
    capacity.take_writes();
    table
        .transact(vec![
            WriteOp::Put {
                item: other,
                condition: None,
            },
            WriteOp::Put {
                item: indexed,
                condition: None,
            },
            WriteOp::Update(Update {
                key: Key::new("TEAM#t", "THING#4"),
                actions: vec![UpdateAction::Set("n".into(), Value::N(1))],
                condition: None,
            }),
            WriteOp::Check {
                key: Key::new("TEAM#t", "THING#1"),
                condition: Condition::item_exists(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(capacity.write_units() - before, 4.0 + 4.0 + 2.0 + 2.0 + 4.0);
    // Where the writes went: one call, named by its items' kinds.
    let writes = capacity.take_writes();
    assert_eq!(
        writes.into_iter().collect::<Vec<_>>(),
        [("THING x4".to_owned(), (1, 16.0))]
    );
    assert_eq!(
        capacity.read_units(),
        2.5,
        "the meter's own reads are not counted"
    );
}
