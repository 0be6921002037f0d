//! The local HTTP server: hyper on a loopback address, one task per connection.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use vellocity::api::request::BODY_LIMIT;
use vellocity::api::response::ApiResponse;
use vellocity::error::Error;

use crate::{HttpRequest, Stack};

/// Serves the stack on `listener` until the process is stopped.
pub async fn serve(stack: Stack, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let stack = stack.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let stack = stack.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&stack, request).await) }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
}

/// Binds `addr`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

async fn answer(stack: &Stack, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    // Read at most one byte past the limit: enough to know the body is too large.
    let response = match Limited::new(body, BODY_LIMIT + 1).collect().await {
        Err(_) => ApiResponse::error(&Error::payload_too_large(BODY_LIMIT), "local").into_http(),
        Ok(collected) => {
            let request = HttpRequest {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                headers: parts.headers,
                body: collected.to_bytes().to_vec(),
            };
            match stack.page(&request).await {
                Some(page) => page.into_http(),
                None => stack.handle(request).await.into_http(),
            }
        }
    };
    response.map(|body| Full::new(Bytes::from(body)))
}
