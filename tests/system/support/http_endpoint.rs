//! A loopback HTTP/1.1 server for tests that stand in for an AWS service: each request's
//! head and body go to a handler, whose response is sent back.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;

/// What a handler answers.
pub type Reply = hyper::Response<Full<Bytes>>;

/// Serves `handler` on a free loopback port until the test ends; returns the address.
pub async fn serve<F>(handler: F) -> SocketAddr
where
    F: Fn(&http::request::Parts, &Bytes) -> Reply + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let bytes = body.collect().await.unwrap().to_bytes();
                        Ok::<_, std::convert::Infallible>(handler(&parts, &bytes))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}
