//! Responses, and the one error envelope every failure is rendered in.

use serde::Serialize;

use crate::domain::rate_limit::DAILY;
use crate::error::Error;

/// A response before it is handed to API Gateway or the local server.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body; `None` for 204.
    pub body: Option<String>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

impl ApiResponse {
    /// A JSON response.
    pub fn json<T: Serialize>(status: u16, body: &T) -> Result<ApiResponse, Error> {
        let body = serde_json::to_string(body).map_err(Error::internal)?;
        Ok(ApiResponse {
            status,
            body: Some(body),
            headers: Vec::new(),
        })
    }

    /// 200 with a JSON body.
    pub fn ok<T: Serialize>(body: &T) -> Result<ApiResponse, Error> {
        Self::json(200, body)
    }

    /// 201 with a JSON body.
    pub fn created<T: Serialize>(body: &T) -> Result<ApiResponse, Error> {
        Self::json(201, body)
    }

    /// 204, no body.
    pub fn no_content() -> ApiResponse {
        ApiResponse {
            status: 204,
            body: None,
            headers: Vec::new(),
        }
    }

    /// The HTTP response: JSON content type when there is a body, the extra headers.
    pub fn into_http(self) -> http::Response<String> {
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(self.headers.len() + 1);
        if self.body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        headers.extend(self.headers.iter().map(|(n, v)| (*n, v.as_str())));
        http_response(self.status, &headers, self.body.unwrap_or_default())
    }

    /// The error envelope: `{"error":{"code","message","request_id","details"?}}`, with the
    /// status of [`status_and_code`]. This is where a server error is logged, once, with its
    /// cause; the client learns nothing of it.
    pub fn error(error: &Error, request_id: &str) -> ApiResponse {
        let (status, code) = status_and_code(error);
        let message = match error {
            Error::Internal(cause) => {
                tracing::error!(%request_id, %cause, "answered 500");
                "Something went wrong on our side; retry later or contact support with the request id.".to_owned()
            }
            Error::Unavailable { message, cause } => {
                tracing::error!(%request_id, cause = cause.as_deref().unwrap_or("unknown"), "answered 503");
                message.clone()
            }
            other => other.to_string(),
        };
        let mut inner = serde_json::json!({
            "code": code,
            "message": message,
            "request_id": request_id,
        });
        if let Some(details) = error.details() {
            inner["details"] = serde_json::json!(details
                .iter()
                .map(|d| serde_json::json!({"field": d.field, "message": d.message}))
                .collect::<Vec<_>>());
        }
        let mut headers = Vec::new();
        match error {
            Error::Unauthenticated(_) => headers.push(("www-authenticate", "Bearer".to_owned())),
            Error::Throttled => headers.push(("retry-after", "1".to_owned())),
            Error::RateLimited { retry_after, .. } => {
                headers.push(("retry-after", retry_after.to_string()))
            }
            Error::MethodNotAllowed { allowed, .. } => headers.push(("allow", allowed.join(", "))),
            _ => {}
        }
        ApiResponse {
            status,
            body: Some(serde_json::json!({ "error": inner }).to_string()),
            headers,
        }
    }
}

/// The one mapping of errors to HTTP: status and the stable code clients branch on.
pub fn status_and_code(error: &Error) -> (u16, &'static str) {
    match error {
        Error::BadRequest { problem, .. } => (400, problem.code()),
        Error::InvalidBody { .. } => (400, "invalid_body"),
        Error::Unauthenticated(_) => (401, "unauthenticated"),
        Error::InsufficientCredits(_) => (402, "insufficient_credits"),
        Error::BudgetExceeded(_) => (402, "budget_exceeded"),
        Error::MemberLimitExceeded(_) => (402, "member_limit_exceeded"),
        Error::Forbidden(_) => (403, "forbidden"),
        Error::SubscriptionInactive => (403, "subscription_inactive"),
        Error::NotFound(_) => (404, "not_found"),
        Error::RouteNotFound(_) => (404, "route_not_found"),
        Error::MethodNotAllowed { .. } => (405, "method_not_allowed"),
        Error::Conflict { kind, .. } => (409, kind.code()),
        Error::PayloadTooLarge(_) => (413, "payload_too_large"),
        Error::UnsupportedMediaType => (415, "unsupported_media_type"),
        Error::Validation(_) => (422, "validation_failed"),
        Error::IdempotencyKeyReused => (422, "idempotency_key_reused"),
        Error::Throttled => (429, "too_many_requests"),
        Error::RateLimited { policy, .. } if *policy == DAILY => (429, "quota_exceeded"),
        Error::RateLimited { .. } => (429, "rate_limited"),
        Error::HeadersTooLarge(_) => (431, "request_header_fields_too_large"),
        Error::Internal(_) => (500, "internal_error"),
        Error::Unavailable { .. } => (503, "service_unavailable"),
    }
}

/// An HTTP response with these headers. Nothing about it is silently replaced: a status that
/// is not one answers 500, and a header value that cannot be sent is left out and logged.
pub fn http_response(
    status: u16,
    headers: &[(&str, &str)],
    body: String,
) -> http::Response<String> {
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_else(|_| {
        tracing::error!(status, "not an HTTP status; answering 500");
        http::StatusCode::INTERNAL_SERVER_ERROR
    });
    for (name, value) in headers {
        match (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
                response.headers_mut().append(name, value);
            }
            _ => tracing::error!(header = name, "a header that cannot be sent"),
        }
    }
    response
}
