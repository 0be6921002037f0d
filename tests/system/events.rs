//! Domain events: each change worth telling is recorded as an event in the transaction that
//! makes it (an outbox item), with thin data, and a refused change records none. The
//! embedded table also keeps them in its events feed, in order, until acknowledged.

use serde_json::{json, Value};
use vellocity::app::items::value_to_json;
use vellocity::domain::access::{Role, Scope};
use vellocity::ports::table::{Index, Query, Value as Attribute};

use crate::helpers::{user_id_of, TestApp, TestTeam};

/// The team's events in the order they happened: (type, the whole event).
pub async fn events_of(app: &TestApp, team: &TestTeam) -> Vec<(String, Value)> {
    let query = Query::prefix(Index::Table, format!("TEAM#{}", team.id), "EVENT#");
    let items = vellocity::app::records::query_all(app.stack.app.table.as_ref(), query)
        .await
        .unwrap();
    items
        .into_iter()
        .map(|item| {
            let event = value_to_json(&Attribute::M(item))["event"].clone();
            assert_eq!(event["team_id"], team.id.as_str());
            (event["type"].as_str().unwrap().to_owned(), event)
        })
        .collect()
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(kind, _)| kind.as_str()).collect()
}

#[tokio::test]
async fn an_execution_tells_each_change_from_queued_to_its_settlement() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let agent = app
        .post_agent(
            &team.key,
            json!({"name": "Writer", "allowed_capabilities": ["summarize", "analyze_content"]}),
        )
        .await;
    let started = app
        .start_execution(
            &team.key,
            &agent,
            json!({"request": "Summarise and analyze our notes"}),
        )
        .await;
    let id = started.body["id"].as_str().unwrap().to_owned();
    let done = app.wait_for(&team.key, &id, "succeeded").await;
    let steps = done.body["plan"].as_array().unwrap().len();

    let events: Vec<_> = events_of(&app, &team)
        .await
        .into_iter()
        .filter(|(kind, _)| kind.starts_with("execution."))
        .collect();
    let mut expected = vec!["execution.queued", "execution.started", "execution.planned"];
    expected.extend(std::iter::repeat_n("execution.step_succeeded", steps));
    expected.push("execution.succeeded");
    assert_eq!(types(&events), expected);
    for (_, event) in &events {
        let data = &event["data"];
        assert_eq!(data["execution_id"], id.as_str());
        assert!(
            data.get("output").is_none() && data.get("request").is_none(),
            "thin data: {data}"
        );
    }
    let settled = &events.last().unwrap().1["data"];
    assert_eq!(settled["credits"], done.body["credits"]);
    assert_eq!(settled["status"], "succeeded");
}

#[tokio::test]
async fn a_cancel_is_told_with_who_did_it_and_a_refused_start_tells_nothing() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let careful = app
        .post_agent(&team.key, json!({"name": "Careful", "allowed_capabilities": ["summarize"], "requires_approval": true}))
        .await;
    let started = app
        .start_execution(&team.key, &careful, json!({"request": "Summarise"}))
        .await;
    let id = started.body["id"].as_str().unwrap().to_owned();
    app.wait_for(&team.key, &id, "awaiting_approval").await;
    let cancelled = app
        .post(&team.key, &format!("/v1/executions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    let events = events_of(&app, &team).await;
    assert_eq!(
        types(&events),
        [
            "agent.created",
            "execution.queued",
            "execution.started",
            "execution.planned",
            "execution.awaiting_approval",
            "execution.cancelled"
        ]
    );

    vellocity::app::credits::adjust(
        &app.stack.app,
        &vellocity::domain::ids::TeamId::parse(&team.id).unwrap(),
        -195,
        "Test",
    )
    .await
    .unwrap();
    let refused = app
        .start_execution(&team.key, &careful, json!({"request": "Summarise"}))
        .await;
    assert_eq!(refused.status, 402);
    assert_eq!(
        events_of(&app, &team).await.len(),
        events.len(),
        "no event without its change"
    );
}

#[tokio::test]
async fn members_and_api_keys_tell_their_changes_without_personal_data() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let mia = user_id_of("mia@example.com");
    app.member_key(&team, "mia@example.com", Role::Member, &[Scope::Read])
        .await;
    let path = format!("/v1/members/{mia}");
    assert_eq!(
        app.patch(&team.key, &path, json!({"role": "viewer"}))
            .await
            .status,
        200
    );
    assert_eq!(app.delete(&team.key, &path).await.status, 204);

    let events = events_of(&app, &team).await;
    assert_eq!(
        types(&events),
        [
            "member.invited",
            "api_key.created",
            "member.changed",
            "member.removed",
            "api_key.revoked"
        ]
    );
    assert_eq!(events[2].1["data"]["previous_role"], "member");
    assert_eq!(events[2].1["data"]["role"], "viewer");
    assert_eq!(
        events[4].1["data"]["reason"],
        "Its creator was removed from the team."
    );
    let text = serde_json::to_string(&events).unwrap();
    assert!(
        !text.contains("mia@example.com"),
        "events carry ids, not addresses"
    );
}

#[tokio::test]
async fn the_embedded_tables_feed_keeps_every_event_in_order_until_acknowledged() {
    use vellocity::app::{events, records};
    use vellocity::ports::table::Table;

    // A bare table: no relay reads its feed.
    let table = vellocity::local::table::EmbeddedTable::in_memory();
    let team = vellocity::domain::ids::TeamId::generate();
    let at = time::macros::datetime!(2026-11-21 12:00 UTC);
    let writes = ["member.invited", "api_key.created"]
        .iter()
        .map(|kind| events::record(&team, kind, None, json!({}), at).unwrap().1)
        .collect();
    records::commit(&table, writes).await.unwrap();
    let feed = table
        .events_feed()
        .expect("the embedded table keeps a feed");
    let pending = feed.pending(10).await.unwrap();
    let kinds: Vec<Value> = pending
        .iter()
        .map(|(_, item)| value_to_json(&Attribute::M(item.clone()))["event"]["type"].clone())
        .collect();
    assert_eq!(kinds, [json!("member.invited"), json!("api_key.created")]);
    feed.acknowledge(pending[0].0).await.unwrap();
    let left = feed.pending(10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, pending[1].0);
}

#[test]
fn the_published_event_schema_is_the_one_the_code_makes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/events.schema.json");
    let made =
        serde_json::to_string_pretty(&vellocity::domain::events::json_schema()).unwrap() + "\n";
    if std::env::var_os("VELLOCITY_WRITE_DOCS").is_some() {
        std::fs::write(&path, &made).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == made,
        "docs/events.schema.json is out of date: VELLOCITY_WRITE_DOCS=1 cargo test --test system the_published_event_schema"
    );
}

#[tokio::test]
async fn every_recorded_event_has_the_published_shape() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    app.run_summary(&team.key, "Summarise").await;
    app.member_key(&team, "mia@example.com", Role::Member, &[Scope::Read])
        .await;
    let schema = vellocity::domain::events::json_schema();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let allowed: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    let types = &schema["properties"]["type"]["enum"];
    for (kind, event) in events_of(&app, &team).await {
        let fields = event.as_object().unwrap();
        assert!(required.iter().all(|r| fields.contains_key(*r)), "{event}");
        assert!(fields.keys().all(|k| allowed.contains(&k)), "{event}");
        assert!(
            types.as_array().unwrap().contains(&json!(kind)),
            "{kind} is a published type"
        );
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    }
}
