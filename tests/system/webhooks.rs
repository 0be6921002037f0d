//! Outbound webhooks through the local stack: events reach the endpoints that want them,
//! signed so that an independent Standard Webhooks implementation (the `standardwebhooks`
//! crate) accepts them; failed attempts are retried on the schedule with the same
//! `webhook-id`; a 410 disables the endpoint; every SSRF target is refused; a team never
//! receives another team's events.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{Response, TestApp, TestTeam};
use crate::http_endpoint::{serve, Reply};

/// A receiver on loopback: keeps every request, answers with the scripted statuses (then 200);
/// a 503 asks for the next attempt in one second (`Retry-After: 1`).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(http::HeaderMap, String)>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> (Receiver, SocketAddr) {
        let receiver = Receiver::default();
        receiver.script.lock().unwrap().extend(script);
        let kept = receiver.clone();
        let addr = serve(move |parts, body: &Bytes| {
            let text = String::from_utf8_lossy(body).into_owned();
            kept.got.lock().unwrap().push((parts.headers.clone(), text));
            let status = kept.script.lock().unwrap().pop_front().unwrap_or(200);
            let mut reply = Reply::new(Full::new(Bytes::new()));
            *reply.status_mut() = http::StatusCode::from_u16(status).unwrap();
            if status == 503 {
                reply
                    .headers_mut()
                    .insert("retry-after", http::HeaderValue::from_static("1"));
            }
            reply
        })
        .await;
        (receiver, addr)
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Waits (up to five seconds) until `n` requests have come; returns them.
    async fn wait_for(&self, n: usize) -> Vec<(http::HeaderMap, String)> {
        for _ in 0..500 {
            if self.count() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let got = self.got.lock().unwrap().clone();
        assert!(got.len() >= n, "{} of {n} requests came", got.len());
        got
    }
}

/// Registers an endpoint for `events` at the receiver; returns its id and secret.
async fn register(
    app: &TestApp,
    team: &TestTeam,
    addr: SocketAddr,
    events: Value,
) -> (String, String) {
    let created = app
        .post(
            &team.key,
            "/v1/webhooks",
            json!({"url": format!("http://{addr}/hooks"), "events": events}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    (
        created.body["id"].as_str().unwrap().to_owned(),
        created.body["secret"].as_str().unwrap().to_owned(),
    )
}

/// `POST /v1/webhooks/{webhook}/test` with `key`.
async fn send_test(app: &TestApp, key: &str, webhook: &str) -> Response {
    app.post(key, &format!("/v1/webhooks/{webhook}/test"), json!({}))
        .await
}

async fn deliveries(app: &TestApp, team: &TestTeam, webhook: &str) -> Response {
    app.get(&team.key, &format!("/v1/webhooks/{webhook}/deliveries"))
        .await
}

#[tokio::test]
async fn a_succeeded_execution_is_delivered_once_signed_as_standard_webhooks_verify() {
    let app = TestApp::with_local_webhooks();
    let team = app.create_team("Acme").await;
    let (receiver, addr) = Receiver::start(&[]).await;
    let (webhook, secret) = register(&app, &team, addr, json!(["execution.succeeded"])).await;
    assert!(secret.starts_with("whsec_"));
    let shown = app.get(&team.key, &format!("/v1/webhooks/{webhook}")).await;
    assert!(
        !shown.body.to_string().contains(&secret),
        "the secret is shown once"
    );

    let execution = app.run_summary(&team.key, "Summarise").await.1;
    let got = receiver.wait_for(1).await;
    let (headers, body) = &got[0];
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(body.as_bytes(), headers)
        .expect("the independent verifier accepts the signature");
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "execution.succeeded");
    assert_eq!(event["data"]["execution_id"], execution.as_str());
    assert_eq!(headers["webhook-id"], event["id"].as_str().unwrap());
    assert_eq!(headers["content-type"], "application/json");

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), 1, "delivered once, no other event type");
    let listed = deliveries(&app, &team, &webhook).await;
    let delivery = &listed.body["items"][0];
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["attempts"][0]["status_code"], 200);
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_same_message_on_the_third_attempt() {
    let app = TestApp::with_local_webhooks();
    let team = app.create_team("Acme").await;
    let (receiver, addr) = Receiver::start(&[500, 500]).await;
    let (webhook, _) = register(&app, &team, addr, json!(["execution.succeeded"])).await;
    app.run_summary(&team.key, "Summarise").await;
    receiver.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(receiver.count(), 1, "the retry waits for its delay (5 s)");
    app.clock.advance(Duration::seconds(6));
    receiver.wait_for(2).await;
    app.clock.advance(Duration::minutes(6));
    let got = receiver.wait_for(3).await;
    let ids: Vec<&str> = got
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let bodies: Vec<&str> = got.iter().map(|(_, b)| b.as_str()).collect();
    assert!(bodies.iter().all(|b| *b == bodies[0]));

    let listed = deliveries(&app, &team, &webhook).await;
    let delivery = &listed.body["items"][0];
    assert_eq!(delivery["status"], "delivered");
    let codes: Vec<Value> = delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, [json!(500), json!(500), json!(200)]);
}

#[tokio::test]
async fn a_410_disables_the_endpoint_at_once_and_says_so() {
    let app = TestApp::with_local_webhooks();
    let team = app.create_team("Acme").await;
    let (receiver, addr) = Receiver::start(&[410]).await;
    let (webhook, _) = register(&app, &team, addr, json!(["*"])).await;
    let tested = send_test(&app, &team.key, &webhook).await;
    assert_eq!(tested.status, 202, "{tested:?}");
    receiver.wait_for(1).await;
    let mut endpoint = Value::Null;
    for _ in 0..200 {
        endpoint = app
            .get(&team.key, &format!("/v1/webhooks/{webhook}"))
            .await
            .body;
        if endpoint["enabled"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(endpoint["enabled"], false, "{endpoint}");
    assert_eq!(
        endpoint["disabled_reason"],
        "The receiver answered 410 Gone."
    );
    let events = crate::events::events_of(&app, &team).await;
    assert!(
        events
            .iter()
            .any(|(kind, e)| kind == "webhook.disabled"
                && e["data"]["webhook_id"] == webhook.as_str())
    );

    send_test(&app, &team.key, &webhook).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), 1, "a disabled endpoint receives nothing");
    let enabled = app
        .patch(
            &team.key,
            &format!("/v1/webhooks/{webhook}"),
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(
        (
            enabled.body["enabled"].clone(),
            enabled.body["disabled_reason"].clone()
        ),
        (json!(true), Value::Null)
    );
}

#[tokio::test]
async fn a_rotated_secret_and_the_old_one_both_sign_for_a_day() {
    let app = TestApp::with_local_webhooks();
    let team = app.create_team("Acme").await;
    let (receiver, addr) = Receiver::start(&[]).await;
    let (webhook, old) = register(&app, &team, addr, json!(["webhook.test"])).await;
    let rotated = app
        .post(
            &team.key,
            &format!("/v1/webhooks/{webhook}/rotate-secret"),
            json!({}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    send_test(&app, &team.key, &webhook).await;
    let got = receiver.wait_for(1).await;
    let (headers, body) = &got[0];
    assert_eq!(
        headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    for secret in [&old, &new] {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(body.as_bytes(), headers)
            .unwrap();
    }
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        (event["type"].clone(), event["data"]["webhook_id"].clone()),
        (json!("webhook.test"), json!(webhook))
    );
}

#[tokio::test]
async fn a_team_never_receives_another_teams_events_nor_another_endpoints_test() {
    let app = TestApp::with_local_webhooks();
    let ours = app.create_team("Acme").await;
    let theirs = app.create_team("Other").await;
    let (our_receiver, our_addr) = Receiver::start(&[]).await;
    let (their_receiver, their_addr) = Receiver::start(&[]).await;
    register(&app, &ours, our_addr, json!(["*"])).await;
    let (their_webhook, _) = register(&app, &theirs, their_addr, json!(["*"])).await;
    app.run_summary(&ours.key, "Summarise").await;
    our_receiver.wait_for(5).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for (_, body) in their_receiver.got.lock().unwrap().iter() {
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            event["team_id"],
            theirs.id.as_str(),
            "only their own events: {event}"
        );
    }
    let foreign = send_test(&app, &ours.key, &their_webhook).await;
    assert_eq!(foreign.status, 404);
    for (_, body) in our_receiver.got.lock().unwrap().iter() {
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["team_id"], ours.id.as_str());
    }
}

#[tokio::test]
async fn every_ssrf_target_is_refused_at_registration() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let refused = [
        "http://hooks.example.com/in",
        "ftp://hooks.example.com/in",
        "https://user:secret@hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://127.8.9.10/in",
        "https://localhost/in",
        "https://10.1.2.3/in",
        "https://172.16.0.1/in",
        "https://172.31.255.255/in",
        "https://192.168.1.1/in",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/in",
        "https://100.127.255.254/in",
        "https://224.0.0.1/in",
        "https://239.255.255.250/in",
        "https://0.0.0.0/in",
        "https://255.255.255.255/in",
        "https://2130706433/in",
        "https://0x7f000001/in",
        "https://0x7f.0.0.1/in",
        "https://0177.0.0.1/in",
        "https://127.1/in",
        "https://[::1]/in",
        "https://[::]/in",
        "https://[fe80::1]/in",
        "https://[fc00::1]/in",
        "https://[fd00:ec2::254]/in",
        "https://[ff02::1]/in",
        "https://[::ffff:127.0.0.1]/in",
        "https://[::ffff:169.254.169.254]/in",
        "https://[::ffff:a9fe:a9fe]/in",
        "https://[64:ff9b::a9fe:a9fe]/in",
        "https://[2002:a9fe:a9fe::1]/in",
        "https://[::127.0.0.1]/in",
        "http://127.0.0.1:8080/in",
    ];
    for url in refused {
        let answer = app
            .post(
                &team.key,
                "/v1/webhooks",
                json!({"url": url, "events": ["*"]}),
            )
            .await;
        assert_eq!(
            (answer.status, answer.fields()),
            (422, vec!["url".to_owned()]),
            "{url}: {answer:?}"
        );
    }
    assert_eq!(
        app.get(&team.key, "/v1/webhooks").await.body["items"],
        json!([])
    );

    let local = TestApp::with_local_webhooks();
    let team = local.create_team("Acme").await;
    for (url, status) in [
        ("http://127.0.0.1:8080/in", 201),
        ("http://10.0.0.1/in", 422),
        ("http://[::ffff:10.0.0.1]/in", 422),
    ] {
        let answer = local
            .post(
                &team.key,
                "/v1/webhooks",
                json!({"url": url, "events": ["*"]}),
            )
            .await;
        assert_eq!(
            answer.status, status,
            "{url} with loopback allowed: {answer:?}"
        );
    }
}

#[tokio::test]
async fn only_admins_manage_webhooks_and_bad_endpoints_are_refused_by_field() {
    let app = TestApp::with_local_webhooks();
    let team = app.create_team("Acme").await;
    let mia = app.writer_key(&team, "mia@example.com").await;
    let body = json!({"url": "http://127.0.0.1:9/in", "events": ["*"]});
    assert_eq!(
        app.post(&mia, "/v1/webhooks", body.clone()).await.status,
        403
    );
    assert_eq!(app.get(&mia, "/v1/webhooks").await.status, 403);
    for (bad, field) in [
        (
            json!({"url": "http://127.0.0.1:9/in", "events": []}),
            "events",
        ),
        (
            json!({"url": "http://127.0.0.1:9/in", "events": ["execution.exploded"]}),
            "events[0]",
        ),
        (json!({"url": "not a url", "events": ["*"]}), "url"),
    ] {
        let answer = app.post(&team.key, "/v1/webhooks", bad).await;
        assert_eq!(
            (answer.status, answer.fields()),
            (422, vec![field.to_owned()])
        );
    }
    let unknown = app
        .post(
            &team.key,
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/in", "events": ["*"], "retries": 3}),
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (400, "invalid_body"));
}

#[tokio::test]
async fn an_endpoint_failing_every_attempt_for_five_days_is_disabled_and_an_event_says_so() {
    let app = TestApp::with_local_webhooks();
    let team = app.create_team("Acme").await;
    let (receiver, addr) = Receiver::start(&[500; 20]).await;
    let (webhook, _) = register(&app, &team, addr, json!(["webhook.test"])).await;
    send_test(&app, &team.key, &webhook).await;
    receiver.wait_for(1).await;
    let path = format!("/v1/webhooks/{webhook}");
    let failing = app.get(&team.key, &path).await.body;
    assert!(
        failing["failing_since"].is_string() && failing["enabled"] == true,
        "{failing}"
    );

    app.clock.advance(Duration::days(5) + Duration::seconds(10));
    receiver.wait_for(2).await;
    let mut endpoint = Value::Null;
    for _ in 0..200 {
        endpoint = app.get(&team.key, &path).await.body;
        if endpoint["enabled"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        endpoint["disabled_reason"], "Every attempt failed for five days.",
        "{endpoint}"
    );
    let events = crate::events::events_of(&app, &team).await;
    assert!(events.iter().any(|(kind, _)| kind == "webhook.disabled"));
}

#[tokio::test]
async fn events_recorded_while_no_relay_runs_are_delivered_after_a_restart() {
    use vellocity_local::Stack;

    let dir = std::env::temp_dir().join(format!("vellocity-relay-{}", ulid::Ulid::new()));
    let (receiver, addr) = Receiver::start(&[]).await;
    let open = || {
        let mut stack = Stack::open(&dir).unwrap();
        stack.app.allow_loopback_webhooks = true;
        stack
    };
    // An admin command's stack: it records events but runs no relay.
    let first = open();
    let created = vellocity::app::teams::create_team(&first.app, "Acme", "owner@example.com")
        .await
        .unwrap();
    let key = created.key.secret;
    let url = format!("http://{addr}/hooks");
    let hooked = crate::helpers::call(
        &first,
        "POST",
        "/v1/webhooks",
        &key,
        Some(json!({"url": url, "events": ["company.created"]})),
    )
    .await;
    assert_eq!(hooked.status, 201, "{hooked:?}");
    let company = crate::helpers::call(
        &first,
        "POST",
        "/v1/companies",
        &key,
        Some(json!({"name": "Acme Cloud"})),
    )
    .await;
    assert_eq!(company.status, 201);
    drop(first);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(receiver.count(), 0, "nothing delivered yet");

    let server = open();
    server.resume().await.unwrap();
    let got = receiver.wait_for(1).await;
    let event: Value = serde_json::from_str(&got[0].1).unwrap();
    assert_eq!(event["type"], "company.created");
    assert_eq!(event["data"]["company_id"], company.body["id"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_retry_after_sets_the_next_attempt_and_a_replay_sends_the_same_message_again() {
    let app = TestApp::with_local_webhooks();
    let team = app.create_team("Acme").await;
    let (receiver, addr) = Receiver::start(&[503]).await;
    let (webhook, secret) = register(&app, &team, addr, json!(["webhook.test"])).await;
    send_test(&app, &team.key, &webhook).await;
    receiver.wait_for(1).await;
    // The schedule's first delay is 5 s (at least 4.5 with jitter); the receiver asked for 1.
    app.clock.advance(Duration::seconds(2));
    receiver.wait_for(2).await;
    let listed = deliveries(&app, &team, &webhook).await;
    let delivery = listed.body["items"][0].clone();
    let delivery_id = delivery["id"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        if deliveries(&app, &team, &webhook).await.body["items"][0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let replay = format!("/v1/webhooks/{webhook}/deliveries/{delivery_id}/replay");
    let replayed = app.post(&team.key, &replay, json!({})).await;
    assert_eq!(
        (replayed.status, replayed.body["status"].clone()),
        (202, json!("pending")),
        "{replayed:?}"
    );
    let got = receiver.wait_for(3).await;
    let ids: Vec<&str> = got
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [delivery_id.as_str(); 3],
        "one message, three attempts"
    );
    let (headers, body) = &got[2];
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(body.as_bytes(), headers)
        .expect("a replay is signed afresh");
    let mut attempts = Vec::new();
    for _ in 0..200 {
        let now = deliveries(&app, &team, &webhook).await.body["items"][0].clone();
        attempts = now["attempts"].as_array().unwrap().clone();
        if now["status"] == "delivered" && attempts.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let codes: Vec<Value> = attempts.iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(503), json!(200), json!(200)]);
    let unknown = app
        .post(
            &team.key,
            &format!("/v1/webhooks/{webhook}/deliveries/evt_00000000000000000000000000/replay"),
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, 404);
}
