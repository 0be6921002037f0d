//! The request pipeline shared by the Lambda functions and the local router: the plan's request
//! limits, authorisation against the route's requirement, `Idempotency-Key`, the handler, and
//! the error envelope. Every answer carries the team's `RateLimit` standing.

use std::time::Instant;

use tracing::Instrument;

use crate::app::idempotency::{self, Begin, StoredResponse};
use crate::app::limits;
use crate::app::App;
use crate::error::Error;
use crate::ports::metrics::{MetricEvent, Unit};

use super::handlers::Endpoint;
use super::request::ApiRequest;
use super::response::ApiResponse;
use super::routes::{Route, RouteId};
use super::stream::{self, EventStream};

/// Answers an authenticated request on `route`. Never fails: every error becomes an envelope.
pub async fn serve(app: &App, endpoint: Endpoint, mut req: ApiRequest) -> ApiResponse {
    let route = endpoint.route;
    req.caller.request_id = Some(req.request_id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %req.request_id,
        team_id = %req.caller.team_id,
        route = ?route,
    );
    async move {
        let started = Instant::now();
        // A read changes nothing, so it runs while the request is counted and its answer is
        // dropped if the request is refused: its latency is the longer of the two round trips,
        // not their sum. Anything else runs only once admitted.
        let (admission, read) = if route.route().method == "GET" {
            let (admission, outcome) = tokio::join!(
                limits::admit(app, &req.caller.team_id),
                run(app, endpoint, &req)
            );
            (admission, Some(outcome))
        } else {
            (limits::admit(app, &req.caller.team_id).await, None)
        };
        let outcome = match (admission.refused, read) {
            (Some(refused), _) => Err(refused),
            (None, Some(outcome)) => outcome,
            (None, None) => run(app, endpoint, &req).await,
        };
        let mut response = match outcome {
            Ok(response) => response,
            Err(error) => {
                if matches!(error, Error::Throttled | Error::RateLimited { .. }) {
                    app.metrics.emit(
                        MetricEvent::new("Throttles", 1.0, Unit::Count)
                            .by("Route", route.route().binary)
                            .with("team_id", req.caller.team_id.to_string()),
                    );
                }
                ApiResponse::error(&error, &req.request_id)
            }
        };
        response
            .headers
            .push(("x-request-id", req.request_id.clone()));
        response.headers.extend(admission.headers);
        tracing::info!(
            status = response.status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request finished"
        );
        response
    }
    .instrument(span)
    .await
}

/// An answer as a stream, with the headers it goes out with (the request id and the team's
/// standing against its limits).
pub struct Streaming {
    /// The SSE text.
    pub stream: EventStream,
    /// Headers besides the content type.
    pub headers: Vec<(&'static str, String)>,
}

/// Opens the stream of an authenticated request on a route that [`stream::streams`], through
/// the same limits and access checks as [`serve`]; a refusal is answered whole.
pub async fn open_stream(
    app: &App,
    route: RouteId,
    mut req: ApiRequest,
) -> Result<Streaming, ApiResponse> {
    req.caller.request_id = Some(req.request_id.clone());
    let admission = limits::admit(app, &req.caller.team_id).await;
    let opened = match admission.refused {
        Some(refused) => Err(refused),
        None => match admit(route.route(), &req) {
            Ok(()) => stream::open(app, route, &req).await,
            Err(refused) => Err(refused),
        },
    };
    let mut headers = vec![("x-request-id", req.request_id.clone())];
    headers.extend(admission.headers);
    match opened {
        Ok(stream) => {
            tracing::info!(request_id = %req.request_id, route = ?route, "stream opened");
            Ok(Streaming { stream, headers })
        }
        Err(error) => {
            let mut response = ApiResponse::error(&error, &req.request_id);
            response.headers.extend(headers);
            Err(response)
        }
    }
}

/// The route's own checks of a request: the caller's role and scope, its query parameters.
fn admit(route: &Route, req: &ApiRequest) -> Result<(), Error> {
    if !route.access.allows(req.caller.role, &req.caller.scopes) {
        return Err(Error::forbidden(format!(
            "This needs the {} role and a credential with the {} scope.",
            route.access.role.as_str(),
            route.access.scope.as_str()
        )));
    }
    req.allow_query(route.query)
}

async fn run(app: &App, endpoint: Endpoint, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let route = endpoint.route.route();
    admit(route, req)?;
    let key = match (route.idempotent, req.headers.get("idempotency-key")) {
        (true, Some(header)) => idempotency::parse_key(header)?,
        _ => return (endpoint.handler)(app, req).await,
    };
    let path = route_path(route.path, &req.path_params);
    let request = (route.method, path.as_str());
    let claim = match idempotency::begin(app, &req.caller, request, key, &req.body).await? {
        Begin::Replay(stored) => {
            let mut response = ApiResponse {
                status: stored.status,
                body: Some(stored.body),
                headers: Vec::new(),
            };
            response
                .headers
                .push(("idempotent-replayed", "true".to_owned()));
            app.metrics.emit(
                MetricEvent::new("IdempotentReplays", 1.0, Unit::Count)
                    .by("Route", route.binary)
                    .with("team_id", req.caller.team_id.to_string()),
            );
            return Ok(response);
        }
        Begin::Proceed(claim) => claim,
    };
    let outcome = (endpoint.handler)(app, req).await;
    match &outcome {
        // Client errors are kept like successes: the same request would fail the same way.
        Ok(response) => {
            let stored = StoredResponse {
                status: response.status,
                body: response.body.clone().unwrap_or_default(),
            };
            keep_for_replay(app, claim, stored).await;
        }
        Err(error) if replays_the_same(error) => {
            let answer = ApiResponse::error(error, &req.request_id);
            let stored = StoredResponse {
                status: answer.status,
                body: answer.body.unwrap_or_default(),
            };
            keep_for_replay(app, claim, stored).await;
        }
        Err(_) => idempotency::abandon(app, claim).await,
    }
    outcome
}

/// Stores the answer for replay. If that fails, the client still gets the answer it is owed
/// (a retry then waits for the claim to lapse rather than failing a request that worked).
async fn keep_for_replay(app: &App, claim: idempotency::Claim, stored: StoredResponse) {
    if let Err(error) = idempotency::finish(app, claim, stored).await {
        tracing::warn!(%error, "storing a response for idempotent replay failed");
    }
}

/// Whether the same request would fail the same way again: client errors other than
/// conflicts and throttling, which a retry may get past.
fn replays_the_same(error: &Error) -> bool {
    let (status, _) = super::response::status_and_code(error);
    status < 500
        && !matches!(
            error,
            Error::Conflict { .. } | Error::Throttled | Error::RateLimited { .. }
        )
}

/// The path a request was sent to: the route's template with its parameters filled in.
fn route_path(template: &str, params: &[(String, String)]) -> String {
    params
        .iter()
        .fold(template.to_owned(), |path, (name, value)| {
            path.replace(&format!("{{{name}}}"), value)
        })
}
