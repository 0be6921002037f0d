//! The one error type of the API. Every failure leaves as
//! `{"error":{"code","message","request_id","details"?}}` with the status its constructor
//! documents; infrastructure failures keep their cause, which the edge that turns them into a
//! 500 or a failed task logs once, and leave as a 500 that reveals nothing.

use crate::domain::validation::{FieldError, FieldErrors};
use crate::ports::table::TableError;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// HTTP status.
    pub status: u16,
    /// Stable, machine-readable code (`validation_failed`, `not_found`, …).
    pub code: &'static str,
    /// What happened and what to do, for a person.
    pub message: String,
    /// Field-level problems, for validation errors.
    pub details: Option<Vec<FieldError>>,
    /// What broke, for a server error: logged where it is answered, never sent.
    pub cause: Option<String>,
}

impl Error {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Error {
            status,
            code,
            message: message.into(),
            details: None,
            cause: None,
        }
    }

    /// 400: the request is malformed (bad JSON, wrong types, bad query parameters).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::new(400, code, message)
    }

    /// 400 with field details: the body does not parse into the expected shape.
    pub fn invalid_body(field: Option<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut error = Error::new(
            400,
            "invalid_body",
            format!("The request body is invalid: {message}"),
        );
        if let Some(field) = field.filter(|f| !f.is_empty() && f != ".") {
            error.details = Some(vec![FieldError { field, message }]);
        }
        error
    }

    /// 401: no valid credentials.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Error::new(401, "unauthenticated", message)
    }

    /// 402: the team has too few credits.
    pub fn insufficient_credits(message: impl Into<String>) -> Self {
        Error::new(402, "insufficient_credits", message)
    }

    /// 403: authenticated, but the role or the scope is too weak.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::new(403, "forbidden", message)
    }

    /// 403 `subscription_inactive`: the team's AWS Marketplace subscription is not active.
    pub fn subscription_inactive() -> Self {
        Error::new(
            403,
            "subscription_inactive",
            "Your AWS Marketplace subscription is not active, so new executions cannot start; \
             your data stays readable. Renew the subscription in AWS Marketplace.",
        )
    }

    /// 404: no such thing in this team (also for other teams' ids).
    pub fn not_found(what: &str) -> Self {
        Error::new(
            404,
            "not_found",
            format!("No {what} with this id exists in your team."),
        )
    }

    /// 404: no route has this path.
    pub fn route_not_found(path: &str) -> Self {
        Error::new(
            404,
            "route_not_found",
            format!("No API route matches {path}."),
        )
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed(method: &str, allowed: &[&str]) -> Self {
        Error::new(
            405,
            "method_not_allowed",
            format!("{method} is not allowed here; use {}.", allowed.join(", ")),
        )
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::new(409, code, message)
    }

    /// 413: the body is over the limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Error::new(
            413,
            "payload_too_large",
            format!(
                "The request body is larger than the limit of {} KB.",
                limit / 1024
            ),
        )
    }

    /// 431: the request's headers are too large, or too many.
    pub fn headers_too_large(message: impl Into<String>) -> Self {
        Error::new(431, "request_header_fields_too_large", message)
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type() -> Self {
        Error::new(
            415,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
        )
    }

    /// 422: the body is well-formed, but its values are not acceptable.
    pub fn validation(errors: FieldErrors) -> Self {
        let mut error = Error::new(
            422,
            "validation_failed",
            "Some fields are invalid; see details.",
        );
        error.details = Some(errors.into_vec());
        error
    }

    /// 422 for one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        Error::validation(errors)
    }

    /// 422 with a specific code and no field details.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Error::new(422, code, message)
    }

    /// 429: slow down.
    pub fn too_many_requests() -> Self {
        Error::new(
            429,
            "too_many_requests",
            "Too many requests right now; retry with backoff.",
        )
    }

    /// 503: a service this request needs is unavailable right now; retrying later can work.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::new(503, "service_unavailable", message)
    }

    /// The same error, keeping what broke for the log.
    pub fn caused_by(self, cause: impl std::fmt::Display) -> Self {
        Error {
            cause: Some(cause.to_string()),
            ..self
        }
    }

    /// 500: something broke on our side. The cause is kept for the log, never sent; building
    /// one logs nothing (a guarded write builds its error before it knows it will fail).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Error {
            cause: Some(cause.to_string()),
            ..Error::new(
                500,
                "internal_error",
                "Something went wrong on our side; retry later or contact support with the request id.",
            )
        }
    }
}

impl From<TableError> for Error {
    fn from(error: TableError) -> Self {
        match error {
            TableError::ConditionFailed => Error::conflict(
                "conflict",
                "The record changed while this request ran; retry it.",
            ),
            TableError::InvalidCursor => Error::bad_request(
                "invalid_cursor",
                "The cursor does not belong to this listing; start again without it.",
            ),
            TableError::Throttled => Error::too_many_requests(),
            other => Error::internal(other),
        }
    }
}

impl From<FieldErrors> for Error {
    fn from(errors: FieldErrors) -> Self {
        Error::validation(errors)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)?;
        match &self.cause {
            Some(cause) => write!(f, " (cause: {cause})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Error {}
