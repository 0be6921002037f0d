//! AgentCore: the model catalog, the capability registry and the deterministic capabilities.

pub mod analysis;
pub mod capabilities;
pub mod catalog;
pub mod cosell;
pub mod dispatch;
pub mod plan;
pub mod prompts;
pub mod watchdog;
pub mod workflow;
