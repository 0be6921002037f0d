//! Every API route through the local stack: the same router, authentication, pipeline and
//! handlers as the deployed functions, on the embedded table. One module per route group.

mod agents;
mod api_keys;
mod auth;
mod companies;
mod conventions;
mod credits;
#[path = "../support/dynamodb.rs"]
mod dynamodb;
mod executions;
mod helpers;
#[path = "../support/http_client.rs"]
mod http_client;
#[path = "../support/http_endpoint.rs"]
mod http_endpoint;
mod local_stack;
mod marketplace;
#[path = "../support/marketplace_endpoint.rs"]
mod marketplace_endpoint;
mod members;
mod partners;
mod products;
mod team;
