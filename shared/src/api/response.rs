//! Responses, and the one error envelope every failure is rendered in.

use serde::Serialize;

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
        let mut builder = http::Response::builder().status(self.status);
        if self.body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in &self.headers {
            builder = builder.header(*name, value.as_str());
        }
        builder
            .body(self.body.unwrap_or_default())
            .unwrap_or_default()
    }

    /// The error envelope: `{"error":{"code","message","request_id","details"?}}`. This is
    /// where a server error is logged, once, with its cause.
    pub fn error(error: &Error, request_id: &str) -> ApiResponse {
        if error.status >= 500 {
            tracing::error!(%request_id, %error, "answered with a server error");
        }
        let mut inner = serde_json::json!({
            "code": error.code,
            "message": error.message,
            "request_id": request_id,
        });
        if let Some(details) = &error.details {
            inner["details"] = serde_json::to_value(details).unwrap_or_default();
        }
        let body = serde_json::json!({ "error": inner }).to_string();
        let mut headers = Vec::new();
        if error.status == 401 {
            headers.push(("www-authenticate", "Bearer".to_owned()));
        }
        if error.status == 429 {
            headers.push(("retry-after", "1".to_owned()));
        }
        ApiResponse {
            status: error.status,
            body: Some(body),
            headers,
        }
    }
}
