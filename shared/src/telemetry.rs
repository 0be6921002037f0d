//! Logging. Lambda functions log to stdout in the format Lambda's logging controls choose
//! (`LogFormat: JSON` in the template), at `AWS_LAMBDA_LOG_LEVEL`; the local stack logs to
//! stderr so its stdout stays machine-readable.

/// Installs the subscriber of a Lambda function: the level from `AWS_LAMBDA_LOG_LEVEL` (or
/// `RUST_LOG`, default INFO), JSON lines when `AWS_LAMBDA_LOG_FORMAT` is `JSON`. One level for
/// the whole function, not per-module directives: those need the runtime's `EnvFilter`, whose
/// regular-expression engine would add ~380 KB to every function's binary.
pub fn init_lambda() {
    use lambda_runtime::tracing::subscriber::{self, filter::LevelFilter};
    let variable = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let level = variable("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| variable("RUST_LOG"))
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let format = subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    if variable("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        format.json().init();
    } else {
        format.init();
    }
}

/// Installs the subscriber of the local stack and its commands (`RUST_LOG`, default INFO).
pub fn init_local() {
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
}
