//! Hourly metering: one record per customer, dimension and hour, bucketed by the hour the usage
//! happened (quantity 0 for an hour without usage, as AWS recommends), sent with
//! `BatchMeterUsage` in chunks of 25, each record's outcome stored.
//!
//! Records are created once (a conditional put per customer, dimension and hour) and sent
//! while pending, so running the job twice for an hour sends nothing twice. Unprocessed
//! records stay pending for the next run; records older than Marketplace's window are marked
//! failed with the reason instead of being sent.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use super::customers::{self, StoredCustomer};
use super::Settings;
use crate::app::items::{from_item, to_item};
use crate::app::records::query_all;
use crate::app::{keys, usage, App};
use crate::domain::marketplace::{MeteringRecord, MeteringStatus, SubscriptionState};
use crate::error::Error;
use crate::ports::marketplace::{MarketplaceError, RecordOutcome, UsageRecord, MAX_BATCH_RECORDS};
use crate::ports::metrics::{MetricEvent, Unit};
use crate::ports::table::{
    Condition, Index, Item, Key, Query, SortKey, TableError, Update, UpdateAction, GSI1PK, GSI1SK,
};
use crate::ports::{parse_rfc3339, rfc3339};

/// How long after the hour it happened in Marketplace still accepts usage.
pub const WINDOW: Duration = Duration::hours(6);
/// Headroom below [`WINDOW`], so a record is not refused while it travels.
const WINDOW_MARGIN: Duration = Duration::minutes(5);

/// Which customers a run meters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every metered customer, up to the last complete hour (the hourly schedule).
    All,
    /// One customer's final records, the current hour included (`unsubscribe-pending`).
    Final(Key),
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Customers metered.
    pub customers: usize,
    /// Records created by this run.
    pub created: usize,
    /// `BatchMeterUsage` calls made.
    pub calls: usize,
    /// Records sent.
    pub sent: usize,
    /// Accepted (`Success`).
    pub reported: usize,
    /// Metered before (`DuplicateRecord`, counted as reported).
    pub duplicates: usize,
    /// `CustomerNotSubscribed`.
    pub not_subscribed: usize,
    /// Left pending for the next run.
    pub unprocessed: usize,
    /// Marked failed (too old, or refused).
    pub failed: usize,
}

/// The start of an hour written as `2026-11-22T13`.
fn hour_start(hour: &str) -> Option<OffsetDateTime> {
    parse_rfc3339(&format!("{hour}:00:00Z"))
}

/// Whether usage of the hour starting at `start` may still be sent at `now`.
fn sendable(start: OffsetDateTime, now: OffsetDateTime) -> bool {
    start + WINDOW - WINDOW_MARGIN > now
}

/// Meters the customers of `scope`: creates the records of every hour not yet metered and
/// sends every pending record.
pub async fn run(app: &App, settings: &Settings, scope: Scope) -> Result<Report, Error> {
    let now = app.clock.now();
    let (customers, last_hour) = match &scope {
        Scope::All => {
            let mut all = Vec::new();
            for state in SubscriptionState::ALL
                .into_iter()
                .filter(|s| s.is_metered())
            {
                let query = Query::prefix(
                    Index::Gsi1,
                    keys::marketplace_state_partition(state.as_str()),
                    "",
                );
                // The index projects every attribute: the listing is the customers.
                for item in query_all(app.table.as_ref(), query).await? {
                    all.push(customers::decode(&item)?);
                }
            }
            (all, usage::hour(now - Duration::hours(1)))
        }
        Scope::Final(key) => (
            customers::find(app, key).await?.into_iter().collect(),
            usage::hour(now),
        ),
    };
    let mut report = Report {
        customers: customers.len(),
        ..Report::default()
    };
    let mut fresh = Vec::new();
    for customer in &customers {
        fresh.extend(create_records(app, settings, customer, &last_hour, now, &mut report).await?);
    }
    let mut pending: BTreeMap<Key, MeteringRecord> = fresh.into_iter().collect();
    let indexed = Query::prefix(Index::Gsi1, keys::METERING_PENDING, "");
    for item in query_all(app.table.as_ref(), indexed).await? {
        if let Some(key) = Key::of(&item) {
            let record: MeteringRecord = from_item(&item)?;
            let ours = match &scope {
                Scope::All => true,
                Scope::Final(customer) => {
                    keys::marketplace_customer(&record.product_code, &record.customer_ref)
                        == *customer
                }
            };
            if ours && record.status == MeteringStatus::Pending {
                pending.entry(key).or_insert(record);
            }
        }
    }
    send(app, pending, now, &mut report).await?;
    tracing::info!(?report, "metering run finished");
    app.metrics.emit(
        MetricEvent::new("MeteringRecordsSent", report.sent as f64, Unit::Count)
            .and(
                "MeteringRecordsReported",
                report.reported as f64,
                Unit::Count,
            )
            .and(
                "MeteringRecordsPending",
                report.unprocessed as f64,
                Unit::Count,
            )
            .and("MeteringRecordsFailed", report.failed as f64, Unit::Count)
            .and("MeteringCalls", report.calls as f64, Unit::Count),
    );
    Ok(report)
}

/// Creates a customer's records for every hour after its last metered one, through
/// `last_hour`, and moves its watermark. Returns the new pending records.
async fn create_records(
    app: &App,
    settings: &Settings,
    stored: &StoredCustomer,
    last_hour: &str,
    now: OffsetDateTime,
    report: &mut Report,
) -> Result<Vec<(Key, MeteringRecord)>, Error> {
    let customer = &stored.customer;
    let Some(metered_as) = customer.metered_as(&settings.legacy_products) else {
        tracing::warn!(customer = %stored.key.pk, "customer has no identifier to meter by");
        return Ok(Vec::new());
    };
    let first = match (&customer.metered_through, &customer.metered_from) {
        (Some(through), _) => hour_start(through).map(|h| h + Duration::hours(1)),
        (None, Some(from)) => hour_start(from),
        (None, None) => {
            parse_rfc3339(&customer.created_at).map(|t| hour_start(&usage::hour(t)).unwrap_or(t))
        }
    };
    let (Some(first), Some(last)) = (first, hour_start(last_hour)) else {
        return Ok(Vec::new());
    };
    if first > last {
        return Ok(Vec::new());
    }
    let usage_by_hour = match &customer.team_id {
        Some(team) => {
            let query = Query {
                sort_key: SortKey::Between(
                    format!("{}{}", usage::METER_PREFIX, usage::hour(first)),
                    format!("{}{last_hour}", usage::METER_PREFIX),
                ),
                ..Query::prefix(Index::Table, keys::team_partition(team), "")
            };
            query_all(app.table.as_ref(), query)
                .await?
                .into_iter()
                .filter_map(|item| Some((item.get("hour")?.as_str()?.to_owned(), item)))
                .collect::<BTreeMap<String, Item>>()
        }
        None => BTreeMap::new(),
    };
    let stamp = rfc3339(now);
    let mut created = Vec::new();
    let mut start = first;
    while start <= last {
        let hour = usage::hour(start);
        let used = usage_by_hour.get(&hour);
        for (dimension, measure) in settings.dimensions.iter() {
            let quantity = used
                .and_then(|item| item.get(measure)?.as_i64())
                .unwrap_or(0);
            let (status, reason) = if sendable(start, now) {
                (MeteringStatus::Pending, None)
            } else if quantity > 0 {
                (
                    MeteringStatus::Failed,
                    Some(format!(
                        "usage older than AWS Marketplace's {}-hour metering window; not sent",
                        WINDOW.whole_hours()
                    )),
                )
            } else {
                continue;
            };
            let record = MeteringRecord {
                product_code: customer.product_code.clone(),
                customer_ref: stored.customer_ref.clone(),
                customer: metered_as.clone().into(),
                team_id: customer.team_id.clone(),
                dimension: dimension.to_owned(),
                hour: hour.clone(),
                quantity,
                status,
                metering_record_id: None,
                reason,
                attempts: 0,
                created_at: stamp.clone(),
                updated_at: stamp.clone(),
            };
            let key = keys::metering_record(
                &hour,
                &customer.product_code,
                &stored.customer_ref,
                dimension,
            );
            let mut item = to_item(&record, &key, "metering_record")?;
            item.remove("id");
            if status == MeteringStatus::Pending {
                item.insert(GSI1PK.into(), keys::METERING_PENDING.into());
                item.insert(GSI1SK.into(), format!("{hour}#{}", key.sk).into());
            }
            match app.table.put(item, Some(Condition::item_absent())).await {
                Ok(()) => {
                    report.created += 1;
                    if status == MeteringStatus::Pending {
                        created.push((key, record));
                    } else {
                        report.failed += 1;
                    }
                }
                // Created by an earlier or concurrent run: never twice.
                Err(TableError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        start += Duration::hours(1);
    }
    let moved = app
        .table
        .update(Update {
            key: stored.key.clone(),
            actions: vec![UpdateAction::Set(
                "metered_through".into(),
                last_hour.into(),
            )],
            condition: Some(Condition::Or(vec![
                Condition::NotExists("metered_through".into()),
                Condition::compare(
                    "metered_through",
                    crate::ports::table::CompareOp::Lt,
                    last_hour,
                ),
            ])),
        })
        .await;
    match moved {
        Ok(_) | Err(TableError::ConditionFailed) => Ok(created),
        Err(e) => Err(e.into()),
    }
}

/// Sends pending records, grouped by product in chunks of 25, and stores each outcome.
async fn send(
    app: &App,
    pending: BTreeMap<Key, MeteringRecord>,
    now: OffsetDateTime,
    report: &mut Report,
) -> Result<(), Error> {
    let mut by_product: BTreeMap<String, Vec<(Key, MeteringRecord, UsageRecord)>> = BTreeMap::new();
    for (key, record) in pending {
        let start = hour_start(&record.hour);
        let quantity = i32::try_from(record.quantity);
        let reason = match (start, quantity) {
            (Some(start), Ok(quantity)) if sendable(start, now) => {
                let usage = UsageRecord {
                    customer: record.customer.clone().into(),
                    dimension: record.dimension.clone(),
                    quantity,
                    timestamp: start,
                };
                by_product
                    .entry(record.product_code.clone())
                    .or_default()
                    .push((key, record, usage));
                continue;
            }
            (Some(_), Ok(_)) => format!(
                "not accepted by AWS within its {}-hour metering window; not sent",
                WINDOW.whole_hours()
            ),
            _ => "the quantity or hour cannot be metered".to_owned(),
        };
        settle(
            app,
            &key,
            MeteringStatus::Failed,
            None,
            Some(reason),
            false,
            now,
        )
        .await?;
        report.failed += 1;
    }
    for (product, records) in by_product {
        for chunk in records.chunks(MAX_BATCH_RECORDS) {
            let usage: Vec<UsageRecord> = chunk.iter().map(|(_, _, u)| u.clone()).collect();
            report.calls += 1;
            report.sent += chunk.len();
            match app.marketplace.batch_meter_usage(&product, &usage).await {
                Ok(outcomes) => {
                    for ((key, _, _), outcome) in chunk.iter().zip(outcomes) {
                        let (status, id, reason) = match outcome {
                            RecordOutcome::Success(id) => {
                                report.reported += 1;
                                (MeteringStatus::Reported, id, None)
                            }
                            RecordOutcome::DuplicateRecord => {
                                report.duplicates += 1;
                                let why = "DuplicateRecord: metered before".to_owned();
                                (MeteringStatus::Reported, None, Some(why))
                            }
                            RecordOutcome::CustomerNotSubscribed => {
                                report.not_subscribed += 1;
                                let why = "CustomerNotSubscribed".to_owned();
                                (MeteringStatus::CustomerNotSubscribed, None, Some(why))
                            }
                            RecordOutcome::Unprocessed => {
                                report.unprocessed += 1;
                                let why = "unprocessed by AWS; retried next run".to_owned();
                                (MeteringStatus::Pending, None, Some(why))
                            }
                        };
                        settle(app, key, status, id, reason, true, now).await?;
                    }
                }
                Err(MarketplaceError::Refused(reason)) => {
                    for (key, _, _) in chunk {
                        report.failed += 1;
                        let why = Some(reason.clone());
                        settle(app, key, MeteringStatus::Failed, None, why, true, now).await?;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, product = %product, "BatchMeterUsage failed; records stay pending");
                    for (key, _, _) in chunk {
                        report.unprocessed += 1;
                        let why = Some(error.to_string());
                        settle(app, key, MeteringStatus::Pending, None, why, true, now).await?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Stores a record's outcome; a final one leaves the pending index. Only a pending record
/// changes, so a slower concurrent run cannot undo an outcome.
async fn settle(
    app: &App,
    key: &Key,
    status: MeteringStatus,
    metering_record_id: Option<String>,
    reason: Option<String>,
    attempted: bool,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let mut actions = vec![
        UpdateAction::Set("status".into(), status.as_str().into()),
        UpdateAction::Set("updated_at".into(), rfc3339(now).into()),
    ];
    if let Some(id) = metering_record_id {
        actions.push(UpdateAction::Set("metering_record_id".into(), id.into()));
    }
    if let Some(reason) = reason {
        actions.push(UpdateAction::Set("reason".into(), reason.into()));
    }
    if attempted {
        actions.push(UpdateAction::Add("attempts".into(), 1));
    }
    if status != MeteringStatus::Pending {
        actions.push(UpdateAction::Remove(GSI1PK.into()));
        actions.push(UpdateAction::Remove(GSI1SK.into()));
    }
    let update = Update {
        key: key.clone(),
        actions,
        condition: Some(Condition::eq("status", MeteringStatus::Pending.as_str())),
    };
    match app.table.update(update).await {
        Ok(_) | Err(TableError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Every metering record of an hour: for reports and tests.
pub async fn records_of_hour(app: &App, hour: &str) -> Result<Vec<MeteringRecord>, Error> {
    let query = Query::prefix(Index::Table, keys::metering_hour_partition(hour), "");
    query_all(app.table.as_ref(), query)
        .await?
        .iter()
        .map(from_item)
        .collect()
}
