//! Pure types and rules: no I/O, no AWS.

pub mod access;
pub mod agent;
pub mod budget;
pub mod capabilities;
pub mod catalog;
pub mod conversation;
pub mod events;
pub mod execution;
pub mod ids;
pub mod json_text;
pub mod marketplace;
pub mod merge_patch;
pub mod objects_only;
pub mod plans;
pub mod privacy;
pub mod rate_limit;
pub mod resources;
pub mod step;
pub mod team;
pub mod tokens;
pub mod usage;
pub mod validation;
pub mod webhook;
