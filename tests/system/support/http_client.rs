//! A small HTTP/1.1 client for tests that talk to a server over loopback (the local server
//! run as a process, ChromeDriver): one exchange per connection.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 exchange on loopback: (status, head, body). Panics if the server is not there.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
    auth: Option<&str>,
) -> (u16, String, String) {
    exchange(addr, method, path, content_type, body, auth)
        .await
        .unwrap()
}

/// One HTTP/1.1 exchange on loopback: (status, head, body), or the error of a server that
/// went away.
pub async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
    auth: Option<&str>,
) -> std::io::Result<(u16, String, String)> {
    let auth = auth
        .map(|a| format!("Authorization: Bearer {a}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw(addr, request.as_bytes()).await
}

/// Sends `request` as it is, byte for byte, and reads the answer: (status, head, body).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<(u16, String, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    // Read the head, then exactly the body it announces: ChromeDriver keeps the connection
    // open whatever the request says.
    let mut response = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let n = stream.read(&mut buffer).await?;
        response.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let lower = head.to_ascii_lowercase();
            let length = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|l| l.trim().parse::<usize>().ok());
            let complete = match length {
                Some(length) => body.len() >= length,
                None if lower.contains("transfer-encoding: chunked") => body.ends_with("0\r\n\r\n"),
                None => n == 0,
            };
            if complete || n == 0 {
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let body = if lower.contains("transfer-encoding: chunked") {
                    dechunk(body)
                } else {
                    body.to_owned()
                };
                return Ok((status, head.to_owned(), body));
            }
        } else if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection before answering",
            ));
        }
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    out
}
