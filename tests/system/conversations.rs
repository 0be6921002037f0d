//! Conversations with the AI through the local stack: replies in the brand voice with the
//! product's facts and as much history as fits, paid from a hold that settles exactly once,
//! nothing charged or stored when the model fails, the same ownership rules as every
//! resource, and replies that stay exact under concurrency.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};
use time::Duration;
use vellocity::app::conversations;
use vellocity::app::Caller;
use vellocity::domain::access::{Role, Scope};
use vellocity::domain::ids::{ConversationId, TeamId, UserId};
use vellocity::local::offline::OfflineModel;
use vellocity::ports::ai::{AiError, Llm, Speaker, TextRequest, TextResponse};
use vellocity::ports::table::{Index, Query, Table};

use crate::helpers::{user_id_of, Response, TestApp, TestTeam, ALL_SCOPES};

/// The offline model, keeping every request it was sent, failing while `failure` is set.
#[derive(Default)]
struct Watching {
    requests: Mutex<Vec<TextRequest>>,
    failure: Mutex<Option<AiError>>,
}

#[async_trait]
impl Llm for Watching {
    async fn converse(&self, request: TextRequest) -> Result<TextResponse, AiError> {
        self.requests.lock().unwrap().push(request.clone());
        if let Some(error) = self.failure.lock().unwrap().clone() {
            return Err(error);
        }
        OfflineModel.converse(request).await
    }
}

/// A team with a company (and its brand voice) and a product, and a conversation about them.
struct Chat {
    app: TestApp,
    team: TestTeam,
    conversation: String,
}

async fn chat(app: TestApp) -> Chat {
    let team = app.create_team("Acme").await;
    let company = json!({"name": "Acme Cloud", "brand_voice": {"tone": "warm, plain", "banned_phrases": ["synergy"]}});
    let company = app.post(&team.key, "/v1/companies", company).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let product =
        json!({"company_id": company, "name": "Deploy Guard", "use_cases": ["Safe deployments"]});
    let product = app.post(&team.key, "/v1/products", product).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = app
        .post(
            &team.key,
            "/v1/conversations",
            json!({"title": "Launch ideas", "company_id": company, "product_id": product}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let conversation = created.body["id"].as_str().unwrap().to_owned();
    Chat {
        app,
        team,
        conversation,
    }
}

impl Chat {
    async fn send(&self, key: &str, content: &str) -> Response {
        self.app
            .post(key, &self.messages_path(), json!({ "content": content }))
            .await
    }

    fn messages_path(&self) -> String {
        format!("/v1/conversations/{}/messages", self.conversation)
    }

    fn path(&self) -> String {
        format!("/v1/conversations/{}", self.conversation)
    }

    async fn messages(&self) -> Vec<Value> {
        let listed = self.app.get(&self.team.key, &self.messages_path()).await;
        assert_eq!(listed.status, 200, "{listed:?}");
        listed.body["items"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn a_reply_is_written_in_the_brand_voice_with_the_history_and_charged_exactly() {
    let model = Arc::new(Watching::default());
    let c = chat(TestApp::with_llm(model.clone())).await;
    let fresh = c.app.get(&c.team.key, &c.path()).await;
    assert_eq!(
        (
            fresh.body["message_count"].clone(),
            fresh.body["credits_used"].clone()
        ),
        (json!(0), json!(0))
    );

    let first = c.send(&c.team.key, "Three launch headlines, please").await;
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.body["message"]["role"], "user");
    assert_eq!(
        first.body["message"]["content"],
        "Three launch headlines, please"
    );
    let reply = &first.body["reply"];
    assert_eq!(reply["role"], "assistant");
    assert_eq!(reply["model"], "vellocity.offline-text-v1");
    let text = reply["content"].as_str().unwrap();
    assert!(
        text.starts_with(
            "[offline model] In Acme Cloud's voice, about Deploy Guard, with 0 earlier messages"
        ),
        "{text}"
    );
    for field in ["id", "created_at"] {
        assert!(reply[field].is_string(), "{field}");
    }
    assert!(reply["latency_ms"].is_i64() && reply["tokens"]["input"].as_i64().unwrap() > 0);
    assert_eq!(reply["cost_micro_usd"], 0, "the offline model is free");

    let second = c.send(&c.team.key, "Shorter, please").await;
    assert_eq!(second.status, 201, "{second:?}");
    assert!(second.body["reply"]["content"]
        .as_str()
        .unwrap()
        .contains("with 2 earlier messages"));
    let sent = model.requests.lock().unwrap().clone();
    let last = sent.last().unwrap();
    assert!(
        last.system.contains("You write for Acme Cloud.")
            && last.system.contains("Tone: warm, plain.")
    );
    assert!(
        last.system.contains("Product: Deploy Guard") && last.system.contains("Safe deployments")
    );
    let speakers: Vec<Speaker> = last.messages.iter().map(|m| m.speaker).collect();
    assert_eq!(speakers, [Speaker::User, Speaker::Assistant, Speaker::User]);

    let replies = [&first.body["reply"], &second.body["reply"]];
    let credits: i64 = replies.iter().map(|r| r["credits"].as_i64().unwrap()).sum();
    assert_eq!(c.app.credits(&c.team.key).await, (200 - credits, 0));
    let now = c.app.get(&c.team.key, &c.path()).await.body;
    assert_eq!(now["message_count"], 4);
    assert_eq!(now["credits_used"], credits);
    let tokens = |side: &str| {
        replies
            .iter()
            .map(|r| r["tokens"][side].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!(
        now["tokens"],
        json!({"input": tokens("input"), "output": tokens("output")})
    );
    let roles: Vec<Value> = c
        .messages()
        .await
        .iter()
        .map(|m| m["role"].clone())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
}

#[tokio::test]
async fn history_that_does_not_fit_the_token_budget_drops_the_oldest_messages_first() {
    let model = Arc::new(Watching::default());
    let c = chat(TestApp::with_llm(model.clone())).await;
    let long = "word ".repeat(3_000); // about 3,750 tokens
    for _ in 0..3 {
        assert_eq!(c.send(&c.team.key, &long).await.status, 201);
    }
    let sent = model.requests.lock().unwrap();
    let sizes: Vec<usize> = sent.iter().map(|r| r.messages.len()).collect();
    // The second request fits the first exchange; the third only the latest one.
    assert_eq!(sizes, [1, 3, 3]);
    assert!(
        sent[2].system.contains("You write for Acme Cloud."),
        "the system context always goes"
    );
}

#[tokio::test]
async fn a_model_that_throttles_or_fails_answers_429_or_503_charging_and_storing_nothing() {
    let model = Arc::new(Watching::default());
    let c = chat(TestApp::with_llm(model.clone())).await;
    for (error, status, code) in [
        (
            AiError::Throttled("slow down".into()),
            429,
            "too_many_requests",
        ),
        (
            AiError::Unavailable("down".into()),
            503,
            "service_unavailable",
        ),
    ] {
        *model.failure.lock().unwrap() = Some(error);
        let answer = c.send(&c.team.key, "Hello?").await;
        assert_eq!((answer.status, answer.code()), (status, code), "{answer:?}");
        assert!(
            !answer.message().contains("down"),
            "the cause stays in the log"
        );
    }
    assert_eq!(c.app.credits(&c.team.key).await, (200, 0));
    assert!(c.messages().await.is_empty());
    assert_eq!(
        c.app.get(&c.team.key, &c.path()).await.body["message_count"],
        0
    );
}

#[tokio::test]
async fn a_team_that_cannot_cover_a_reply_gets_402_and_nothing_is_written() {
    let c = chat(TestApp::new()).await;
    let team_id = TeamId::parse(&c.team.id).unwrap();
    vellocity::app::credits::adjust(&c.app.stack.app, &team_id, -199, "Test")
        .await
        .unwrap();
    let refused = c.send(&c.team.key, "Hello").await;
    assert_eq!(
        (refused.status, refused.code()),
        (402, "insufficient_credits"),
        "{refused:?}"
    );
    assert_eq!(c.app.credits(&c.team.key).await, (1, 0));
    assert!(c.messages().await.is_empty());
}

#[tokio::test]
async fn a_replayed_message_stores_one_exchange_and_answers_the_same() {
    let c = chat(TestApp::new()).await;
    let body = r#"{"content": "Once, please"}"#;
    let first = c
        .app
        .post_once(&c.team.key, &c.messages_path(), "msg-1", body)
        .await;
    let again = c
        .app
        .post_once(&c.team.key, &c.messages_path(), "msg-1", body)
        .await;
    assert_eq!(first.status, 201);
    assert_eq!((again.status, &again.body), (201, &first.body));
    assert_eq!(c.messages().await.len(), 2);
}

#[tokio::test]
async fn members_change_only_their_own_conversations_admins_any_and_viewers_only_read() {
    let c = chat(TestApp::new()).await;
    let mia = c.app.writer_key(&c.team, "mia@example.com").await;
    let vic = c
        .app
        .member_key(&c.team, "vic@example.com", Role::Viewer, &[Scope::Read])
        .await;
    let ada = c
        .app
        .member_key(&c.team, "ada@example.com", Role::Admin, &ALL_SCOPES)
        .await;

    for key in [&mia, &vic] {
        assert_eq!(
            c.app.get(key, &c.path()).await.status,
            200,
            "everyone reads"
        );
        assert_eq!(c.app.get(key, &c.messages_path()).await.status, 200);
    }
    let patch = json!({"title": "Mine now"});
    assert_eq!(
        c.app.patch(&mia, &c.path(), patch.clone()).await.status,
        403
    );
    assert_eq!(c.send(&mia, "Hi").await.status, 403);
    assert_eq!(c.app.delete(&mia, &c.path()).await.status, 403);
    assert_eq!(c.send(&vic, "Hi").await.status, 403);
    let viewer_creates = c.app.post(&vic, "/v1/conversations", json!({})).await;
    assert_eq!(viewer_creates.status, 403);

    let own = c.app.post(&mia, "/v1/conversations", json!({})).await;
    assert_eq!(own.status, 201);
    assert_eq!(own.body["created_by"], user_id_of("mia@example.com"));
    let own_path = format!("/v1/conversations/{}", own.body["id"].as_str().unwrap());
    let renamed = c.app.patch(&mia, &own_path, json!({"title": "Mine"})).await;
    assert_eq!(
        (renamed.status, renamed.body["title"].clone()),
        (200, json!("Mine"))
    );
    assert_eq!(
        c.app
            .post(
                &mia,
                &format!("{own_path}/messages"),
                json!({"content": "Hi"})
            )
            .await
            .status,
        201
    );

    assert_eq!(
        c.app.patch(&ada, &c.path(), patch).await.status,
        200,
        "admins change any"
    );
    assert_eq!(c.app.delete(&ada, &own_path).await.status, 204);
    let listed = c.app.get(&vic, "/v1/conversations").await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [c.conversation.as_str()]);
}

#[tokio::test]
async fn conversations_are_listed_newest_first_a_page_at_a_time() {
    let c = chat(TestApp::new()).await;
    let mut created = vec![c.conversation.clone()];
    for title in ["Second", "Third"] {
        let made = c
            .app
            .post(&c.team.key, "/v1/conversations", json!({ "title": title }))
            .await;
        created.push(made.body["id"].as_str().unwrap().to_owned());
    }
    let first = c.app.get(&c.team.key, "/v1/conversations?limit=2").await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = c
        .app
        .get(
            &c.team.key,
            &format!("/v1/conversations?limit=2&cursor={cursor}"),
        )
        .await;
    let ids: Vec<String> = [first, rest]
        .iter()
        .flat_map(|p| p.body["items"].as_array().unwrap().clone())
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    created.reverse();
    assert_eq!(ids, created);
}

#[tokio::test]
async fn deleting_a_conversation_deletes_its_messages() {
    let c = chat(TestApp::new()).await;
    assert_eq!(c.send(&c.team.key, "Hello").await.status, 201);
    assert_eq!(c.app.delete(&c.team.key, &c.path()).await.status, 204);
    assert_eq!(c.app.get(&c.team.key, &c.path()).await.status, 404);
    assert_eq!(c.app.get(&c.team.key, &c.messages_path()).await.status, 404);
    assert_eq!(c.send(&c.team.key, "Still there?").await.status, 404);
    assert_eq!(c.app.delete(&c.team.key, &c.path()).await.status, 404);
    let left = c
        .app
        .stack
        .app
        .table
        .query(Query::prefix(
            Index::Table,
            format!("TEAM#{}", c.team.id),
            "MSG#",
        ))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "{:?}", left.items);
}

#[tokio::test]
async fn bad_conversations_and_messages_are_refused_with_the_field_named() {
    let c = chat(TestApp::new()).await;
    let other = c.app.create_team("Other").await;
    let foreign = c.app.post_company(&other.key, "Theirs").await;
    for (body, field) in [
        (json!({"model": "amazon.nova-canvas-v1:0"}), "model"),
        (json!({"model": "gpt-9"}), "model"),
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"company_id": foreign}), "company_id"),
    ] {
        let refused = c
            .app
            .post(&c.team.key, "/v1/conversations", body.clone())
            .await;
        assert_eq!(
            (refused.status, refused.fields()),
            (422, vec![field.to_owned()]),
            "{body}"
        );
    }
    let unknown = c
        .app
        .post(&c.team.key, "/v1/conversations", json!({"topic": "x"}))
        .await;
    assert_eq!((unknown.status, unknown.code()), (400, "invalid_body"));
    for content in ["   ", &"x".repeat(20_001)] {
        let refused = c.send(&c.team.key, content).await;
        assert_eq!(
            (refused.status, refused.fields()),
            (422, vec!["content".to_owned()])
        );
    }
    let missing = c.app.post(&c.team.key, &c.messages_path(), json!({})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(c.app.credits(&c.team.key).await, (200, 0));
    assert_eq!(
        c.app.get(&c.team.key, "/v1/conversations").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_reply_that_never_finished_has_its_credits_released_by_the_next_message() {
    let c = chat(TestApp::new()).await;
    let caller = Caller {
        team_id: TeamId::parse(&c.team.id).unwrap(),
        user_id: UserId::parse(&user_id_of("owner@example.com")).unwrap(),
        role: Role::Owner,
        scopes: ALL_SCOPES.to_vec(),
        credential: "test".into(),
        request_id: None,
    };
    let conversation = ConversationId::parse(&c.conversation).unwrap();
    // A function that held a reply's credits and was stopped before the model answered.
    conversations::hold(&c.app.stack.app, &caller, &conversation, 3, 0)
        .await
        .unwrap();
    assert_eq!(c.app.credits(&c.team.key).await, (197, 3));
    let early = c.send(&c.team.key, "Before the hold expires").await;
    let early_credits = early.body["reply"]["credits"].as_i64().unwrap();
    assert_eq!(
        c.app.credits(&c.team.key).await,
        (197 - early_credits, 3),
        "a live hold stays"
    );

    c.app.clock.advance(Duration::minutes(6));
    let later = c.send(&c.team.key, "After").await;
    let later_credits = later.body["reply"]["credits"].as_i64().unwrap();
    assert_eq!(
        c.app.credits(&c.team.key).await,
        (200 - early_credits - later_credits, 0)
    );
}

async fn concurrent_messages_are_each_charged_once(app: TestApp) {
    let c = Arc::new(chat(app).await);
    let sends = (0..20).map(|i| {
        let c = c.clone();
        tokio::spawn(async move { c.send(&c.team.key, &format!("Idea {i}")).await })
    });
    let mut charged = 0;
    for send in sends {
        let answer = send.await.unwrap();
        assert_eq!(answer.status, 201, "{answer:?}");
        charged += answer.body["reply"]["credits"].as_i64().unwrap();
    }
    assert_eq!(c.app.credits(&c.team.key).await, (200 - charged, 0));
    let now = c.app.get(&c.team.key, &c.path()).await.body;
    assert_eq!(
        (now["message_count"].clone(), now["credits_used"].clone()),
        (json!(40), json!(charged))
    );
}

#[tokio::test]
async fn twenty_concurrent_messages_are_each_charged_once_on_the_embedded_table() {
    concurrent_messages_are_each_charged_once(TestApp::new()).await;
}

#[tokio::test]
async fn twenty_concurrent_messages_are_each_charged_once_on_dynamodb_local() {
    let table: Arc<dyn Table> = Arc::new(crate::dynamodb::fresh_table().await);
    concurrent_messages_are_each_charged_once(TestApp::with_table(table)).await;
}
