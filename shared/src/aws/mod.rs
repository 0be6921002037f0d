//! Adapters over the AWS SDK. Clients are built once per cold start from
//! [`sdk_config`], which honours `AWS_ENDPOINT_URL` (and per-service overrides such as
//! `AWS_ENDPOINT_URL_DYNAMODB`) so the same code talks to local emulators in tests.

pub mod agentcore_memory;
pub mod apigateway;
pub mod bedrock;
pub mod dynamodb;
pub mod emf;
pub mod marketplace;
pub mod s3;
pub mod sfn;
pub mod sqs;
pub mod write_units;

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// Loads the shared AWS configuration (region, credentials, endpoints) from the environment,
/// profiles included: the local stack's commands, run by a person.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The HTTPS client of every AWS service client: rustls on ring, trusting the system's root
/// certificates. Ring rather than the SDK's default AWS-LC: a function then links one crypto
/// library, a smaller one, and seeds it from the kernel (getrandom) with no CPU-jitter
/// sampling on the first handshake; FIPS builds (AWS-LC's reason to be) are not made here.
pub fn https_client() -> aws_types::sdk_config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The AWS configuration of a Lambda function, built from what Lambda puts in the
/// environment: its credentials and region, and the `AWS_ENDPOINT_URL*` overrides. No profile
/// files, credential chain or instance metadata to consult, and one HTTP client for every
/// service client, so the root certificates are read and parsed once per cold start — and
/// not at all when every endpoint is plain `http://` (a local emulator).
pub fn lambda_sdk_config() -> SdkConfig {
    let environment = environment();
    let region = environment
        .get("AWS_REGION")
        .or_else(|| environment.get("AWS_DEFAULT_REGION"))
        .cloned();
    let http_client = if plain_http_only(&environment) {
        aws_smithy_http_client::Builder::new().build_http()
    } else {
        https_client()
    };
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region.map(Region::new))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .identity_cache(IdentityCache::lazy().build())
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(3100))
                .build(),
        )
        .service_config(EndpointVariables)
        .http_client(http_client);
    if !ignores_configured_endpoints(&environment) {
        config.set_endpoint_url(environment.get("AWS_ENDPOINT_URL").cloned());
    }
    config.build()
}

/// The process's environment variables that are set (not empty).
type Environment = std::collections::BTreeMap<String, String>;

fn environment() -> Environment {
    std::env::vars().filter(|(_, v)| !v.is_empty()).collect()
}

/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`: the SDK's switch that turns the endpoint
/// variables off.
fn ignores_configured_endpoints(environment: &Environment) -> bool {
    environment
        .get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Whether every service goes to a plain `http://` endpoint (local emulators): the general
/// `AWS_ENDPOINT_URL` is set and is, and so is every per-service one (a service without one
/// goes to the general).
fn plain_http_only(environment: &Environment) -> bool {
    let http = |url: &String| url.starts_with("http://");
    !ignores_configured_endpoints(environment)
        && environment.get("AWS_ENDPOINT_URL").is_some_and(http)
        && environment
            .iter()
            .filter(|(name, _)| name.starts_with("AWS_ENDPOINT_URL"))
            .all(|(_, url)| http(url))
}

/// A service's setting as the SDK's own loader reads it from the environment, without
/// profiles: `<VARIABLE>_<SERVICE ID>` (e.g. `AWS_ENDPOINT_URL_DYNAMODB`), then `<VARIABLE>`.
fn service_setting(environment: &Environment, name: &str, service_id: &str) -> Option<String> {
    if name == "AWS_ENDPOINT_URL" && ignores_configured_endpoints(environment) {
        return None;
    }
    let service = service_id.to_uppercase().replace(' ', "_");
    environment
        .get(&format!("{name}_{service}"))
        .or_else(|| environment.get(name))
        .cloned()
}

/// The endpoint configured for a service (by its id, e.g. `S3`), as the SDK would use it:
/// `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`.
pub fn endpoint_url(service_id: &str) -> Option<String> {
    service_setting(&environment(), "AWS_ENDPOINT_URL", service_id)
}

/// Service configuration from the environment ([`service_setting`]), for the SDK's clients.
#[derive(Debug)]
struct EndpointVariables;

impl LoadServiceConfig for EndpointVariables {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        service_setting(&environment(), key.env(), key.service_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(variables: &[(&str, &str)]) -> Environment {
        variables
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_service_goes_to_its_own_endpoint_then_the_general_one_unless_told_to_ignore_them() {
        let set = environment(&[
            ("AWS_ENDPOINT_URL", "http://general:1"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://dynamodb:2"),
            ("AWS_ENDPOINT_URL_MARKETPLACE_METERING", "http://metering:3"),
        ]);
        let endpoint = |env: &Environment, id| service_setting(env, "AWS_ENDPOINT_URL", id);
        assert_eq!(
            endpoint(&set, "DynamoDB").as_deref(),
            Some("http://dynamodb:2")
        );
        assert_eq!(
            endpoint(&set, "Marketplace Metering").as_deref(),
            Some("http://metering:3")
        );
        assert_eq!(endpoint(&set, "SQS").as_deref(), Some("http://general:1"));
        assert_eq!(endpoint(&Environment::new(), "SQS"), None);
        let mut ignored = set.clone();
        ignored.insert("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS".into(), "TRUE".into());
        assert_eq!(endpoint(&ignored, "DynamoDB"), None);
    }

    #[test]
    fn plain_http_only_when_every_service_goes_to_an_http_endpoint() {
        let all_local = environment(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
        ]);
        assert!(plain_http_only(&all_local));
        // Only DynamoDB local: the other services still go to AWS over HTTPS.
        let one_local = environment(&[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")]);
        assert!(!plain_http_only(&one_local));
        let one_https = environment(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_S3", "https://s3.example.com"),
        ]);
        assert!(!plain_http_only(&one_https));
        assert!(!plain_http_only(&Environment::new()));
        let mut ignored = all_local.clone();
        ignored.insert("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS".into(), "true".into());
        assert!(!plain_http_only(&ignored));
    }
}
