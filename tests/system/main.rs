//! The system tests, in one binary (so the AWS SDK is linked once): every API route through
//! the local stack (one module per route group), the local stack as processes, whole
//! executions, the storage contract on both adapters, the ASL interpreter, the AWS adapters
//! against emulators or wire-format endpoints, what deploys against what runs, and the
//! registration page in Chromium.

mod agentcore;
mod agents;
mod api_keys;
mod asl;
mod audit;
mod auth;
mod bedrock;
#[path = "support/browser.rs"]
mod browser;
mod budgets;
mod companies;
mod console_browser;
mod contract;
mod conventions;
mod conversations;
#[path = "support/counting_table.rs"]
mod counting_table;
mod credits;
mod cross_team;
mod deployment;
#[path = "support/dynamodb.rs"]
mod dynamodb;
mod events;
mod executions;
mod helpers;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/http_endpoint.rs"]
mod http_endpoint;
mod limits;
mod live_progress;
mod local_stack;
mod marketplace;
#[path = "support/marketplace_endpoint.rs"]
mod marketplace_endpoint;
mod members;
mod memory;
mod metrics;
mod models;
mod partners;
mod products;
mod queue_and_workflows;
mod registration_browser;
mod table_contract;
mod team;
mod usage;
mod webhooks;
