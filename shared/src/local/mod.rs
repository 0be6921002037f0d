//! Embedded adapters: what the local stack runs instead of AWS services.

pub mod clock;
pub mod marketplace;
pub mod objects;
pub mod offline;
pub mod openai;
#[cfg(feature = "embedded")]
pub mod table;
