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

/// Loads the shared AWS configuration (region, credentials, endpoints) from the environment.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
