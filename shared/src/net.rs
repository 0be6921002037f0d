//! The webhook sender over the network: resolves a receiver's host, refuses it if any address
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

/// Sends webhook messages over the network. Its TLS setup (the system's root certificates,
/// some milliseconds to load) is made on the first `https` delivery, not when the sender is:
/// most processes that hold one (the registration routes, the local stack) never need it.
#[derive(Clone, Default)]
pub struct NetworkSender {
    tls: Arc<OnceLock<Result<tokio_rustls::TlsConnector, String>>>,
}

impl NetworkSender {
    fn tls(&self) -> Result<&tokio_rustls::TlsConnector, SendError> {
        self.tls
            .get_or_init(trusting_the_system_roots)
            .as_ref()
            .map_err(|e| SendError::Failed(format!("TLS setup: {e}")))
    }
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
            let tcp = TcpStream::connect(target)
                .await
                .map_err(failed("connect"))?;
            match message.url.scheme() {
                "https" => {
                    let host = message.url.host_str().unwrap_or_default().to_owned();
                    let name = rustls::pki_types::ServerName::try_from(host)
                        .map_err(failed("server name"))?;
                    let tls = self
                        .tls()?
                        .connect(name, tcp)
                        .await
                        .map_err(failed("TLS"))?;
                    post(tls, message).await
                }
                "http" if allow_loopback && target.ip().is_loopback() => post(tcp, message).await,
                other => Err(SendError::Refused(format!("{other} is not allowed"))),
            }
        };
        tokio::time::timeout(ATTEMPT_TIMEOUT, attempt)
            .await
            .map_err(|_| {
                SendError::Failed(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()))
            })?
    }
}

/// POSTs the message over an open connection and reads the status (the body is drained).
async fn post<S>(stream: S, message: &Outbound) -> Result<Answer, SendError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(failed("HTTP"))?;
    tokio::spawn(connection);
    let authority = match message.url.port() {
        Some(port) => format!("{}:{port}", message.url.host_str().unwrap_or_default()),
        None => message.url.host_str().unwrap_or_default().to_owned(),
    };
    let path = match message.url.query() {
        Some(query) => format!("{}?{query}", message.url.path()),
        None => message.url.path().to_owned(),
    };
    let mut request = http::Request::post(path)
        .header("host", authority)
        .header("content-type", "application/json")
        .header("user-agent", "Vellocity-Webhooks/1");
    for (name, value) in &message.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(Full::new(Bytes::from(message.body.clone())))
        .map_err(failed("request"))?;
    let response = sender.send_request(request).await.map_err(failed("HTTP"))?;
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
