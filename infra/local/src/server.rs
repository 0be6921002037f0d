//! The local HTTP server: hyper on a loopback address, one task and one request per connection.
//!
//! hyper answers a request it cannot parse (oversize or invalid headers, a bad request line)
//! itself, with an empty body. So the server reads each request's head first and answers what
//! hyper would refuse in the API's error envelope, with a request id like every other error;
//! a head that passes is handed to hyper with the bytes already read. Connections are not
//! kept alive, so every request's head is checked.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use std::convert::Infallible;

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use vellocity::api::request::BODY_LIMIT;
use vellocity::api::service::Streaming;
use vellocity::api::stream::{into_frames, EVENT_STREAM};
use vellocity::error::{BadRequest, Error};

use crate::{error_response, new_request_id, HttpRequest, Stack};

/// The largest request head (request line and headers) accepted: API Gateway's limit on
/// headers is 10 KB; this leaves room for a long query string.
pub const HEAD_LIMIT: usize = 32 * 1024;
/// The most headers one request may have.
const MAX_HEADERS: usize = 100;

/// Serves the stack on `listener` until the process is stopped.
pub async fn serve(stack: Stack, listener: TcpListener) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let stack = stack.clone();
        tokio::spawn(async move {
            if let Err(error) = connection(stack, stream).await {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
}

/// Binds `addr`.
pub async fn bind(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

async fn connection(stack: Stack, mut stream: TcpStream) -> io::Result<()> {
    let head = match read_head(&mut stream).await? {
        Head::Valid(head) => head,
        Head::Refused(error) => return refuse(&mut stream, &error).await,
        Head::Closed => return Ok(()),
    };
    let service = service_fn(move |request| {
        let stack = stack.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(&stack, request).await) }
    });
    http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(HEAD_LIMIT.max(8192) * 2)
        .serve_connection(TokioIo::new(Replay { head, stream }), service)
        .await
        .map_err(io::Error::other)
}

enum Head {
    /// The bytes read so far: a head that parses, and perhaps the start of the body.
    Valid(Vec<u8>),
    /// What to answer instead of handing the request to hyper.
    Refused(Error),
    /// The client went away before sending a head.
    Closed,
}

/// Reads until the end of the request head and checks it as hyper would.
async fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let mut bytes = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(match bytes.is_empty() {
                true => Head::Closed,
                false => Head::Refused(malformed("the request ended inside its head")),
            });
        }
        bytes.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&bytes) {
            Ok(httparse::Status::Complete(end)) if end > HEAD_LIMIT => {
                return Ok(Head::Refused(too_large()))
            }
            Ok(httparse::Status::Complete(_)) => {
                let target = request.path.unwrap_or_default();
                if target.parse::<http::Uri>().is_err() {
                    return Ok(Head::Refused(malformed(
                        "the request target is not a valid URI",
                    )));
                }
                return Ok(match body_framing(request.headers) {
                    Ok(()) => Head::Valid(bytes),
                    Err(why) => Head::Refused(malformed(why)),
                });
            }
            Ok(httparse::Status::Partial) if bytes.len() > HEAD_LIMIT => {
                return Ok(Head::Refused(too_large()))
            }
            Ok(httparse::Status::Partial) => continue,
            Err(httparse::Error::TooManyHeaders) => return Ok(Head::Refused(too_large())),
            Err(error) => return Ok(Head::Refused(malformed(&error.to_string()))),
        }
    }
}

/// Checks how the body is framed, as hyper would (RFC 9112 §6): one `Content-Length` of
/// digits (repeats must agree), or a `Transfer-Encoding` ending in `chunked`, never both.
fn body_framing(headers: &[httparse::Header<'_>]) -> Result<(), &'static str> {
    let named = |name: &'static str| -> Vec<String> {
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
            .collect()
    };
    let mut lengths = named("content-length").into_iter().flat_map(|v| {
        v.split(',')
            .map(|part| part.trim().to_owned())
            .collect::<Vec<_>>()
    });
    let first = lengths.next();
    if let Some(first) = &first {
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
            return Err("Content-Length is not a number of bytes");
        }
        if lengths.any(|other| other != *first) {
            return Err("the request gives conflicting Content-Lengths");
        }
    }
    let codings = named("transfer-encoding");
    if !codings.is_empty() {
        if first.is_some() {
            return Err("the request gives both Content-Length and Transfer-Encoding");
        }
        let last = codings.join(",");
        let chunked_last = last
            .rsplit(',')
            .next()
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        if !chunked_last {
            return Err("Transfer-Encoding must end in chunked");
        }
    }
    Ok(())
}

fn malformed(why: &str) -> Error {
    Error::bad_request(
        BadRequest::MalformedRequest,
        format!("The request could not be read as HTTP/1.1: {why}."),
    )
}

fn too_large() -> Error {
    Error::HeadersTooLarge(format!(
        "The request's headers are larger than {} KB, or more than {MAX_HEADERS}.",
        HEAD_LIMIT / 1024
    ))
}

/// Answers `error` in the envelope and closes the connection.
async fn refuse(stream: &mut TcpStream, error: &Error) -> io::Result<()> {
    let response = error_response(error, new_request_id()).into_http();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nconnection: close\r\ncontent-length: {}\r\n",
        response.status().as_u16(),
        response.status().canonical_reason().unwrap_or_default(),
        response.body().len()
    );
    for (name, value) in response.headers() {
        head.push_str(&format!(
            "{name}: {}\r\n",
            value.to_str().unwrap_or_default()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(response.body().as_bytes()).await?;
    stream.shutdown().await
}

/// The connection with the bytes of the head, already read, in front of it.
struct Replay {
    head: Vec<u8>,
    stream: TcpStream,
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.head.is_empty() {
            let n = self.head.len().min(buf.remaining());
            buf.put_slice(&self.head[..n]);
            self.head.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A response body: whole, or streamed (Server-Sent Events).
type AnswerBody = UnsyncBoxBody<Bytes, Infallible>;

async fn answer(stack: &Stack, request: hyper::Request<Incoming>) -> hyper::Response<AnswerBody> {
    let (parts, body) = request.into_parts();
    // Read at most one byte past the limit: enough to know the body is too large.
    let response = match Limited::new(body, BODY_LIMIT + 1).collect().await {
        Err(_) => error_response(&Error::PayloadTooLarge(BODY_LIMIT), new_request_id()).into_http(),
        Ok(collected) => {
            let request = HttpRequest {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                headers: parts.headers,
                body: collected.to_bytes().to_vec(),
            };
            if request.method == "GET" && request.path == "/" {
                return whole(console());
            }
            if let Some(opened) = stack.stream(&request).await {
                return match opened {
                    Ok(streaming) => event_stream(streaming),
                    Err(refused) => whole(refused.into_http()),
                };
            }
            match stack.page(&request).await {
                Some(page) => page.into_http(),
                None => stack.handle(request).await.into_http(),
            }
        }
    };
    whole(response)
}

/// The console: one static page (no build step, nothing from a CDN) that uses the API with
/// the key pasted into it.
fn console() -> hyper::Response<String> {
    let mut response = hyper::Response::new(include_str!("console.html").to_owned());
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        "content-security-policy",
        http::HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        ),
    );
    response
}

fn whole(response: hyper::Response<String>) -> hyper::Response<AnswerBody> {
    response.map(|body| Full::new(Bytes::from(body)).boxed_unsync())
}

/// Streams an answer as it is made (an execution's events, a chat reply).
fn event_stream(streaming: Streaming) -> hyper::Response<AnswerBody> {
    let body = StreamBody::new(into_frames(streaming.stream)).boxed_unsync();
    let mut response = hyper::Response::new(body);
    let headers = response.headers_mut();
    headers.insert("content-type", http::HeaderValue::from_static(EVENT_STREAM));
    headers.insert("cache-control", http::HeaderValue::from_static("no-cache"));
    for (name, value) in streaming.headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}
