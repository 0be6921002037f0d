//! Shared test fixtures: a local stack with a hand-set clock, teams with keys of any role,
//! and requests that read like the product.

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{json, Value};
use vellocity::app::auth::JwtVerifier;
use vellocity::app::{api_keys, teams, App, Caller};
use vellocity::aws::emf::EmfLines;
use vellocity::domain::access::{Role, Scope};
use vellocity::domain::ids::{TeamId, UserId};
use vellocity::domain::plans::Plans;
use vellocity::domain::team::ApiKeyRequest;
use vellocity::domain::validation::Email;
use vellocity::local::clock::ManualClock;
use vellocity::local::table::EmbeddedTable;
use vellocity::ports::ai::{AiError, Llm, TextRequest, TextResponse};
use vellocity::ports::marketplace::Marketplace;
use vellocity::ports::table::Table;
use vellocity::ports::Clock;
use vellocity_local::{HttpRequest, Stack};

/// Every scope: for keys whose limits come from their member's role alone.
pub const ALL_SCOPES: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

/// The issuer and audience the test JWT verifier expects.
pub const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test";
pub const AUDIENCE: &str = "vellocity-web";

pub struct TestApp {
    pub stack: Stack,
    pub clock: Arc<ManualClock>,
    /// The business metrics the stack published, as EMF lines.
    pub metrics: Arc<EmfLines>,
}

/// A team and its owner's key.
pub struct TestTeam {
    pub id: String,
    pub key: String,
}

/// A public page's answer.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub html: String,
}

impl Page {
    /// The text of the element with this id.
    pub fn element(&self, id: &str) -> Option<String> {
        let start = self.html.find(&format!("id=\"{id}\""))?;
        let rest = &self.html[start..];
        let open = rest.find('>')? + 1;
        let close = rest[open..].find('<')?;
        Some(rest[open..open + close].to_owned())
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The error code of an error envelope.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The message of an error envelope.
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    /// The fields named in an error's details.
    pub fn fields(&self) -> Vec<String> {
        self.body["error"]["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The default plans with request limits no test reaches by accident (the clock of most tests
/// stands still, so no bucket would ever refill); the limits' own tests set small ones.
pub fn roomy_plans() -> Plans {
    Plans::parse(&roomy_plans_json()).unwrap()
}

/// [`roomy_plans`] as `VELLOCITY_PLANS` sets them, for the tests that start `serve`.
pub fn roomy_plans_json() -> String {
    let defaults = Plans::default();
    let ids = ["trial", "starter", "growth", "enterprise", "marketplace"];
    let catalog: Vec<String> = ids
        .iter()
        .map(|id| {
            let credits = defaults.monthly_credits(id).unwrap();
            format!(
                r#""{id}": {{"credits": {credits}, "requests_per_second": 1000, "burst": 1000000, "requests_per_day": 100000000, "concurrent_executions": 1000}}"#
            )
        })
        .collect();
    format!("{{{}}}", catalog.join(", "))
}

/// The offline model, keeping every system prompt it was given.
#[derive(Default)]
pub struct Recording(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl Llm for Recording {
    async fn converse(&self, request: TextRequest) -> Result<TextResponse, AiError> {
        self.0.lock().unwrap().push(request.system.clone());
        vellocity::local::offline::OfflineModel
            .converse(request)
            .await
    }
}

impl Recording {
    /// The prompts given since `from`, and where the next ones start.
    pub fn since(&self, from: usize) -> (Vec<String>, usize) {
        let prompts = self.0.lock().unwrap();
        (prompts[from..].to_vec(), prompts.len())
    }
}

impl TestApp {
    /// The local stack on an in-memory embedded table.
    pub fn new() -> TestApp {
        TestApp::with_table(Arc::new(EmbeddedTable::in_memory()))
    }

    /// The local stack on `table`, its workflow delays scaled to nothing.
    pub fn with_table(table: Arc<dyn Table>) -> TestApp {
        TestApp::with_ports(table, |app| app)
    }

    /// The local stack on an in-memory table, talking to `marketplace`.
    pub fn with_marketplace(marketplace: Arc<dyn Marketplace>) -> TestApp {
        TestApp::with_ports(Arc::new(EmbeddedTable::in_memory()), |app| App {
            marketplace,
            ..app
        })
    }

    /// The local stack on an in-memory table with the plan catalog `VELLOCITY_PLANS` would set.
    pub fn with_plans(catalog: &str) -> TestApp {
        TestApp::with_table_and_plans(Arc::new(EmbeddedTable::in_memory()), catalog)
    }

    /// The local stack on `table` with the plan catalog `catalog`.
    pub fn with_table_and_plans(table: Arc<dyn Table>, catalog: &str) -> TestApp {
        let plans = Arc::new(Plans::parse(catalog).unwrap());
        TestApp::with_ports(table, |app| App { plans, ..app })
    }

    /// The local stack on an in-memory table, its text model `llm`.
    pub fn with_llm(llm: Arc<dyn Llm>) -> TestApp {
        TestApp::with_ports(Arc::new(EmbeddedTable::in_memory()), |app| App {
            llm,
            ..app
        })
    }

    /// The local stack on an in-memory table, letting webhooks go to `http://` loopback
    /// receivers (`serve --allow-local-webhooks`), its clock set to the real time (receivers
    /// check a signature's timestamp against theirs).
    pub fn with_local_webhooks() -> TestApp {
        let app = TestApp::with_ports(Arc::new(EmbeddedTable::in_memory()), |app| App {
            allow_loopback_webhooks: true,
            ..app
        });
        app.clock
            .advance(time::OffsetDateTime::now_utc() - app.clock.now());
        app
    }

    /// The local stack on `table`, with the ports `wire` sets in place of the stand-ins.
    pub fn with_ports(table: Arc<dyn Table>, wire: impl FnOnce(App) -> App) -> TestApp {
        let clock = Arc::new(ManualClock::new(
            time::macros::datetime!(2026-11-21 12:00 UTC),
        ));
        let jwks = include_str!("../fixtures/jwks.json");
        let jwt = JwtVerifier::new(
            jwks,
            Some(ISSUER.into()),
            Some(AUDIENCE.into()),
            "custom:team_id".into(),
        )
        .unwrap();
        let metrics = Arc::new(EmfLines::default());
        let mut app = App {
            jwt: Some(Arc::new(jwt)),
            metrics: metrics.clone(),
            plans: Arc::new(roomy_plans()),
            ..vellocity_local::offline(App::new(table, clock.clone()))
        };
        app = wire(app);
        TestApp {
            stack: Stack::new(app, 0.0).unwrap(),
            clock,
            metrics,
        }
    }

    /// Serves the stack over HTTP on a free loopback port, as `vellocity-local serve` does.
    pub async fn serve(&self) -> std::net::SocketAddr {
        let listener = vellocity_local::server::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(vellocity_local::server::serve(self.stack.clone(), listener));
        addr
    }

    pub async fn create_team(&self, name: &str) -> TestTeam {
        let created = teams::create_team(&self.stack.app, name, "owner@example.com")
            .await
            .unwrap();
        TestTeam {
            id: created.team.id.to_string(),
            key: created.key.secret,
        }
    }

    /// Invites `email` with `role` as the owner, and makes them an API key with `scopes`.
    pub async fn member_key(
        &self,
        team: &TestTeam,
        email: &str,
        role: Role,
        scopes: &[Scope],
    ) -> String {
        let role_name = role.as_str();
        let invited = self
            .post(
                &team.key,
                "/v1/members",
                json!({"email": email, "role": role_name}),
            )
            .await;
        assert_eq!(invited.status, 201, "{invited:?}");
        let caller = Caller {
            team_id: TeamId::parse(&team.id).unwrap(),
            user_id: UserId::for_email(&Email::parse(email).unwrap()),
            role,
            scopes: scopes.to_vec(),
            credential: "test".into(),
            request_id: None,
        };
        let request = ApiKeyRequest {
            name: format!("{role_name} key"),
            scopes: scopes.to_vec(),
            expires_at: None,
        };
        api_keys::create(&self.stack.app, &caller, request)
            .await
            .unwrap()
            .secret
    }

    /// Sends a request to a public Marketplace page; the response is its status, headers and
    /// HTML.
    pub async fn page(&self, method: &str, path_and_query: &str, form: &[(&str, &str)]) -> Page {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish()
            .into_bytes();
        let request = HttpRequest {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers,
            body,
        };
        let page = self.stack.page(&request).await.expect("a page route");
        Page {
            status: page.status,
            location: page.location,
            html: page.html,
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        send(&self.stack, method, path_and_query, headers, body).await
    }

    pub async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> Response {
        call(&self.stack, method, path, key, body).await
    }

    /// A POST of a JSON body (as given, byte for byte) with an `Idempotency-Key`.
    pub async fn post_once(
        &self,
        key: &str,
        path: &str,
        idempotency_key: &str,
        body: &str,
    ) -> Response {
        let auth = format!("Bearer {key}");
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
            ("idempotency-key", idempotency_key),
        ];
        self.send("POST", path, &headers, body.as_bytes().to_vec())
            .await
    }

    pub async fn get(&self, key: &str, path: &str) -> Response {
        self.call("GET", path, key, None).await
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> Response {
        self.call("POST", path, key, Some(body)).await
    }

    pub async fn patch(&self, key: &str, path: &str, body: Value) -> Response {
        self.call("PATCH", path, key, Some(body)).await
    }

    pub async fn delete(&self, key: &str, path: &str) -> Response {
        self.call("DELETE", path, key, None).await
    }

    /// Creates a company and returns its id.
    pub async fn post_company(&self, key: &str, name: &str) -> String {
        let created = self.post(key, "/v1/companies", json!({"name": name})).await;
        assert_eq!(created.status, 201, "{created:?}");
        created.body["id"].as_str().unwrap().to_owned()
    }
}

impl TestApp {
    /// Creates an agent and returns its id.
    pub async fn post_agent(&self, key: &str, agent: Value) -> String {
        let created = self.post(key, "/v1/agents", agent).await;
        assert_eq!(created.status, 201, "{created:?}");
        created.body["id"].as_str().unwrap().to_owned()
    }

    /// A key of a new member (role member, scopes read and write) of `team`.
    pub async fn writer_key(&self, team: &TestTeam, email: &str) -> String {
        self.member_key(team, email, Role::Member, &[Scope::Read, Scope::Write])
            .await
    }

    /// Creates an agent allowed to summarise; returns its id.
    pub async fn summary_agent(&self, key: &str) -> String {
        self.post_agent(
            key,
            json!({"name": "Writer", "allowed_capabilities": ["summarize"]}),
        )
        .await
    }

    /// Starts an execution of `agent` for each request, one after the other; returns their ids.
    pub async fn start_each(&self, key: &str, agent: &str, requests: &[&str]) -> Vec<String> {
        let mut ids = Vec::with_capacity(requests.len());
        for request in requests {
            let started = self
                .start_execution(key, agent, json!({ "request": request }))
                .await;
            assert_eq!(started.status, 202, "{started:?}");
            ids.push(started.body["id"].as_str().unwrap().to_owned());
        }
        ids
    }

    /// Creates an agent allowed to summarise and runs one execution of it to success; returns
    /// the agent's and the execution's ids.
    pub async fn run_summary(&self, key: &str, request: &str) -> (String, String) {
        let agent = self.summary_agent(key).await;
        let started = self
            .start_execution(key, &agent, json!({ "request": request }))
            .await;
        let id = started.body["id"].as_str().unwrap().to_owned();
        let done = self.wait_for(key, &id, "succeeded").await;
        assert_eq!(done.body["status"], "succeeded", "{done:?}");
        (agent, id)
    }

    /// Starts a conversation and returns its id.
    pub async fn post_conversation(&self, key: &str, conversation: Value) -> String {
        let created = self.post(key, "/v1/conversations", conversation).await;
        assert_eq!(created.status, 201, "{created:?}");
        created.body["id"].as_str().unwrap().to_owned()
    }

    /// Starts an execution of `agent`; the response is the API's.
    pub async fn start_execution(&self, key: &str, agent: &str, body: Value) -> Response {
        self.post(key, &format!("/v1/agents/{agent}/executions"), body)
            .await
    }

    /// Reads an execution until the workflow has left it in `status` (or any final status),
    /// polling as a client would; panics after ten seconds.
    pub async fn wait_for(&self, key: &str, id: &str, status: &str) -> Response {
        let path = format!("/v1/executions/{id}");
        for _ in 0..2_000 {
            let current = self.get(key, &path).await;
            assert_eq!(current.status, 200, "{current:?}");
            let now = current.body["status"].as_str().unwrap_or_default();
            if now == status || ["succeeded", "failed", "cancelled"].contains(&now) {
                return current;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("execution {id} never reached {status}");
    }

    /// The team's available and reserved credits.
    pub async fn credits(&self, key: &str) -> (i64, i64) {
        let team = self.get(key, "/v1/team").await;
        assert_eq!(team.status, 200, "{team:?}");
        let credits = &team.body["credits"];
        (
            credits["balance"].as_i64().unwrap(),
            credits["reserved"].as_i64().unwrap(),
        )
    }
}

/// The user id of the person with this email: derived from the address, as the API derives it.
pub fn user_id_of(email: &str) -> String {
    UserId::for_email(&Email::parse(email).unwrap()).to_string()
}

/// One request through `stack`, with its headers and body.
pub async fn send(
    stack: &Stack,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Response {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let request = HttpRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: map,
        body,
    };
    let response = stack.handle(request).await;
    let body = match &response.body {
        Some(text) => serde_json::from_str(text).expect("every response body is JSON"),
        None => Value::Null,
    };
    assert!(
        response.headers.iter().any(|(n, _)| *n == "x-request-id"),
        "every response names its request"
    );
    Response {
        status: response.status,
        body,
        headers: response.headers,
    }
}

/// One request through `stack` with `key`, and a JSON body if any.
pub async fn call(
    stack: &Stack,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> Response {
    let auth = format!("Bearer {key}");
    let mut headers = vec![("authorization", auth.as_str())];
    let bytes = match body {
        Some(body) => {
            headers.push(("content-type", "application/json"));
            serde_json::to_vec(&body).unwrap()
        }
        None => Vec::new(),
    };
    send(stack, method, path, &headers, bytes).await
}

/// Signs a JWT with the test key.
pub fn jwt(claims: Value) -> String {
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("../fixtures/jwt-test-key.pem"))
            .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("test-key-1".into());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// A local stack over `table` holding the records the sample events name, seeded as
/// `seed-events` does.
pub async fn seeded_stack(table: Arc<dyn Table>) -> Stack {
    let app = App {
        plans: Arc::new(roomy_plans()),
        ..vellocity_local::offline(App::new(table, Arc::new(vellocity::ports::SystemClock)))
    };
    let stack = Stack::new(app, 0.0).unwrap();
    vellocity_local::samples::seed(&stack).await.unwrap();
    stack
}
