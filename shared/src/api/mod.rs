//! The HTTP side: the route table, requests and responses in the one error envelope, the
//! handlers (glue between a route and a use case), the pipeline and the authorizer.

pub mod authorizer;
pub mod handlers;
pub mod openapi;
pub mod request;
pub mod response;
pub mod routes;
pub mod service;
pub mod stream;
