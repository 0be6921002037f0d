//! Configuration read once at cold start from the environment `template.yaml` sets. A missing
//! required variable fails the cold start with its name.

use std::env;

/// Settings of a function.
#[derive(Clone, Debug)]
pub struct Config {
    /// The one table (`TABLE_NAME`).
    pub table_name: String,
    /// JWT sign-in, when `JWT_JWKS` is set.
    pub jwt: Option<JwtSettings>,
    /// Where new executions are queued (`EXECUTIONS_QUEUE_URL`), for the functions that queue.
    pub executions_queue_url: Option<String>,
    /// Where webhook attempts wait (`WEBHOOK_QUEUE_URL`), for the functions that queue them.
    pub webhook_queue_url: Option<String>,
    /// The standard AgentCore state machine (`STATE_MACHINE_ARN`), for the functions that
    /// continue, stop or resume its runs.
    pub state_machine_arn: Option<String>,
    /// The express AgentCore state machine (`EXPRESS_STATE_MACHINE_ARN`), for the dispatcher,
    /// which starts its runs.
    pub express_state_machine_arn: Option<String>,
    /// The results bucket (`RESULTS_BUCKET`), for the functions that store outputs or link to
    /// them.
    pub results_bucket: Option<String>,
    /// The Amazon Bedrock AgentCore Memory that keeps agent memory (`AGENTCORE_MEMORY_ID`);
    /// unset, the table keeps it.
    pub agentcore_memory_id: Option<String>,
    /// The role assumed per team for AgentCore Memory calls (`AGENTCORE_MEMORY_ROLE_ARN`).
    pub agentcore_memory_role_arn: Option<String>,
}

/// How JWTs are verified.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    /// The JWKS document (`JWT_JWKS`), e.g. the content of a Cognito user pool's
    /// `/.well-known/jwks.json`.
    pub jwks: String,
    /// Required `iss` (`JWT_ISSUER`).
    pub issuer: Option<String>,
    /// Required `aud` (`JWT_AUDIENCE`).
    pub audience: Option<String>,
    /// The claim naming the team (`JWT_TEAM_CLAIM`, default `custom:team_id`).
    pub team_claim: String,
}

/// A required variable is missing or empty.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} must be set")]
pub struct MissingVariable(pub &'static str);

fn optional(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Reads the configuration from the environment.
    pub fn from_env() -> Result<Config, MissingVariable> {
        let table_name = optional("TABLE_NAME").ok_or(MissingVariable("TABLE_NAME"))?;
        Ok(Config {
            table_name,
            jwt: JwtSettings::from_env(),
            executions_queue_url: optional("EXECUTIONS_QUEUE_URL"),
            webhook_queue_url: optional("WEBHOOK_QUEUE_URL"),
            state_machine_arn: optional("STATE_MACHINE_ARN"),
            express_state_machine_arn: optional("EXPRESS_STATE_MACHINE_ARN"),
            results_bucket: optional("RESULTS_BUCKET"),
            agentcore_memory_id: optional("AGENTCORE_MEMORY_ID"),
            agentcore_memory_role_arn: optional("AGENTCORE_MEMORY_ROLE_ARN"),
        })
    }
}

impl JwtSettings {
    /// Reads the JWT settings; `None` when `JWT_JWKS` is unset (API keys only).
    pub fn from_env() -> Option<JwtSettings> {
        optional("JWT_JWKS").map(|jwks| JwtSettings {
            jwks,
            issuer: optional("JWT_ISSUER"),
            audience: optional("JWT_AUDIENCE"),
            team_claim: optional("JWT_TEAM_CLAIM").unwrap_or_else(|| "custom:team_id".into()),
        })
    }

    /// The verifier these settings describe.
    pub fn verifier(self) -> Result<crate::app::auth::JwtVerifier, String> {
        crate::app::auth::JwtVerifier::new(&self.jwks, self.issuer, self.audience, self.team_claim)
    }
}

/// The deployed authorizer's usage plans: plan id → usage plan id, and the shared fallback key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsagePlans {
    /// `VELLOCITY_USAGE_PLANS` (JSON: plan id → usage plan id).
    pub by_plan: std::collections::BTreeMap<String, String>,
    /// `VELLOCITY_FALLBACK_USAGE_KEY`: the key teams go under while their own cannot be placed.
    pub fallback_key: String,
}

/// The usage plans the environment names; `None` when unset (locally).
pub fn usage_plans_from_env() -> Result<Option<UsagePlans>, String> {
    let by_plan = match std::env::var("VELLOCITY_USAGE_PLANS") {
        Ok(json) if !json.trim().is_empty() => serde_json::from_str(&json).map_err(|e| {
            format!("VELLOCITY_USAGE_PLANS is not a JSON object of plan → usage plan id: {e}")
        })?,
        _ => return Ok(None),
    };
    let fallback_key = std::env::var("VELLOCITY_FALLBACK_USAGE_KEY")
        .ok()
        .filter(|key| !key.trim().is_empty())
        .ok_or("VELLOCITY_USAGE_PLANS needs VELLOCITY_FALLBACK_USAGE_KEY, the shared key")?;
    Ok(Some(UsagePlans {
        by_plan,
        fallback_key,
    }))
}
