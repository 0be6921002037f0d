//! A request as every handler sees it, whether it came from API Gateway or the local router,
//! with the parsing that turns untrusted input into typed values or a clear 4xx.

use serde::de::DeserializeOwned;

use crate::app::items::decode_json;
use crate::app::records::PageRequest;
use crate::app::Caller;
use crate::error::{BadRequest, Error};
use crate::ports::table::Cursor;

use super::routes::{QueryParam, DEFAULT_PAGE, MAX_PAGE};

/// The largest accepted body.
pub const BODY_LIMIT: usize = 256 * 1024;

/// An authenticated API request.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    /// API Gateway's request id (or the local router's).
    pub request_id: String,
    /// Who is calling.
    pub caller: Caller,
    /// Path parameters by name.
    pub path_params: Vec<(String, String)>,
    /// Query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// The raw body.
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// A path parameter (always present: the route template has it).
    pub fn path(&self, name: &str) -> &str {
        self.path_params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Refuses query parameters the route does not take.
    pub fn allow_query(&self, known: &[QueryParam]) -> Result<(), Error> {
        if let Some((name, _)) = self
            .query
            .iter()
            .find(|(n, _)| !known.iter().any(|k| k.name == n))
        {
            let expected = if known.is_empty() {
                "none".to_owned()
            } else {
                let names: Vec<_> = known.iter().map(|k| k.name).collect();
                names.join(", ")
            };
            return Err(Error::bad_request(
                BadRequest::InvalidQuery,
                format!("Unknown query parameter `{name}`; this route accepts {expected}."),
            ));
        }
        Ok(())
    }

    /// The value of a query parameter given at most once.
    pub fn query_value(&self, name: &str) -> Result<Option<&str>, Error> {
        let mut values = self.query.iter().filter(|(n, _)| n == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(Error::bad_request(
                BadRequest::InvalidQuery,
                format!("Give `{name}` at most once."),
            ));
        }
        Ok(first)
    }

    /// `?limit=` (1–100, default 20) and `?cursor=` (the route table says which routes take
    /// them; others were refused before the handler ran).
    pub fn page(&self) -> Result<PageRequest, Error> {
        let limit = match self.query_value("limit")? {
            None => DEFAULT_PAGE,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    Error::bad_request(
                        BadRequest::InvalidQuery,
                        format!("`limit` must be a whole number from 1 to {MAX_PAGE}."),
                    )
                })?,
        };
        let cursor = match self.query_value("cursor")? {
            None => None,
            Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
                Error::bad_request(
                    BadRequest::InvalidCursor,
                    "The cursor is not one this API returned; start again without it.",
                )
            })?),
        };
        Ok(PageRequest { limit, cursor })
    }

    /// The body as JSON: it must be present, declared as JSON, within the size limit and
    /// well-formed.
    pub fn json_value(&self) -> Result<serde_json::Value, Error> {
        if self.body.len() > BODY_LIMIT {
            return Err(Error::PayloadTooLarge(BODY_LIMIT));
        }
        let content_type = self.header("content-type").unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::bad_request(
                BadRequest::MissingBody,
                "This route needs a JSON body.",
            ));
        }
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(Error::UnsupportedMediaType);
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::bad_request(
                BadRequest::MalformedJson,
                format!(
                    "The body is not valid JSON: {e} (line {}, column {}).",
                    e.line(),
                    e.column()
                ),
            )
        })
    }

    /// The body decoded into a typed request; unknown fields and wrong types name the field.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let value = self.json_value()?;
        if !value.is_object() {
            return Err(Error::invalid_body(None, "the body must be a JSON object"));
        }
        decode_json(value)
    }
}
