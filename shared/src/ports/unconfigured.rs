//! The adapter of a port a process was not configured for: a route function whose template
//! entry gives it no queue, or a one-off admin command. Every call fails with the setting that
//! is missing, instead of the process needing clients (and permissions) it never uses.

use async_trait::async_trait;
use serde_json::Value;

use super::queue::{Queue, QueueError};
use super::workflows::{WorkflowError, Workflows};

/// A port left unconfigured; holds the name of the setting that would configure it.
#[derive(Clone, Copy, Debug)]
pub struct Unconfigured(pub &'static str);

impl Unconfigured {
    fn message(&self) -> String {
        format!("not configured in this process (set {})", self.0)
    }
}

#[async_trait]
impl Queue for Unconfigured {
    async fn send(&self, _body: &str) -> Result<(), QueueError> {
        Err(QueueError(self.message()))
    }
}

#[async_trait]
impl crate::ports::webhooks::WebhookSender for Unconfigured {
    async fn resolve(
        &self,
        _url: &url::Url,
        _allow_loopback: bool,
    ) -> Result<Vec<std::net::IpAddr>, crate::ports::webhooks::SendError> {
        Err(crate::ports::webhooks::SendError::Failed(self.message()))
    }

    async fn send(
        &self,
        _message: &crate::ports::webhooks::Outbound,
        _allow_loopback: bool,
    ) -> Result<crate::ports::webhooks::Answer, crate::ports::webhooks::SendError> {
        Err(crate::ports::webhooks::SendError::Failed(self.message()))
    }
}

#[async_trait]
impl Workflows for Unconfigured {
    async fn start(&self, _name: &str, _input: &Value) -> Result<(), WorkflowError> {
        Err(WorkflowError::Failed(self.message()))
    }

    async fn continue_durably(&self, _name: &str, _input: &Value) -> Result<(), WorkflowError> {
        Err(WorkflowError::Failed(self.message()))
    }

    async fn stop(&self, _name: &str, _cause: &str) -> Result<(), WorkflowError> {
        Err(WorkflowError::Failed(self.message()))
    }

    async fn succeed_task(&self, _token: &str, _output: &Value) -> Result<(), WorkflowError> {
        Err(WorkflowError::Failed(self.message()))
    }

    async fn fail_task(&self, _token: &str, _e: &str, _cause: &str) -> Result<(), WorkflowError> {
        Err(WorkflowError::Failed(self.message()))
    }
}

#[async_trait]
impl crate::ports::marketplace::Marketplace for Unconfigured {
    async fn resolve_customer(
        &self,
        _token: &str,
    ) -> Result<
        crate::ports::marketplace::ResolvedCustomer,
        crate::ports::marketplace::MarketplaceError,
    > {
        Err(crate::ports::marketplace::MarketplaceError::Unavailable(
            self.message(),
        ))
    }

    async fn batch_meter_usage(
        &self,
        _product_code: &str,
        _records: &[crate::ports::marketplace::UsageRecord],
    ) -> Result<crate::ports::marketplace::BatchOutcome, crate::ports::marketplace::MarketplaceError>
    {
        Err(crate::ports::marketplace::MarketplaceError::Unavailable(
            self.message(),
        ))
    }

    async fn get_entitlements(
        &self,
        _product_code: &str,
        _customer: &crate::ports::marketplace::EntitlementFilter,
    ) -> Result<
        Vec<crate::ports::marketplace::Entitlement>,
        crate::ports::marketplace::MarketplaceError,
    > {
        Err(crate::ports::marketplace::MarketplaceError::Unavailable(
            self.message(),
        ))
    }
}

#[async_trait]
impl crate::ports::ai::Llm for Unconfigured {
    async fn converse(
        &self,
        _request: crate::ports::ai::TextRequest,
    ) -> Result<crate::ports::ai::TextResponse, crate::ports::ai::AiError> {
        Err(crate::ports::ai::AiError::Unavailable(self.message()))
    }
}

#[async_trait]
impl crate::ports::ai::ImageGen for Unconfigured {
    async fn generate(
        &self,
        _request: crate::ports::ai::ImageRequest,
    ) -> Result<crate::ports::ai::ImageResponse, crate::ports::ai::AiError> {
        Err(crate::ports::ai::AiError::Unavailable(self.message()))
    }
}

#[async_trait]
impl crate::ports::objects::ObjectStore for Unconfigured {
    async fn put(
        &self,
        _key: &str,
        _bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), crate::ports::objects::ObjectError> {
        Err(crate::ports::objects::ObjectError(self.message()))
    }

    async fn get(&self, _key: &str) -> Result<Option<Vec<u8>>, crate::ports::objects::ObjectError> {
        Err(crate::ports::objects::ObjectError(self.message()))
    }

    async fn link(
        &self,
        _key: &str,
        _seconds: u64,
    ) -> Result<String, crate::ports::objects::ObjectError> {
        Err(crate::ports::objects::ObjectError(self.message()))
    }
}

impl crate::ports::metrics::Metrics for Unconfigured {
    /// Metrics never fail the work they describe: an unconfigured sink says so once, then
    /// drops what it is given.
    fn emit(&self, _event: crate::ports::metrics::MetricEvent) {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            tracing::warn!(
                setting = self.0,
                "metrics are not published: {}",
                self.message()
            )
        });
    }
}
