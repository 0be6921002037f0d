//! AgentCore: running what the capability registry (in the domain) describes: the planner,
//! the deterministic capabilities, the workflow's tasks, the dispatcher and the watchdog.

pub mod analysis;
pub mod chat;
mod context;
pub mod cosell;
pub mod dispatch;
pub mod plan;
pub mod prompts;
mod steps;
pub mod task;
pub mod watchdog;
pub mod workflow;
