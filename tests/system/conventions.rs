//! Conventions every route shares: the envelope, body and query parsing, idempotency.

use serde_json::json;

use crate::helpers::TestApp;
use crate::http_client::raw;

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let missing = app.get(&team.key, "/v1/nothing").await;
    assert_eq!((missing.status, missing.code()), (404, "route_not_found"));
    let method = app.call("PUT", "/v1/companies", &team.key, None).await;
    assert_eq!((method.status, method.code()), (405, "method_not_allowed"));
    assert!(method.body["error"]["request_id"]
        .as_str()
        .unwrap()
        .starts_with("local-"));
}

#[tokio::test]
async fn bodies_must_be_json_within_the_limit() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let auth = format!("Bearer {}", team.key);
    let json_type = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];

    let malformed = app
        .send("POST", "/v1/companies", &json_type, b"{\"name\": ".to_vec())
        .await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (400, "malformed_json")
    );
    assert!(malformed.message().contains("line 1"));

    let not_object = app
        .send("POST", "/v1/companies", &json_type, b"[1,2]".to_vec())
        .await;
    assert_eq!(not_object.status, 400);

    let empty = app
        .send("POST", "/v1/companies", &json_type, Vec::new())
        .await;
    assert_eq!((empty.status, empty.code()), (400, "missing_body"));

    let text = [
        ("authorization", auth.as_str()),
        ("content-type", "text/plain"),
    ];
    let wrong_type = app
        .send("POST", "/v1/companies", &text, b"{\"name\":\"A\"}".to_vec())
        .await;
    assert_eq!(
        (wrong_type.status, wrong_type.code()),
        (415, "unsupported_media_type")
    );

    let huge =
        serde_json::to_vec(&json!({"name": "A", "description": "x".repeat(300 * 1024)})).unwrap();
    let too_large = app.send("POST", "/v1/companies", &json_type, huge).await;
    assert_eq!(
        (too_large.status, too_large.code()),
        (413, "payload_too_large")
    );
    assert!(too_large.message().contains("256 KB"));

    assert_eq!(
        app.get(&team.key, "/v1/companies").await.body["items"],
        json!([]),
        "nothing was written"
    );
}

#[tokio::test]
async fn query_parameters_are_checked() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "cursor=%%%",
        "cursor=eyJhIjoxfQ",
        "sort=name",
        "limit=1&limit=2",
    ] {
        let response = app.get(&team.key, &format!("/v1/companies?{query}")).await;
        assert_eq!(response.status, 400, "{query}: {response:?}");
    }
    assert_eq!(app.get(&team.key, "/v1/team?x=1").await.status, 400);
}

#[tokio::test]
async fn a_cursor_from_another_team_reads_nothing_of_theirs() {
    let app = TestApp::new();
    let ours = app.create_team("Ours").await;
    let theirs = app.create_team("Theirs").await;
    for name in ["A", "B", "C"] {
        app.post_company(&theirs.key, name).await;
    }
    let their_page = app.get(&theirs.key, "/v1/companies?limit=1").await;
    let cursor = their_page.body["next_cursor"].as_str().unwrap();
    let response = app
        .get(&ours.key, &format!("/v1/companies?cursor={cursor}"))
        .await;
    assert_eq!((response.status, response.code()), (400, "invalid_cursor"));
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let post = |body| app.post_once(&team.key, "/v1/companies", "create-acme-1", body);
    let first = post(r#"{"name":"Acme"}"#).await;
    let second = post(r#"{"name":"Acme"}"#).await;
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 201);
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        app.get(&team.key, "/v1/companies").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "created once"
    );

    let different = post(r#"{"name":"Other"}"#).await;
    assert_eq!(
        (different.status, different.code()),
        (422, "idempotency_key_reused")
    );
}

#[tokio::test]
async fn an_idempotency_key_expires_after_a_day_and_is_scoped_to_the_team() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let other = app.create_team("Other").await;
    let send = |key| app.post_once(key, "/v1/companies", "k1", r#"{"name":"Acme"}"#);
    let first = send(&team.key).await;
    let theirs = send(&other.key).await;
    assert_ne!(
        first.body["id"], theirs.body["id"],
        "another team's key space"
    );
    app.clock.advance(time::Duration::hours(25));
    let later = send(&team.key).await;
    assert_eq!(later.status, 201);
    assert_ne!(
        later.body["id"], first.body["id"],
        "a day later the key is fresh"
    );
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_refused_and_nothing_is_created() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let long = "k".repeat(256);
    for key in [long.as_str(), "caf\u{e9}-1", "two words", ""] {
        let response = app
            .post_once(&team.key, "/v1/companies", key, r#"{"name":"A"}"#)
            .await;
        assert_eq!(
            (response.status, response.code()),
            (400, "invalid_idempotency_key"),
            "{key:?}"
        );
    }
    let listed = app.get(&team.key, "/v1/companies").await;
    assert_eq!(listed.body["items"], json!([]));
}

#[tokio::test]
async fn an_idempotency_key_means_one_request_and_is_refused_on_another_path() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let agent = json!({"name": "Writer", "allowed_capabilities": ["summarize"]});
    let (first, second) = (
        app.post_agent(&team.key, agent.clone()).await,
        app.post_agent(&team.key, agent).await,
    );
    let body = r#"{"request":"Summarise the launch"}"#;
    let start = |agent: &str| format!("/v1/agents/{agent}/executions");
    let started = app
        .post_once(&team.key, &start(&first), "launch-1", body)
        .await;
    assert_eq!(started.status, 202, "{started:?}");
    let elsewhere = app
        .post_once(&team.key, &start(&second), "launch-1", body)
        .await;
    assert_eq!(
        (elsewhere.status, elsewhere.code()),
        (422, "idempotency_key_reused"),
        "{elsewhere:?}"
    );
    assert!(elsewhere.header("idempotent-replayed").is_none());
    let other_route = app
        .post_once(&team.key, "/v1/companies", "launch-1", r#"{"name":"A"}"#)
        .await;
    assert_eq!(other_route.code(), "idempotency_key_reused");
    let listed = app.get(&team.key, "/v1/executions").await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "one execution"
    );
}

#[tokio::test]
async fn a_duplicate_while_the_first_request_runs_is_refused_and_a_failed_one_can_be_retried() {
    use vellocity::app::idempotency::{self, Begin};
    use vellocity::app::Caller;
    use vellocity::domain::access::Role;
    use vellocity::domain::ids::{TeamId, UserId};
    use vellocity::domain::validation::Email;

    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let caller = Caller {
        team_id: TeamId::parse(&team.id).unwrap(),
        user_id: UserId::for_email(&Email::parse("owner@example.com").unwrap()),
        role: Role::Owner,
        scopes: crate::helpers::ALL_SCOPES.to_vec(),
        credential: "test".into(),
        request_id: None,
    };
    let begin = || {
        idempotency::begin(
            &app.stack.app,
            &caller,
            ("POST", "/v1/companies"),
            "k-1",
            br#"{"name":"A"}"#,
        )
    };
    let Begin::Proceed(claim) = begin().await.unwrap() else {
        panic!("the first request runs");
    };
    let duplicate = begin().await.unwrap_err();
    assert!(matches!(
        duplicate,
        vellocity::error::Error::Conflict {
            kind: vellocity::error::Conflict::IdempotencyInProgress,
            ..
        }
    ));
    // A failure on our side releases the claim, so the client's retry runs.
    idempotency::abandon(&app.stack.app, claim).await;
    assert!(matches!(begin().await.unwrap(), Begin::Proceed(_)));
    // A claim whose process died (never finished, never released) lapses after a few minutes.
    assert!(begin().await.is_err(), "held while it may still run");
    app.clock
        .advance(idempotency::CLAIM_HOLD + time::Duration::seconds(1));
    assert!(matches!(begin().await.unwrap(), Begin::Proceed(_)));
}

#[tokio::test]
async fn an_array_where_an_object_belongs_is_a_wrong_type_naming_the_field() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let company = app.post_company(&team.key, "Acme").await;
    let cases = [
        (
            "POST",
            "/v1/companies".to_owned(),
            json!({"name": "A", "privacy": [true, false]}),
            "privacy",
        ),
        (
            "POST",
            "/v1/companies".to_owned(),
            json!({"name": "A", "brand_voice": ["calm", "warm"]}),
            "brand_voice",
        ),
        (
            "PATCH",
            format!("/v1/companies/{company}"),
            json!({"brand_voice": ["calm"]}),
            "brand_voice",
        ),
        (
            "POST",
            "/v1/partners".to_owned(),
            json!({"name": "P", "contact": ["Ann", "ann@example.com"]}),
            "contact",
        ),
        (
            "POST",
            "/v1/agents".to_owned(),
            json!({"name": "W", "allowed_capabilities": ["summarize"], "models": ["m"]}),
            "models",
        ),
        (
            "PATCH",
            "/v1/team".to_owned(),
            json!({"privacy_defaults": [true]}),
            "privacy_defaults",
        ),
    ];
    for (method, path, body, field) in cases {
        let refused = app.call(method, &path, &team.key, Some(body)).await;
        assert_eq!(
            (refused.status, refused.code()),
            (400, "invalid_body"),
            "{path}: {refused:?}"
        );
        assert_eq!(refused.fields(), [field], "{path}: {refused:?}");
    }
    let companies = app.get(&team.key, "/v1/companies").await;
    assert_eq!(
        companies.body["items"].as_array().unwrap().len(),
        1,
        "nothing written"
    );
    let read = app
        .get(&team.key, &format!("/v1/companies/{company}"))
        .await;
    assert!(read.body["brand_voice"].is_object());
}

#[tokio::test]
async fn a_method_a_path_does_not_have_answers_405_with_the_allowed_ones() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let response = app.call("PUT", "/v1/companies", &team.key, None).await;
    assert_eq!(
        (response.status, response.code()),
        (405, "method_not_allowed")
    );
    assert_eq!(response.header("allow"), Some("GET, POST"));
    let one = app.call("POST", "/v1/team", &team.key, None).await;
    assert_eq!(one.header("allow"), Some("GET, PATCH"));
}

/// The envelope's request id and the `x-request-id` header of an answer over HTTP.
fn request_ids(head: &str, body: &str) -> (String, String) {
    let envelope: serde_json::Value = serde_json::from_str(body).expect("a JSON envelope");
    let header = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap_or_default();
    (
        envelope["error"]["request_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        header.to_owned(),
    )
}

#[tokio::test]
async fn what_the_http_server_refuses_before_routing_answers_in_the_envelope_with_its_own_request_id(
) {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let addr = app.serve().await;
    let huge_header = format!("X-Padding: {}\r\n", "p".repeat(40 * 1024));
    let many_headers: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let big_body = format!("{{\"name\":\"{}\"}}", "x".repeat(300 * 1024));
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (format!("GET /v1/team HTTP/1.1\r\nHost: x\r\n{huge_header}\r\n").into_bytes(), 431, "request_header_fields_too_large"),
        (format!("GET /v1/team HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(), 431, "request_header_fields_too_large"),
        (b"GET /v1/team HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n".to_vec(), 400, "malformed_request"),
        (b"GET /v1/team HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n".to_vec(), 400, "malformed_request"),
        (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), 400, "malformed_request"),
        (b"POST /v1/companies HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(), 400, "malformed_request"),
        (b"POST /v1/companies HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(), 400, "malformed_request"),
        (b"POST /v1/companies HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}".to_vec(), 400, "malformed_request"),
        (format!("POST /v1/companies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{big_body}", team.key, big_body.len()).into_bytes(), 413, "payload_too_large"),
    ];
    let mut seen = std::collections::HashSet::new();
    for (request, status, code) in cases {
        let (answered, head, body) = raw(addr, &request).await.unwrap();
        assert_eq!(answered, status, "{head}\n{body}");
        let envelope: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(envelope["error"]["code"], code, "{body}");
        let (in_body, in_header) = request_ids(&head, &body);
        assert!(
            in_body.starts_with("local-") && in_body == in_header,
            "{head}\n{body}"
        );
        assert!(seen.insert(in_body), "every answer has its own request id");
    }
    let (status, _, _) = raw(
        addr,
        format!(
            "GET /v1/team HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
            team.key
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "a request that passes reaches the API");
}
