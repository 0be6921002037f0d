//! Vellocity's library: everything the Lambda functions and the local stack run.
//!
//! - [`domain`]: pure types and rules.
//! - [`app`]: use cases over the ports.
//! - [`ports`]: the traits the use cases need from the outside world.
//! - [`aws`]: adapters over the AWS SDK; [`local`]: embedded adapters for the local stack;
//!   [`net`]: the webhook sender over the network.
//! - [`agentcore`]: the model catalog, the capability registry and the capabilities.
//! - [`marketplace`]: AWS Marketplace fulfillment, registration, subscription events, metering.
//! - [`api`]: the HTTP side: route table, request context, validation, the error envelope,
//!   pagination, idempotency and the authorizer.
//! - [`lambda`]: the composition root: what each kind of function builds, and its Lambda glue.
#![warn(missing_docs)]

pub mod agentcore;
pub mod api;
pub mod app;
pub mod aws;
pub mod config;
pub mod domain;
pub mod error;
pub mod lambda;
pub mod local;
pub mod marketplace;
pub mod net;
pub mod ports;
pub mod telemetry;
