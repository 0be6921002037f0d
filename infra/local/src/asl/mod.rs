//! An Amazon States Language interpreter: the local stack runs the very state machine files
//! that deploy, with Task states dispatched to the same task handlers as production.
//! It covers the states, both query languages (full JSONPath with every intrinsic function,
//! and JSONata), workflow variables (`Assign` and `$name`, scoped as the specification scopes
//! them), Parallel, inline and distributed Maps, Retry/Catch and task tokens;
//! definitions are checked when they load (every path, template, intrinsic and JSONata
//! expression, and every variable a JSONPath field reads), and what it does not support is
//! refused then, with the state and the field named.
//! `vellocity-local asl run` runs any definition on its own with canned task answers.

pub mod canned;
pub mod definition;
pub mod jsonata;
pub mod paths;
pub mod run;
pub mod variables;

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
