//! AWS Marketplace: fulfillment, registration, subscription events and hourly metering, through
//! the local stack with the real Marketplace SDK calls answered by a local endpoint that speaks
//! their wire format.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde_json::{json, Value};
use vellocity::app::App;
use vellocity::aws::marketplace::AwsMarketplace;
use vellocity::domain::marketplace::MeteringStatus;
use vellocity::lambda::marketplace::apply_batch;
use vellocity::marketplace::metering::{self, Report, Scope};

use crate::helpers::TestApp;
use crate::marketplace_endpoint::{self, Fake};

const PRODUCT: &str = "prod-vellocity";
const ACCOUNT: &str = "111122223333";

struct Market {
    app: TestApp,
    fake: Fake,
}

/// The local stack talking to the local Marketplace endpoint, which knows the token `tok-1`.
async fn market() -> Market {
    let (addr, fake) = marketplace_endpoint::start().await;
    fake.lock().unwrap().tokens.insert(
        "tok-1".into(),
        json!({"CustomerAWSAccountId": ACCOUNT, "CustomerIdentifier": "CID-1", "ProductCode": PRODUCT,
               "LicenseArn": "arn:aws:license-manager::111122223333:license:l-1"}),
    );
    let sdk = marketplace_endpoint::sdk_config(addr).await;
    let app = TestApp::with_marketplace(Arc::new(AwsMarketplace::new(&sdk)));
    Market { app, fake }
}

/// An SQS message holding an SNS notification from Marketplace.
fn sns(action: &str, customer: &str, at: &str) -> SqsMessage {
    let notification = json!({"action": action, "customer-identifier": customer, "product-code": PRODUCT,
                              "offer-identifier": "offer-1", "isFreeTrialTermPresent": "false"});
    let envelope = json!({
        "Type": "Notification", "MessageId": format!("{action}-{at}"),
        "TopicArn": "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-prod-vellocity",
        "Message": notification.to_string(), "Timestamp": at,
        "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertURL": "https://example.invalid/cert.pem",
        "UnsubscribeURL": "https://example.invalid/unsubscribe"
    });
    message(&envelope.to_string())
}

fn message(body: &str) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(format!("msg-{}", ulid::Ulid::new()));
    message.body = Some(body.to_owned());
    message
}

impl Market {
    fn stack_app(&self) -> &App {
        &self.app.stack.app
    }

    /// Delivers messages as the events queue would; returns the ids reported as failed.
    async fn deliver(&self, messages: Vec<SqsMessage>) -> Vec<String> {
        let mut event = SqsEvent::default();
        event.records = messages;
        apply_batch(self.stack_app(), &self.app.stack.marketplace, event)
            .await
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    async fn meter(&self) -> Report {
        metering::run(self.stack_app(), &self.app.stack.marketplace, Scope::All)
            .await
            .unwrap()
    }

    /// Fulfillment with `token`; returns the registration reference it redirects to.
    async fn fulfill(&self, token: &str) -> String {
        self.fulfill_offer(token, None).await
    }

    /// Fulfillment with `token` and an offer type.
    async fn fulfill_offer(&self, token: &str, offer_type: Option<&str>) -> String {
        let mut form = vec![("x-amzn-marketplace-token", token)];
        form.extend(offer_type.map(|o| ("x-amzn-marketplace-offer-type", o)));
        let page = self
            .app
            .page("POST", "/marketplace/fulfillment", &form)
            .await;
        assert_eq!(page.status, 303, "{page:?}");
        // Relative, so the stage prefix of the deployed API stays.
        let location = page.location.unwrap();
        assert!(!location.contains(token), "the token never travels on");
        let reference = location.strip_prefix("register?ref=").unwrap().to_owned();
        form_urlencoded::parse(format!("r={reference}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned()
    }

    /// Registers the buyer; returns the owner's API key.
    async fn register(&self, reference: &str) -> String {
        let page = self
            .app
            .page(
                "POST",
                "/marketplace/register",
                &[
                    ("ref", reference),
                    ("company", "Globex"),
                    ("contact_name", "Hank Scorpio"),
                    ("email", "hank@globex.example"),
                ],
            )
            .await;
        assert_eq!(page.status, 201, "{page:?}");
        page.element("api-key").expect("the key is shown once")
    }

    async fn start(&self, key: &str) -> crate::helpers::Response {
        let agent = self.app.summary_agent(key).await;
        self.app
            .start_execution(
                key,
                &agent,
                json!({"request": "Summarize our launch notes"}),
            )
            .await
    }

    async fn statuses(&self, hour: &str) -> Vec<(String, MeteringStatus, i64)> {
        metering::records_of_hour(self.stack_app(), hour)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.dimension, r.status, r.quantity))
            .collect()
    }
}

fn advance(app: &TestApp, minutes: i64) {
    app.clock.advance(time::Duration::minutes(minutes));
}

#[tokio::test]
async fn a_buyer_goes_from_fulfillment_to_metering_to_unsubscribed() {
    let m = market().await;
    let reference = m.fulfill("tok-1").await;
    let form = m
        .app
        .page(
            "GET",
            &format!("/marketplace/register?ref={reference}"),
            &[],
        )
        .await;
    assert_eq!(form.status, 200, "{form:?}");
    assert!(form.html.contains("name=\"company\"") && form.html.contains("name=\"email\""));
    let key = m.register(&reference).await;

    // Registered but not yet subscribed: the data is there, executions are not.
    let refused = m.start(&key).await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "subscription_inactive"),
        "{refused:?}"
    );
    assert_eq!(
        m.app.get(&key, "/v1/team").await.body["plan"],
        "marketplace"
    );

    assert!(m
        .deliver(vec![sns(
            "subscribe-success",
            "CID-1",
            "2026-11-21T12:01:00Z"
        )])
        .await
        .is_empty());
    let started = m.start(&key).await;
    assert_eq!(started.status, 202, "{started:?}");
    let id = started.body["id"].as_str().unwrap();
    assert_eq!(
        m.app.wait_for(&key, id, "succeeded").await.body["status"],
        "succeeded"
    );

    // The hour of the execution, once over: one record per dimension, by AWS account.
    advance(&m.app, 70);
    let report = m.meter().await;
    assert_eq!(
        (report.customers, report.calls, report.reported),
        (1, 1, 3),
        "{report:?}"
    );
    let call = m.fake.lock().unwrap().meter_calls()[0].clone();
    assert_eq!(call["ProductCode"], PRODUCT);
    let records = call["UsageRecords"].as_array().unwrap();
    assert!(records.iter().all(|r| r["CustomerAWSAccountId"] == ACCOUNT
        && r.get("CustomerIdentifier").is_none()
        && r["LicenseArn"] == "arn:aws:license-manager::111122223333:license:l-1"
        && r["Timestamp"] == 1_795_262_400));
    let executions = records
        .iter()
        .find(|r| r["Dimension"] == "executions")
        .unwrap();
    assert_eq!(executions["Quantity"], 1);
    assert!(m
        .statuses("2026-11-21T12")
        .await
        .iter()
        .all(|(_, s, _)| *s == MeteringStatus::Reported));

    // The same hour again sends nothing.
    let again = m.meter().await;
    assert_eq!((again.sent, again.created), (0, 0), "{again:?}");

    // Unsubscribing: the final records, this hour included, go out at once.
    advance(&m.app, 10);
    assert!(m
        .deliver(vec![sns(
            "unsubscribe-pending",
            "CID-1",
            "2026-11-21T13:20:00Z"
        )])
        .await
        .is_empty());
    assert_eq!(m.fake.lock().unwrap().meter_calls().len(), 2);
    assert_eq!(m.statuses("2026-11-21T13").await.len(), 3);
    assert_eq!(m.start(&key).await.code(), "subscription_inactive");

    assert!(m
        .deliver(vec![sns(
            "unsubscribe-success",
            "CID-1",
            "2026-11-21T13:40:00Z"
        )])
        .await
        .is_empty());
    advance(&m.app, 120);
    assert_eq!(
        m.meter().await.customers,
        0,
        "nobody is metered after unsubscribing"
    );
    let refused = m.start(&key).await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "subscription_inactive")
    );
    assert_eq!(
        m.app.get(&key, "/v1/executions").await.status,
        200,
        "data stays readable"
    );

    // Each change of the subscription is in the team's audit log, by AWS Marketplace.
    let changes = crate::audit::audit(&m.app, &key, "action=subscription.changed", 3).await;
    for entry in &changes {
        assert_eq!(entry["actor_id"], "aws-marketplace");
        assert_eq!(
            entry["target"],
            json!({"kind": "marketplace_product", "id": PRODUCT})
        );
    }
    assert_eq!(
        changes.len(),
        3,
        "subscribed, unsubscribe pending, unsubscribed"
    );
}

#[tokio::test]
async fn bad_tokens_and_references_get_an_error_page_and_store_nothing() {
    let m = market().await;
    for token in ["forged", "expired", ""] {
        let page = m
            .app
            .page(
                "POST",
                "/marketplace/fulfillment",
                &[("x-amzn-marketplace-token", token)],
            )
            .await;
        assert_eq!(page.status, 400, "{token}: {page:?}");
    }
    assert_eq!(m.meter().await.customers, 0);
    let forged = m
        .app
        .page("GET", "/marketplace/register?ref=1.2.3", &[])
        .await;
    assert_eq!(forged.status, 400);
    let reference = m.fulfill("tok-1").await;
    advance(&m.app, 61);
    let expired = m
        .app
        .page(
            "GET",
            &format!("/marketplace/register?ref={reference}"),
            &[],
        )
        .await;
    assert_eq!(expired.status, 400, "references are short-lived");
}

#[tokio::test]
async fn an_invalid_form_is_shown_again_and_a_second_registration_makes_no_second_team() {
    let m = market().await;
    let reference = m.fulfill("tok-1").await;
    let invalid = m
        .app
        .page(
            "POST",
            "/marketplace/register",
            &[
                ("ref", reference.as_str()),
                ("company", " "),
                ("contact_name", "Hank"),
                ("email", "not-an-email"),
            ],
        )
        .await;
    assert_eq!(invalid.status, 422);
    assert!(invalid.element("company-error").is_some() && invalid.element("email-error").is_some());
    assert!(invalid.html.contains("value=\"not-an-email\""));

    m.register(&reference).await;
    let again = m
        .app
        .page(
            "POST",
            "/marketplace/register",
            &[
                ("ref", reference.as_str()),
                ("company", "Globex 2"),
                ("contact_name", "Hank"),
                ("email", "h2@globex.example"),
            ],
        )
        .await;
    assert_eq!(again.status, 200);
    assert!(again.html.contains("Already registered"));
    let back = m.fulfill("tok-1").await;
    let page = m
        .app
        .page("GET", &format!("/marketplace/register?ref={back}"), &[])
        .await;
    assert!(page.html.contains("Already registered"), "{page:?}");
}

#[tokio::test]
async fn duplicated_and_out_of_order_notifications_change_nothing_and_bad_ones_fail_alone() {
    let m = market().await;
    let key = m.register(&m.fulfill("tok-1").await).await;
    let success = sns("subscribe-success", "CID-1", "2026-11-21T12:05:00Z");
    let late_fail = sns("subscribe-fail", "CID-1", "2026-11-21T12:00:00Z");
    let unknown = message(
        r#"{"Type":"Notification","Message":"{\"action\":\"subscribe-maybe\"}","Timestamp":"2026-11-21T12:00:00Z"}"#,
    );
    let malformed = message("not json at all");
    let bad_ids: Vec<String> = [&unknown, &malformed]
        .iter()
        .map(|m| m.message_id.clone().unwrap())
        .collect();
    let failed = m
        .deliver(vec![
            success.clone(),
            unknown,
            success,
            late_fail,
            malformed,
        ])
        .await;
    assert_eq!(
        failed, bad_ids,
        "only the unusable messages fail, for the DLQ"
    );
    assert_eq!(
        m.start(&key).await.status,
        202,
        "the older failure did not undo the subscription"
    );

    // A legacy-product customer never seen before is recorded, not lost.
    assert!(m
        .deliver(vec![sns(
            "subscribe-success",
            "CID-NEW",
            "2026-11-21T12:06:00Z"
        )])
        .await
        .is_empty());
}

#[tokio::test]
async fn eventbridge_agreement_and_license_events_move_the_subscription() {
    let m = market().await;
    let key = m.register(&m.fulfill("tok-1").await).await;
    let event = |detail_type: &str, at: &str, product: bool| {
        let mut detail = json!({"agreement": {"id": "agmt-1"}, "acceptor": {"accountId": ACCOUNT}, "proposer": {"accountId": "999988887777"}});
        if product {
            detail["product"] = json!({"code": PRODUCT, "id": "prod-x"});
            detail["license"] = json!({"arn": "arn:aws:license-manager::111122223333:license:l-1"});
        }
        message(&json!({"version": "0", "id": format!("{detail_type}-{at}"), "detail-type": detail_type,
                         "source": "aws.agreement-marketplace", "time": at, "region": "us-east-1", "detail": detail}).to_string())
    };
    assert!(m
        .deliver(vec![event(
            "License Updated - Manufacturer",
            "2026-11-21T12:01:00Z",
            true
        )])
        .await
        .is_empty());
    assert_eq!(m.start(&key).await.status, 202);
    assert!(m
        .deliver(vec![event(
            "Purchase Agreement Ended - Proposer",
            "2026-11-21T12:30:00Z",
            false
        )])
        .await
        .is_empty());
    assert_eq!(m.start(&key).await.code(), "subscription_inactive");
    let unknown_account = message(
        &json!({"id": "x", "detail-type": "Purchase Agreement Ended - Proposer",
        "source": "aws.agreement-marketplace", "time": "2026-11-21T12:31:00Z",
        "detail": {"agreement": {"id": "agmt-9"}, "acceptor": {"accountId": "444455556666"}}})
        .to_string(),
    );
    assert_eq!(
        m.deliver(vec![unknown_account]).await.len(),
        1,
        "an event for nobody goes to the DLQ"
    );
}

#[tokio::test]
async fn unprocessed_records_are_sent_again_and_stale_usage_is_marked_failed() {
    let m = market().await;
    m.register(&m.fulfill("tok-1").await).await;
    m.deliver(vec![sns(
        "subscribe-success",
        "CID-1",
        "2026-11-21T12:00:00Z",
    )])
    .await;
    m.fake.lock().unwrap().unprocess_next = 2;
    advance(&m.app, 60);
    let first = m.meter().await;
    assert_eq!((first.reported, first.unprocessed), (1, 2), "{first:?}");
    advance(&m.app, 60);
    let second = m.meter().await;
    assert_eq!(
        (second.sent, second.reported),
        (5, 5),
        "two retried, three new: {second:?}"
    );
    assert!(m
        .statuses("2026-11-21T12")
        .await
        .iter()
        .all(|(_, s, _)| *s == MeteringStatus::Reported));

    // Throttled: the records wait for the next run; then the job is down for 7 hours.
    m.fake.lock().unwrap().throttle_next = true;
    advance(&m.app, 60);
    assert_eq!(m.meter().await.unprocessed, 3);
    advance(&m.app, 7 * 60);
    let late = m.meter().await;
    assert!(late.failed >= 3, "{late:?}");
    let statuses = m.statuses("2026-11-21T14").await;
    assert!(
        statuses
            .iter()
            .all(|(_, s, _)| *s == MeteringStatus::Failed),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn one_run_meters_many_customers_in_batches_of_25() {
    let m = market().await;
    for n in 0..20 {
        let account = format!("2000000000{n:02}");
        m.fake.lock().unwrap().tokens.insert(
            format!("tok-{n}"),
            json!({"CustomerAWSAccountId": account, "ProductCode": PRODUCT}),
        );
        m.fulfill(&format!("tok-{n}")).await;
        let event = json!({"id": format!("e{n}"), "detail-type": "License Updated - Manufacturer",
            "source": "aws.agreement-marketplace", "time": "2026-11-21T12:00:00Z",
            "detail": {"agreement": {"id": format!("agmt-{n}")}, "acceptor": {"accountId": account},
                       "product": {"code": PRODUCT}}});
        assert!(m
            .deliver(vec![message(&event.to_string())])
            .await
            .is_empty());
    }
    m.fake
        .lock()
        .unwrap()
        .not_subscribed
        .insert("200000000019".into());
    advance(&m.app, 60);
    let report = m.meter().await;
    assert_eq!(
        (report.customers, report.sent, report.calls),
        (20, 60, 3),
        "{report:?}"
    );
    assert_eq!(report.not_subscribed, 3);
    let sizes: Vec<usize> = m
        .fake
        .lock()
        .unwrap()
        .meter_calls()
        .iter()
        .map(|c| c["UsageRecords"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [25, 25, 10]);
    let zero: Vec<Value> = m.fake.lock().unwrap().meter_calls()[0]["UsageRecords"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        zero.iter().all(|r| r["Quantity"] == 0),
        "an hour without usage is metered as 0"
    );
}

#[tokio::test]
async fn the_sdk_adapter_speaks_legacy_records_duplicates_and_paged_entitlements() {
    use vellocity::ports::marketplace::{
        EntitlementFilter, Marketplace, MeteredCustomer, RecordOutcome, UsageRecord,
    };
    let (addr, fake) = marketplace_endpoint::start().await;
    let adapter = AwsMarketplace::new(&marketplace_endpoint::sdk_config(addr).await);
    let record = |quantity| UsageRecord {
        customer: MeteredCustomer::Legacy("CID-OLD".into()),
        dimension: "words".into(),
        quantity,
        timestamp: time::macros::datetime!(2026-11-21 12:00 UTC),
    };
    let first = adapter
        .batch_meter_usage(PRODUCT, &[record(10)])
        .await
        .unwrap();
    assert!(matches!(first[0], RecordOutcome::Success(Some(_))));
    let sent = fake.lock().unwrap().meter_calls()[0]["UsageRecords"][0].clone();
    assert_eq!(sent["CustomerIdentifier"], "CID-OLD");
    assert!(sent.get("CustomerAWSAccountId").is_none());
    let again = adapter
        .batch_meter_usage(PRODUCT, &[record(11)])
        .await
        .unwrap();
    assert_eq!(again, [RecordOutcome::DuplicateRecord]);

    fake.lock().unwrap().entitlements.insert(
        ACCOUNT.into(),
        vec![
            json!({"Dimension": "seats", "Value": {"IntegerValue": 10}, "ExpirationDate": 1_830_000_000}),
            json!({"Dimension": "tier", "Value": {"StringValue": "gold"}}),
        ],
    );
    let entitlements = adapter
        .get_entitlements(PRODUCT, &EntitlementFilter::Account(ACCOUNT.into()))
        .await
        .unwrap();
    assert_eq!(entitlements.len(), 2, "read to the last page");
    assert_eq!(entitlements[0].value.as_deref(), Some("10"));
    assert_eq!(
        entitlements[0].expires_at.as_deref(),
        Some("2027-12-28T13:20:00Z")
    );
    assert_eq!(entitlements[1].value.as_deref(), Some("gold"));
    let requests = fake.lock().unwrap().requests.clone();
    let (_, last) = requests.last().unwrap();
    assert_eq!(last["Filter"]["CUSTOMER_AWS_ACCOUNT_ID"][0], ACCOUNT);
}

#[tokio::test]
async fn expired_entitlements_end_a_contract_and_a_free_trial_is_remembered() {
    use vellocity::app::keys;
    use vellocity::marketplace::customers;

    let m = market().await;
    let reference = m.fulfill_offer("tok-1", Some("free-trial")).await;
    let key = m.register(&reference).await;
    let customer = keys::marketplace_customer(PRODUCT, &format!("acct-{ACCOUNT}"));
    let stored = customers::find(m.stack_app(), &customer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.customer.offer_type.as_deref(), Some("free-trial"));

    let entitlement = |expires: i64| json!({"Dimension": "seats", "Value": {"IntegerValue": 5}, "ExpirationDate": expires});
    // 2026-12-21: current.
    m.fake
        .lock()
        .unwrap()
        .entitlements
        .insert(ACCOUNT.into(), vec![entitlement(1_797_854_400)]);
    assert!(m
        .deliver(vec![sns(
            "entitlement-updated",
            "CID-1",
            "2026-11-21T12:01:00Z"
        )])
        .await
        .is_empty());
    assert_eq!(
        m.start(&key).await.status,
        202,
        "a current contract may run executions"
    );
    // 2026-11-01: expired.
    m.fake
        .lock()
        .unwrap()
        .entitlements
        .insert(ACCOUNT.into(), vec![entitlement(1_793_491_200)]);
    assert!(m
        .deliver(vec![sns(
            "entitlement-updated",
            "CID-1",
            "2026-11-21T12:02:00Z"
        )])
        .await
        .is_empty());
    assert_eq!(m.start(&key).await.code(), "subscription_inactive");
    let stored = customers::find(m.stack_app(), &customer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.customer.entitlements[0].expires_at.as_deref(),
        Some("2026-11-01T00:00:00Z")
    );
}

#[tokio::test]
async fn a_batch_marketplace_refuses_is_marked_failed_with_the_reason_and_not_sent_again() {
    let m = market().await;
    m.register(&m.fulfill("tok-1").await).await;
    m.deliver(vec![sns(
        "subscribe-success",
        "CID-1",
        "2026-11-21T12:00:00Z",
    )])
    .await;
    m.fake.lock().unwrap().refuse_next = Some("InvalidUsageDimensionException");
    advance(&m.app, 60);
    let report = m.meter().await;
    assert_eq!(
        (report.sent, report.failed, report.reported),
        (3, 3, 0),
        "{report:?}"
    );
    let records = metering::records_of_hour(m.stack_app(), "2026-11-21T12")
        .await
        .unwrap();
    assert!(records.iter().all(|r| r.status == MeteringStatus::Failed
        && r.reason
            .as_deref()
            .is_some_and(|why| why.contains("InvalidUsageDimensionException"))));
    advance(&m.app, 60);
    let next = m.meter().await;
    assert_eq!(
        (next.sent, next.reported),
        (3, 3),
        "only the new hour is sent: {next:?}"
    );
}
