//! The one error type of the use cases: each variant says what happened. How it is answered
//! lives at the edges, once each: the HTTP status and code in [`crate::api::response`], the
//! Step Functions error name in [`crate::agentcore::task::TaskError`]. Building an error
//! logs nothing (a guarded write builds its error before it knows it will fail); the edge that
//! turns a server error into a 500 or a failed task logs it once, with its cause, and tells the
//! client nothing of it.

use crate::domain::validation::{FieldError, FieldErrors};
use crate::ports::table::TableError;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request is malformed: it cannot be read at all.
    #[error("{message}")]
    BadRequest {
        /// What is wrong with it.
        problem: BadRequest,
        /// What happened and what to do, for a person.
        message: String,
    },
    /// The body does not parse into the expected shape (wrong types, unknown fields).
    #[error("The request body is invalid: {message}")]
    InvalidBody {
        /// The parser's words.
        message: String,
        /// The field at fault, where known.
        details: Option<Vec<FieldError>>,
    },
    /// The body is well-formed, but some values are not acceptable.
    #[error("Some fields are invalid; see details.")]
    Validation(Vec<FieldError>),
    /// No valid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but the role or the scope is too weak.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing in this team (also for other teams' ids).
    #[error("No {0} with this id exists in your team.")]
    NotFound(&'static str),
    /// No route has this path.
    #[error("No API route matches {0}.")]
    RouteNotFound(String),
    /// The path exists, the method does not.
    #[error("{method} is not allowed here; use {}.", allowed.join(", "))]
    MethodNotAllowed {
        /// The method asked for.
        method: String,
        /// The methods the path has.
        allowed: Vec<&'static str>,
    },
    /// The request conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// Which conflict.
        kind: Conflict,
        /// What happened and what to do, for a person.
        message: String,
    },
    /// The same `Idempotency-Key` was used for another request.
    #[error("This Idempotency-Key was used for a different request (another body or path); use a new key for a new request.")]
    IdempotencyKeyReused,
    /// The team has too few credits.
    #[error("{0}")]
    InsufficientCredits(String),
    /// The work would pass the team's monthly budget, which stops spending.
    #[error("{0}")]
    BudgetExceeded(String),
    /// The work would pass the member's monthly credit limit.
    #[error("{0}")]
    MemberLimitExceeded(String),
    /// The team's AWS Marketplace subscription is not active.
    #[error("Your AWS Marketplace subscription is not active, so new executions cannot start; your data stays readable. Renew the subscription in AWS Marketplace.")]
    SubscriptionInactive,
    /// The body is over the limit (bytes).
    #[error("The request body is larger than the limit of {} KB.", .0 / 1024)]
    PayloadTooLarge(usize),
    /// The request's headers are too large, or too many.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// The body is not JSON.
    #[error("Send the body as JSON with Content-Type: application/json.")]
    UnsupportedMediaType,
    /// Too many requests right now; retrying later works.
    #[error("Too many requests right now; retry with backoff.")]
    Throttled,
    /// The team is over a limit of its plan: the rate (`burst`) or the day's requests (`daily`).
    #[error("Your plan's {policy} limit is used up; retry in {retry_after} s (see the RateLimit header), or move to a larger plan.")]
    RateLimited {
        /// The policy, as named in `RateLimit-Policy`.
        policy: &'static str,
        /// Seconds until a request is admitted again.
        retry_after: u64,
    },
    /// A service this request needs is unavailable right now; retrying later can work.
    #[error("{message}")]
    Unavailable {
        /// What to do, for a person.
        message: String,
        /// What broke, for the log.
        cause: Option<String>,
    },
    /// Something broke on our side.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The conflicts a request can run into, each with its stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The record changed while the request ran.
    Changed,
    /// The person is a member already.
    AlreadyMember,
    /// A Marketplace customer has a team already.
    AlreadyRegistered,
    /// The run stopped waiting for the approval before it arrived.
    ApprovalExpired,
    /// A company still has products.
    CompanyHasProducts,
    /// A Marketplace customer is stored already.
    CustomerExists,
    /// An execution changed while it was being settled.
    ExecutionChanged,
    /// An execution has ended.
    ExecutionFinished,
    /// A request with the same `Idempotency-Key` is still running.
    IdempotencyInProgress,
    /// Agents name the record as their default.
    InUseByAgents,
    /// The team's last owner.
    LastOwner,
    /// The execution is not waiting for approval.
    NotAwaitingApproval,
    /// A chat reply's hold was released before the reply could be stored.
    ReplyExpired,
    /// A newer change has been applied already.
    Superseded,
    /// An execution's usage is recorded already.
    UsageRecorded,
}

impl Conflict {
    /// The code clients see.
    pub fn code(self) -> &'static str {
        match self {
            Conflict::Changed => "conflict",
            Conflict::AlreadyMember => "already_member",
            Conflict::AlreadyRegistered => "already_registered",
            Conflict::ApprovalExpired => "approval_expired",
            Conflict::CompanyHasProducts => "company_has_products",
            Conflict::CustomerExists => "customer_exists",
            Conflict::ExecutionChanged => "execution_changed",
            Conflict::ExecutionFinished => "execution_finished",
            Conflict::IdempotencyInProgress => "idempotency_in_progress",
            Conflict::InUseByAgents => "in_use_by_agents",
            Conflict::LastOwner => "last_owner",
            Conflict::NotAwaitingApproval => "not_awaiting_approval",
            Conflict::ReplyExpired => "reply_expired",
            Conflict::Superseded => "superseded",
            Conflict::UsageRecorded => "usage_recorded",
        }
    }
}

/// Why a request cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    /// A pagination cursor this API did not return, or one of another listing.
    InvalidCursor,
    /// An `Idempotency-Key` that is not 1–255 visible ASCII characters.
    InvalidIdempotencyKey,
    /// Unknown, repeated or invalid query parameters.
    InvalidQuery,
    /// A body that is not JSON.
    MalformedJson,
    /// Not HTTP/1.1 the server can read.
    MalformedRequest,
    /// No body where the route needs one.
    MissingBody,
}

impl BadRequest {
    /// The code clients see.
    pub fn code(self) -> &'static str {
        match self {
            BadRequest::InvalidCursor => "invalid_cursor",
            BadRequest::InvalidIdempotencyKey => "invalid_idempotency_key",
            BadRequest::InvalidQuery => "invalid_query",
            BadRequest::MalformedJson => "malformed_json",
            BadRequest::MalformedRequest => "malformed_request",
            BadRequest::MissingBody => "missing_body",
        }
    }
}

impl Error {
    /// The request cannot be read.
    pub fn bad_request(problem: BadRequest, message: impl Into<String>) -> Self {
        Error::BadRequest {
            problem,
            message: message.into(),
        }
    }

    /// The body does not parse; `field` names where, if known.
    pub fn invalid_body(field: Option<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let details = field.filter(|f| !f.is_empty() && f != ".").map(|field| {
            vec![FieldError {
                field,
                message: message.clone(),
            }]
        });
        Error::InvalidBody { message, details }
    }

    /// No valid credentials.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Error::Unauthenticated(message.into())
    }

    /// The team has too few credits.
    pub fn insufficient_credits(message: impl Into<String>) -> Self {
        Error::InsufficientCredits(message.into())
    }

    /// The role or the scope is too weak.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }

    /// No such thing in this team.
    pub fn not_found(what: &'static str) -> Self {
        Error::NotFound(what)
    }

    /// A conflict of a named kind.
    pub fn conflict(kind: Conflict, message: impl Into<String>) -> Self {
        Error::Conflict {
            kind,
            message: message.into(),
        }
    }

    /// Invalid values, with a message per field.
    pub fn validation(errors: FieldErrors) -> Self {
        Error::Validation(errors.into_vec())
    }

    /// One invalid field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        Error::validation(errors)
    }

    /// A service this request needs is unavailable right now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::Unavailable {
            message: message.into(),
            cause: None,
        }
    }

    /// A service this request needs is unavailable right now, because `broke` (for the log).
    pub fn unavailable_because(message: impl Into<String>, broke: impl std::fmt::Display) -> Self {
        Error::Unavailable {
            message: message.into(),
            cause: Some(broke.to_string()),
        }
    }

    /// Something broke on our side; `cause` is for the log, never for the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Error::Internal(cause.to_string())
    }

    /// The field-level problems, for validation errors.
    pub fn details(&self) -> Option<&[FieldError]> {
        match self {
            Error::Validation(details) => Some(details),
            Error::InvalidBody { details, .. } => details.as_deref(),
            _ => None,
        }
    }

    /// What broke, for a server error.
    pub fn cause(&self) -> Option<&str> {
        match self {
            Error::Internal(cause) => Some(cause),
            Error::Unavailable { cause, .. } => cause.as_deref(),
            _ => None,
        }
    }
}

impl From<TableError> for Error {
    fn from(error: TableError) -> Self {
        match error {
            TableError::ConditionFailed => Error::conflict(
                Conflict::Changed,
                "The record changed while this request ran; retry it.",
            ),
            TableError::InvalidCursor => Error::bad_request(
                BadRequest::InvalidCursor,
                "The cursor does not belong to this listing; start again without it.",
            ),
            TableError::Throttled => Error::Throttled,
            other => Error::internal(other),
        }
    }
}

impl From<crate::domain::objects_only::Malformed> for Error {
    fn from(malformed: crate::domain::objects_only::Malformed) -> Self {
        Error::invalid_body(malformed.field, malformed.message)
    }
}

impl From<crate::domain::capabilities::InputProblem> for Error {
    fn from(problem: crate::domain::capabilities::InputProblem) -> Self {
        match problem {
            crate::domain::capabilities::InputProblem::Malformed(malformed) => malformed.into(),
            crate::domain::capabilities::InputProblem::Invalid(errors) => errors.into(),
        }
    }
}

impl From<FieldErrors> for Error {
    fn from(errors: FieldErrors) -> Self {
        Error::validation(errors)
    }
}
