//! Logging. Lambda functions log to stdout in the format Lambda's logging controls choose
//! (`LogFormat: JSON` in the template), at `AWS_LAMBDA_LOG_LEVEL`; the local stack logs to
//! stderr so its stdout stays machine-readable.

/// Installs the subscriber of a Lambda function.
pub fn init_lambda() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Installs the subscriber of the local stack and its commands (`RUST_LOG`, default INFO).
pub fn init_local() {
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
}
