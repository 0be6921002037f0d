//! API Gateway behind the usage-keys port: a team's key is created with the team id as its
//! name and value (so a retried creation finds the key it made) and attached to the usage plan
//! of the team's plan; a plan change moves it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_apigateway::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_apigateway::Client;

use crate::domain::ids::TeamId;
use crate::ports::usage_keys::{UsageKey, UsageKeyError, UsageKeys};

/// The usage plans of the API, by plan.
#[derive(Clone)]
pub struct ApiGatewayUsageKeys {
    client: Client,
    usage_plans: BTreeMap<String, String>,
    fallback_usage_plan: String,
    fallback_key: String,
}

impl ApiGatewayUsageKeys {
    /// `usage_plans` maps plan ids to usage plan ids (`VELLOCITY_USAGE_PLANS`); a plan it does
    /// not name goes to the usage plan of `fallback_plan`. `fallback_key` is the shared key
    /// (`VELLOCITY_FALLBACK_USAGE_KEY`) used while a team's own cannot be placed.
    pub fn new(
        client: Client,
        usage_plans: BTreeMap<String, String>,
        fallback_plan: &str,
        fallback_key: String,
    ) -> Result<Self, String> {
        let fallback_usage_plan = usage_plans
            .get(fallback_plan)
            .cloned()
            .ok_or_else(|| format!("the usage plans name no `{fallback_plan}` plan"))?;
        Ok(ApiGatewayUsageKeys {
            client,
            usage_plans,
            fallback_usage_plan,
            fallback_key,
        })
    }

    fn usage_plan(&self, plan: &str) -> &str {
        self.usage_plans
            .get(plan)
            .unwrap_or(&self.fallback_usage_plan)
    }

    /// The team's key: the one named after it, or a new one.
    async fn key_of(&self, team: &TeamId) -> Result<(String, String), UsageKeyError> {
        let found = self
            .client
            .get_api_keys()
            .name_query(team.as_str())
            .include_values(true)
            .send()
            .await
            .map_err(failed)?;
        if let Some(key) = found
            .items()
            .iter()
            .find(|k| k.name() == Some(team.as_str()))
        {
            if let (Some(id), Some(value)) = (key.id(), key.value()) {
                return Ok((id.to_owned(), value.to_owned()));
            }
        }
        let created = self
            .client
            .create_api_key()
            .name(team.as_str())
            .value(team.as_str())
            .description("A Vellocity team's key for its plan's usage plan (not a credential)")
            .enabled(true)
            .send()
            .await
            .map_err(failed)?;
        match (created.id(), created.value()) {
            (Some(id), Some(value)) => Ok((id.to_owned(), value.to_owned())),
            _ => Err(UsageKeyError("CreateApiKey returned no id or value".into())),
        }
    }
}

fn failed<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: aws_sdk_apigateway::error::SdkError<E, R>,
) -> UsageKeyError {
    UsageKeyError(DisplayErrorContext(&error).to_string())
}

/// Whether an error says the change was made already (the key is, or is not, in the plan).
fn already<E: ProvideErrorMetadata, R>(
    error: &aws_sdk_apigateway::error::SdkError<E, R>,
    code: &str,
) -> bool {
    error.code() == Some(code)
}

#[async_trait]
impl UsageKeys for ApiGatewayUsageKeys {
    async fn place(
        &self,
        team: &TeamId,
        plan: &str,
        current: Option<&UsageKey>,
    ) -> Result<UsageKey, UsageKeyError> {
        let (id, value) = match current {
            Some(key) => (key.id.clone(), key.value.clone()),
            None => self.key_of(team).await?,
        };
        let target = self.usage_plan(plan).to_owned();
        if let Some(previous) = current.map(|k| self.usage_plan(&k.plan).to_owned()) {
            if previous != target {
                let removed = self
                    .client
                    .delete_usage_plan_key()
                    .usage_plan_id(&previous)
                    .key_id(&id)
                    .send()
                    .await;
                if let Err(error) = removed {
                    if !already(&error, "NotFoundException") {
                        return Err(failed(error));
                    }
                }
            }
        }
        let added = self
            .client
            .create_usage_plan_key()
            .usage_plan_id(&target)
            .key_id(&id)
            .key_type("API_KEY")
            .send()
            .await;
        if let Err(error) = added {
            if !already(&error, "ConflictException") {
                return Err(failed(error));
            }
        }
        Ok(UsageKey {
            id,
            value,
            plan: plan.to_owned(),
        })
    }

    fn fallback(&self) -> &str {
        &self.fallback_key
    }
}
