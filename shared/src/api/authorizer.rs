//! The API Gateway REQUEST authorizer: resolves the credentials once per request (or per
//! cache period) and hands the team, person, role and scopes to the route functions in the
//! authorizer context. Route functions then check the route's own requirement.

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use serde::Serialize;

use crate::app::{auth, limits, App, Caller};
use crate::error::Error;

/// The response API Gateway expects from a REQUEST authorizer.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    /// The credential, for API Gateway's logs.
    pub principal_id: String,
    /// Allow or deny.
    pub policy_document: serde_json::Value,
    /// What the route functions receive as `requestContext.authorizer`.
    pub context: serde_json::Value,
    /// The team's key in its plan's usage plan (`ApiKeySourceType: AUTHORIZER`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_identifier_key: Option<String>,
}

/// The message API Gateway turns into a 401.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// Every method of the API's stage, so a cached decision covers every route; the route
/// functions check each route's own role and scope.
fn api_wide(method_arn: &str) -> String {
    let mut parts = method_arn.splitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(api), Some(stage)) => format!("{api}/{stage}/*/*"),
        _ => method_arn.to_owned(),
    }
}

fn policy(effect: &str, resource: String) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Action": "execute-api:Invoke", "Effect": effect, "Resource": resource }]
    })
}

/// The authorizer context for a caller.
pub fn context_of(caller: &Caller) -> serde_json::Value {
    let scopes: Vec<&str> = caller.scopes.iter().map(|s| s.as_str()).collect();
    serde_json::json!({
        "team_id": caller.team_id.as_str(),
        "user_id": caller.user_id.as_str(),
        "role": caller.role.as_str(),
        "scopes": scopes.join(","),
        "credential": caller.credential,
    })
}

/// Decides one request: Allow with context, Deny (403) for a known person outside the
/// team, or the `Unauthorized` error (401) for missing or bad credentials.
pub async fn authorize(
    app: &App,
    request: ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<AuthorizerResponse, lambda_runtime::Error> {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    let method_arn = request.method_arn.clone().unwrap_or_default();
    match auth::authenticate(app, header("authorization"), header("x-team-id")).await {
        Ok(caller) => {
            let usage_identifier_key = match limits::usage_key(app, &caller.team_id).await {
                Ok(key) => key,
                Err(error) => {
                    tracing::error!(%error, team_id = %caller.team_id, "the team's usage key could not be placed");
                    return Err(error.into());
                }
            };
            Ok(AuthorizerResponse {
                principal_id: caller.credential.clone(),
                policy_document: policy("Allow", api_wide(&method_arn)),
                context: context_of(&caller),
                usage_identifier_key,
            })
        }
        Err(Error::Unauthenticated(reason)) => {
            tracing::info!(%reason, "credentials refused");
            Err(UNAUTHORIZED.into())
        }
        Err(Error::Forbidden(reason)) => Ok(AuthorizerResponse {
            principal_id: "denied".into(),
            policy_document: policy("Deny", method_arn),
            context: serde_json::json!({ "reason": reason }),
            usage_identifier_key: None,
        }),
        Err(error) => {
            tracing::error!(%error, "the authorizer failed");
            Err(error.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::api_wide;

    #[test]
    fn the_policy_covers_every_method_of_the_stage() {
        assert_eq!(
            api_wide(
                "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/v1/companies/cmp_1"
            ),
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"
        );
    }
}
