//! API Gateway usage plans, one per plan: each team has an API Gateway API key in the usage
//! plan of its plan, and the authorizer names it as the request's `usageIdentifierKey`
//! (`ApiKeySourceType: AUTHORIZER`), so API Gateway throttles and caps each team at the edge,
//! before a function runs. The key is not a credential: clients never see or send it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::ids::TeamId;

/// A team's API Gateway key and the plan whose usage plan holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageKey {
    /// API Gateway's id of the key.
    pub id: String,
    /// The key's value: what the authorizer returns as `usageIdentifierKey`.
    pub value: String,
    /// The plan whose usage plan it is in.
    pub plan: String,
}

/// A usage plan could not be reached or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("usage plans: {0}")]
pub struct UsageKeyError(pub String);

/// Where teams' keys are kept (API Gateway).
#[async_trait]
pub trait UsageKeys: Send + Sync {
    /// The team's key in the usage plan of `plan`: created (or found, when an earlier attempt
    /// created it), or moved there from the usage plan it is in (`current`).
    async fn place(
        &self,
        team: &TeamId,
        plan: &str,
        current: Option<&UsageKey>,
    ) -> Result<UsageKey, UsageKeyError>;

    /// The key a team's requests go under while its own cannot be placed (API Gateway's
    /// control plane refusing, the account's keys used up): a shared one in a roomy usage
    /// plan, so a placement that fails refuses nobody.
    fn fallback(&self) -> &str;
}
