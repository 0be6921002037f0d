//! Adapters over the AWS SDK. Clients are built once per cold start from
//! [`sdk_config`], which honours `AWS_ENDPOINT_URL` (and per-service overrides such as
//! `AWS_ENDPOINT_URL_DYNAMODB`) so the same code talks to local emulators in tests.

pub mod apigateway;
pub mod bedrock;
pub mod dynamodb;
pub mod emf;
pub mod marketplace;
pub mod s3;
pub mod sfn;
pub mod sqs;

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
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// The AWS configuration of a Lambda function, built from what Lambda puts in the
/// environment: its credentials and region, and the `AWS_ENDPOINT_URL*` overrides. No profile
/// files, credential chain or instance metadata to consult, and one HTTP client for every
/// service client, so the root certificates are read and parsed once per cold start — and
/// not at all when every endpoint is plain `http://` (a local emulator).
pub fn lambda_sdk_config() -> SdkConfig {
    let variable = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let region = variable("AWS_REGION").or_else(|| variable("AWS_DEFAULT_REGION"));
    let builder = aws_smithy_http_client::Builder::new();
    // Plain HTTP only when every service goes to an `http://` endpoint: the general one is set
    // and is, and so is every per-service one (a service without one goes to the general).
    let endpoints = || {
        std::env::vars()
            .filter(|(name, _)| name.starts_with("AWS_ENDPOINT_URL"))
            .map(|(_, url)| url)
    };
    let plain_http_only = !ignores_configured_endpoints()
        && variable("AWS_ENDPOINT_URL").is_some_and(|url| url.starts_with("http://"))
        && endpoints().all(|url| url.starts_with("http://"));
    let http_client = if plain_http_only {
        builder.build_http()
    } else {
        builder
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .build_https()
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
    if !ignores_configured_endpoints() {
        config.set_endpoint_url(variable("AWS_ENDPOINT_URL"));
    }
    config.build()
}

/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`: the SDK's switch that turns the endpoint
/// variables off.
fn ignores_configured_endpoints() -> bool {
    std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The endpoint configured for a service (by its id, e.g. `S3`), as the SDK would use it:
/// `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`.
pub fn endpoint_url(service_id: &str) -> Option<String> {
    EndpointVariables.load_config(
        ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .ok()?,
    )
}

/// Service configuration from the environment as the SDK's own loader reads it, without
/// profiles: `<VARIABLE>_<SERVICE ID>` (e.g. `AWS_ENDPOINT_URL_DYNAMODB`), then `<VARIABLE>`.
#[derive(Debug)]
struct EndpointVariables;

impl LoadServiceConfig for EndpointVariables {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let variable = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if key.env() == "AWS_ENDPOINT_URL" && ignores_configured_endpoints() {
            return None;
        }
        let service = key.service_id().to_uppercase().replace(' ', "_");
        variable(&format!("{}_{service}", key.env())).or_else(|| variable(key.env()))
    }
}
