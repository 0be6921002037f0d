//! The whole Vellocity API in one process: the route table as API Gateway's router, the
//! authorizer's logic in front of every route, the same pipeline and handlers as the Lambda
//! functions, and the embedded table instead of DynamoDB.

pub mod asl;
pub mod demo;
pub mod engine;
pub mod relay;
pub mod samples;
pub mod server;
pub mod workflow;

use std::path::Path;
use std::sync::Arc;

use vellocity::api::request::{ApiRequest, BODY_LIMIT};
use vellocity::api::response::ApiResponse;
use vellocity::api::routes::{self, Match};
use vellocity::api::service::{self, Streaming};
use vellocity::api::stream::wants_stream;
use vellocity::api::{handlers, openapi, stream};
use vellocity::app::{auth, App, Caller};
use vellocity::aws::emf::EmfWriter;
use vellocity::config::JwtSettings;
use vellocity::domain::plans::Plans;
use vellocity::error::Error;
use vellocity::local::marketplace::LocalMarketplace;
use vellocity::local::objects::LocalObjects;
use vellocity::local::offline::{OfflineModel, STREAM_WORDS};
use vellocity::local::table::EmbeddedTable;
use vellocity::marketplace::pages::{self, PageRequest, PageResponse};
use vellocity::marketplace::Settings;
use vellocity::net::NetworkSender;
use vellocity::ports::SystemClock;

use crate::engine::{Engine, EngineStore, LocalDelayQueue, LocalQueue, LocalWorkflows};

/// An error as one line for a person at a terminal: what to do, the fields at fault, or, for a
/// server error, what broke (the operator running a command is who needs it).
pub fn explain(error: &Error) -> String {
    if let Some(cause) = error.cause() {
        return cause.to_owned();
    }
    let details: String = error
        .details()
        .unwrap_or_default()
        .iter()
        .map(|d| format!(" {}: {}.", d.field, d.message))
        .collect();
    format!("{error}{details}")
}

/// `app` with the local stand-ins for what AWS runs: the offline model (deterministic, every
/// text labelled) for text and images, and objects in memory. The local stack and the tests ask
/// for them here; nothing falls back to them on its own.
pub fn offline(app: App) -> App {
    App {
        llm: Arc::new(OfflineModel),
        images: Arc::new(OfflineModel),
        objects: Arc::new(LocalObjects::in_memory()),
        ..app
    }
}

/// How `serve` and `demo` set the stack up.
#[derive(Clone, Default)]
pub struct Options {
    /// Webhooks may go to `http://` loopback receivers.
    pub allow_local_webhooks: bool,
    /// The offline model takes this long per call, so progress can be watched.
    pub model_latency: Option<std::time::Duration>,
    /// A real model instead of the offline one.
    pub models: Option<Models>,
}

/// The text and image models the stack calls.
#[derive(Clone)]
pub struct Models {
    /// Writes plans, copy and replies.
    pub llm: Arc<dyn vellocity::ports::ai::Llm>,
    /// Draws images.
    pub images: Arc<dyn vellocity::ports::ai::ImageGen>,
}

/// The offline model, taking its time: every call waits before it answers.
pub struct SlowModel(pub std::time::Duration);

#[async_trait::async_trait]
impl vellocity::ports::ai::Llm for SlowModel {
    async fn converse(
        &self,
        request: vellocity::ports::ai::TextRequest,
    ) -> Result<vellocity::ports::ai::TextResponse, vellocity::ports::ai::AiError> {
        tokio::time::sleep(self.0).await;
        vellocity::ports::ai::Llm::converse(&OfflineModel, request).await
    }

    /// The offline answer in pieces, the latency spread over them as a model writes.
    async fn converse_stream(
        &self,
        request: vellocity::ports::ai::TextRequest,
        sink: &vellocity::ports::ai::TextSink,
    ) -> Result<vellocity::ports::ai::TextResponse, vellocity::ports::ai::AiError> {
        let response = vellocity::ports::ai::Llm::converse(&OfflineModel, request).await?;
        let pieces = vellocity::ports::ai::pieces(&response.text, STREAM_WORDS);
        let pause = self.0 / pieces.len().max(1) as u32;
        for piece in pieces {
            tokio::time::sleep(pause).await;
            let _ = sink.send(piece);
        }
        Ok(response)
    }
}

#[async_trait::async_trait]
impl vellocity::ports::ai::ImageGen for SlowModel {
    async fn generate(
        &self,
        request: vellocity::ports::ai::ImageRequest,
    ) -> Result<vellocity::ports::ai::ImageResponse, vellocity::ports::ai::AiError> {
        tokio::time::sleep(self.0).await;
        vellocity::ports::ai::ImageGen::generate(&OfflineModel, request).await
    }
}

/// A request id, as API Gateway gives every request one.
pub fn new_request_id() -> String {
    format!("local-{}", ulid::Ulid::new())
}

/// The envelope of an error answered before a handler ran, with its request id.
pub fn error_response(error: &Error, request_id: String) -> ApiResponse {
    let mut response = ApiResponse::error(error, &request_id);
    response.headers.push(("x-request-id", request_id));
    response
}

/// An HTTP request as the local server received it.
#[derive(Clone, Debug, Default)]
pub struct HttpRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A header as text.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The query string's parameters, decoded, in order.
    fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The request as a route's pipeline takes it, once the caller is known.
    fn into_api(
        self,
        request_id: String,
        caller: Caller,
        path_params: Vec<(String, String)>,
    ) -> ApiRequest {
        ApiRequest {
            request_id,
            caller,
            path_params,
            query: self.query_pairs(),
            headers: self.headers,
            body: self.body,
        }
    }
}

/// The local stack: what API Gateway, the authorizer and the functions do, in-process.
#[derive(Clone)]
pub struct Stack {
    /// The dependencies every handler gets.
    pub app: App,
    /// How the Marketplace pages, events and metering behave.
    pub marketplace: Arc<Settings>,
    /// The state machine runs (Step Functions locally).
    pub workflows: Arc<LocalWorkflows>,
    /// The executions queue (SQS locally).
    pub queue: Arc<LocalQueue>,
    /// The webhook queue (SQS locally).
    pub webhooks: Arc<LocalDelayQueue>,
}

impl Stack {
    /// The stack over the data kept in `data_dir`: the embedded table, the engine's queue and
    /// runs, and the objects. JWT sign-in is on when `JWT_JWKS` is set, as in the deployed
    /// functions. Unfinished work is not resumed until [`Stack::resume`]: only the server
    /// runs it, admin commands beside it do not.
    pub fn open(data_dir: &Path) -> Result<Stack, String> {
        Stack::open_with(data_dir, &Options::default())
    }

    /// [`Stack::open`], as `serve`'s switches set it up.
    pub fn open_with(data_dir: &Path, options: &Options) -> Result<Stack, String> {
        let cannot = |e: String| format!("cannot open data directory {e}");
        let table = EmbeddedTable::open(data_dir).map_err(cannot)?;
        let engine = EngineStore::open(data_dir).map_err(cannot)?;
        let jwt = match JwtSettings::from_env() {
            Some(settings) => Some(Arc::new(settings.verifier()?)),
            None => None,
        };
        let app = App {
            jwt,
            plans: Arc::new(Plans::from_env()?),
            objects: Arc::new(LocalObjects::Directory(data_dir.join("objects"))),
            marketplace: Arc::new(LocalMarketplace::default()),
            metrics: Arc::new(EmfWriter::DebugLog),
            allow_loopback_webhooks: options.allow_local_webhooks,
            ..offline(App::new(Arc::new(table), Arc::new(SystemClock)))
        };
        let app = match (&options.models, options.model_latency) {
            (Some(models), _) => App {
                llm: models.llm.clone(),
                images: models.images.clone(),
                ..app
            },
            (None, Some(latency)) if !latency.is_zero() => App {
                llm: Arc::new(SlowModel(latency)),
                images: Arc::new(SlowModel(latency)),
                ..app
            },
            _ => app,
        };
        Stack::with_engine(app, 1.0, engine)
    }

    /// The stack over `app`, with the queue and workflow engine wired in and kept in memory;
    /// `time_scale` multiplies the state machine's Wait and Retry delays (1.0 = real time).
    /// Its events relay runs from the start (where a runtime runs).
    pub fn new(app: App, time_scale: f64) -> Result<Stack, String> {
        let stack = Stack::with_engine(app, time_scale, EngineStore::in_memory())?;
        if tokio::runtime::Handle::try_current().is_ok() {
            stack.start_relay();
        }
        Ok(stack)
    }

    fn with_engine(app: App, time_scale: f64, store: EngineStore) -> Result<Stack, String> {
        let Engine {
            workflows,
            queue,
            webhooks,
        } = Engine::new(&app, time_scale, store)?;
        let marketplace = Arc::new(Settings::from_env(&app.plans, false)?);
        Ok(Stack {
            marketplace,
            app: App {
                queue: queue.clone(),
                workflows: workflows.clone(),
                webhook_queue: webhooks.clone(),
                webhook_sender: Arc::new(NetworkSender::default()),
                ..app
            },
            workflows,
            queue,
            webhooks,
        })
    }

    /// Starts the events relay: events to the webhook endpoints, due webhook attempts made.
    /// Only one process on a data directory runs it (the server).
    pub fn start_relay(&self) {
        relay::spawn(self.app.clone(), self.webhooks.clone());
    }

    /// Picks up the work a stopped server left: resumes unfinished workflow runs and delivers
    /// queued messages. Returns how many of each.
    pub async fn resume(&self) -> Result<(usize, usize), String> {
        let resumed = Engine {
            workflows: self.workflows.clone(),
            queue: self.queue.clone(),
            webhooks: self.webhooks.clone(),
        }
        .resume()
        .await?;
        self.start_relay();
        Ok(resumed)
    }

    /// Answers one request to a public Marketplace page, if the method and path are one's.
    pub async fn page(&self, request: &HttpRequest) -> Option<PageResponse> {
        let page = pages::find(&request.method, &request.path)?;
        let page_request = PageRequest {
            query: request.query_pairs(),
            content_type: request.header("content-type").map(str::to_owned),
            body: request.body.clone(),
        };
        Some(pages::serve(&self.app, &self.marketplace, page.id, page_request).await)
    }

    /// Opens the Server-Sent Events stream a request asks for (`Accept: text/event-stream` on a
    /// route that streams: an execution's events, a chat reply), authenticated and limited as
    /// every route is; `None` for any other request, a whole response when it is refused.
    pub async fn stream(&self, request: &HttpRequest) -> Option<Result<Streaming, ApiResponse>> {
        if !wants_stream(request.header("accept")) {
            return None;
        }
        let Match::Found(route, path_params) = routes::find(&request.method, &request.path) else {
            return None;
        };
        let request_id = new_request_id();
        let caller = match self.authenticate(request).await {
            Ok(caller) => caller,
            Err(error) => return Some(Err(error_response(&error, request_id))),
        };
        let api_request = request.clone().into_api(request_id, caller, path_params);
        if !stream::streams(route.id, &api_request) {
            return None;
        }
        Some(service::open_stream(&self.app, route.id, api_request).await)
    }

    /// Answers one request as the deployed API would.
    pub async fn handle(&self, request: HttpRequest) -> ApiResponse {
        let request_id = new_request_id();
        match self.route(request, &request_id).await {
            Ok(response) => response,
            Err(error) => error_response(&error, request_id),
        }
    }

    async fn route(&self, request: HttpRequest, request_id: &str) -> Result<ApiResponse, Error> {
        if request.method == "GET" && request.path == openapi::PATH {
            let mut response = openapi::served();
            response
                .headers
                .push(("x-request-id", request_id.to_owned()));
            return Ok(response);
        }
        let (route, path_params) = match routes::find(&request.method, &request.path) {
            Match::Found(route, params) => (route, params),
            Match::WrongMethod(allowed) => {
                return Err(Error::MethodNotAllowed {
                    method: request.method,
                    allowed,
                })
            }
            Match::NoRoute => return Err(Error::RouteNotFound(request.path)),
        };
        let caller = self.authenticate(&request).await?;
        if request.body.len() > BODY_LIMIT {
            return Err(Error::PayloadTooLarge(BODY_LIMIT));
        }
        let api_request = request.into_api(request_id.to_owned(), caller, path_params);
        Ok(service::serve(&self.app, handlers::endpoint(route.id), api_request).await)
    }

    /// The caller of a request, as the authorizer resolves it.
    async fn authenticate(&self, request: &HttpRequest) -> Result<Caller, Error> {
        auth::authenticate(
            &self.app,
            request.header("authorization"),
            request.header("x-team-id"),
        )
        .await
    }
}
