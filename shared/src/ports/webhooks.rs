//! The webhook sender port: POSTs a signed message to a receiver, reaching only addresses the
//! SSRF guard allows (checked on the addresses the name resolves to, and the connection made to
//! the address checked, so a name cannot resolve elsewhere between the check and the call).

use std::net::IpAddr;

use async_trait::async_trait;

/// A message to POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// The receiver.
    pub url: url::Url,
    /// Headers besides `content-type: application/json`.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: String,
}

/// How the receiver answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Its `Retry-After`, in seconds, when it sent one.
    pub retry_after_seconds: Option<i64>,
}

/// Why a message could not be delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The receiver is at an address webhooks may not reach (or its name does not resolve).
    #[error("refused: {0}")]
    Refused(String),
    /// The connection, TLS or the answer failed, or took longer than allowed.
    #[error("{0}")]
    Failed(String),
}

/// Sends webhook messages.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// The addresses a receiver's host stands for, each allowed by the SSRF guard
    /// (`allow_loopback`: the local stack's switch); `Refused` if any is not.
    async fn resolve(&self, url: &url::Url, allow_loopback: bool)
        -> Result<Vec<IpAddr>, SendError>;

    /// POSTs the message to an allowed address of its receiver, waiting at most the attempt
    /// timeout; redirects are answers, never followed.
    async fn send(&self, message: &Outbound, allow_loopback: bool) -> Result<Answer, SendError>;
}
