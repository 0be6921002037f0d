//! What the benches share.

use vellocity_local::HttpRequest;

/// A request of the API as a client sends it, with its API key.
pub fn request(
    method: &str,
    path: &str,
    query: &str,
    key: &str,
    body: Option<String>,
) -> HttpRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
    if body.is_some() {
        headers.insert("content-type", "application/json".parse().unwrap());
    }
    HttpRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers,
        body: body.unwrap_or_default().into_bytes(),
    }
}
