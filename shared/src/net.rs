//! Outbound HTTP/1.1 over plain TCP or TLS ([`Connector`], [`exchange`]), and the webhook
//! sender over it: resolves a receiver's host, refuses it if any address
//! it resolves to is one the SSRF guard refuses, connects to the checked address itself (so a
//! second resolution cannot point elsewhere), speaks HTTP/1.1 over TLS (`https`, the system's
//! root certificates) or plain TCP (`http`, loopback only, when the local switch allows), and
//! never follows a redirect.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::domain::webhook::{check_address, ATTEMPT_TIMEOUT};
use crate::ports::webhooks::{Answer, Outbound, SendError, WebhookSender};

/// Opens connections: plain TCP, or TLS trusting the system's root certificates. The TLS
/// setup (the roots, some milliseconds to load) is made on the first `https` connection, not
/// when the connector is: most processes that hold one never need it.
#[derive(Clone, Default)]
pub struct Connector {
    tls: Arc<OnceLock<Result<tokio_rustls::TlsConnector, String>>>,
}

/// A connection an HTTP exchange runs over: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

impl Connector {
    fn tls(&self) -> Result<&tokio_rustls::TlsConnector, String> {
        self.tls
            .get_or_init(trusting_the_system_roots)
            .as_ref()
            .map_err(|e| format!("TLS setup: {e}"))
    }

    /// Connects to `target`; for an `https` URL, shakes hands with it as the URL's host.
    pub async fn connect(&self, url: &url::Url, target: SocketAddr) -> Result<Box<dyn Io>, String> {
        let tcp = TcpStream::connect(target)
            .await
            .map_err(|e| format!("connect to {target}: {e}"))?;
        if url.scheme() != "https" {
            return Ok(Box::new(tcp));
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|e| format!("server name: {e}"))?;
        let tls = self
            .tls()?
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        Ok(Box::new(tls))
    }
}

/// Sends one HTTP/1.1 request over an open connection; the answer's body streams in as it is
/// read.
pub async fn exchange(
    stream: Box<dyn Io>,
    request: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String> {
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(connection);
    sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP: {e}"))
}

/// The `host` header and request target of a URL.
pub fn authority_and_target(url: &url::Url) -> (String, String) {
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    (authority, target)
}

/// Sends webhook messages over the network.
#[derive(Clone, Default)]
pub struct NetworkSender {
    connector: Connector,
}

/// A TLS connector trusting the system's root certificates.
fn trusting_the_system_roots() -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

fn failed<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> SendError + '_ {
    move |e| SendError::Failed(format!("{what}: {e}"))
}

#[async_trait]
impl WebhookSender for NetworkSender {
    async fn resolve(
        &self,
        url: &url::Url,
        allow_loopback: bool,
    ) -> Result<Vec<IpAddr>, SendError> {
        let host = url
            .host_str()
            .ok_or_else(|| SendError::Refused("the URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| SendError::Refused(format!("{host} does not resolve: {e}")))?
                .map(|a| a.ip())
                .collect(),
        };
        if addresses.is_empty() {
            return Err(SendError::Refused(format!("{host} does not resolve")));
        }
        for ip in &addresses {
            check_address(*ip, allow_loopback).map_err(SendError::Refused)?;
        }
        Ok(addresses)
    }

    async fn send(&self, message: &Outbound, allow_loopback: bool) -> Result<Answer, SendError> {
        let addresses = self.resolve(&message.url, allow_loopback).await?;
        let port = message.url.port_or_known_default().unwrap_or(443);
        let target = SocketAddr::new(addresses[0], port);
        let attempt = async {
            match message.url.scheme() {
                "https" => {}
                "http" if allow_loopback && target.ip().is_loopback() => {}
                other => return Err(SendError::Refused(format!("{other} is not allowed"))),
            }
            let stream = self
                .connector
                .connect(&message.url, target)
                .await
                .map_err(SendError::Failed)?;
            post(stream, message).await
        };
        tokio::time::timeout(ATTEMPT_TIMEOUT, attempt)
            .await
            .map_err(|_| {
                SendError::Failed(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()))
            })?
    }
}

/// POSTs the message over an open connection and reads the status (the body is drained).
async fn post(stream: Box<dyn Io>, message: &Outbound) -> Result<Answer, SendError> {
    let (authority, target) = authority_and_target(&message.url);
    let mut request = http::Request::post(target)
        .header("host", authority)
        .header("content-type", "application/json")
        .header("user-agent", "Vellocity-Webhooks/1");
    for (name, value) in &message.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(Full::new(Bytes::from(message.body.clone())))
        .map_err(failed("request"))?;
    let response = exchange(stream, request).await.map_err(SendError::Failed)?;
    let status = response.status().as_u16();
    let retry_after_seconds = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let _ = response.into_body().collect().await;
    Ok(Answer {
        status,
        retry_after_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(url: &str) -> Outbound {
        Outbound {
            url: url::Url::parse(url).unwrap(),
            headers: Vec::new(),
            body: "{}".into(),
        }
    }

    #[tokio::test]
    async fn a_delivery_to_a_refused_address_is_refused_before_any_connection() {
        let sender = NetworkSender::default();
        for url in [
            "http://127.0.0.1:9/in",
            "https://localhost:9/in",
            "https://10.0.0.1/in",
            "https://[::ffff:169.254.169.254]/in",
        ] {
            let sent = sender.send(&message(url), false).await;
            assert!(
                matches!(sent, Err(SendError::Refused(_))),
                "{url}: {sent:?}"
            );
        }
        // With the local switch, loopback is reached (nothing listens on port 9: a failure,
        // not a refusal); private addresses stay refused.
        let local = sender.send(&message("http://127.0.0.1:9/in"), true).await;
        assert!(matches!(local, Err(SendError::Failed(_))), "{local:?}");
        let private = sender.send(&message("https://10.0.0.1/in"), true).await;
        assert!(matches!(private, Err(SendError::Refused(_))), "{private:?}");
    }
}
