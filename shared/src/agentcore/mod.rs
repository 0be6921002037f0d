//! AgentCore: the capability registry, the capabilities, the planner and the workflow tasks.

pub mod analysis;
pub mod capabilities;
pub mod cosell;
pub mod dispatch;
pub mod plan;
pub mod prompts;
pub mod watchdog;
pub mod workflow;
