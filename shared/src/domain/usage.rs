//! The usage measures every ended execution records, which Marketplace dimensions bill.

/// Executions that succeeded.
pub const EXECUTIONS: &str = "executions";
/// Credits charged.
pub const CREDITS: &str = "credits";
/// Words written by text steps.
pub const WORDS: &str = "words";
/// Images generated.
pub const IMAGES: &str = "images";
/// Every usage measure, in the order reports show them.
pub const MEASURES: [&str; 4] = [EXECUTIONS, CREDITS, WORDS, IMAGES];
