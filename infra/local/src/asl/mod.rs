//! An Amazon States Language interpreter: the local stack runs the very state machine files
//! that deploy, with Task states dispatched to the same task handlers as production.
//! It covers the states, paths, intrinsic functions, Retry/Catch and task tokens the
//! project's definitions use, and names anything else in a clear error.

pub mod definition;
pub mod paths;
pub mod run;

/// What can go wrong with a definition or while running one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AslError {
    /// The definition uses something the interpreter does not support, or is malformed.
    #[error("state machine definition: {0}")]
    Definition(String),
    /// A runtime error with its Step Functions error name.
    #[error("{0}: {1}")]
    Runtime(String, String),
}
