//! The metrics port: business events, counted and measured (CloudWatch metrics in production,
//! through the Embedded Metric Format). Fire and forget: publishing a metric never fails the
//! work it describes.

use std::collections::BTreeMap;

/// The unit of a metric value, as CloudWatch names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// Milliseconds.
    Milliseconds,
    /// Anything else (credits, tokens, micro-dollars).
    None,
}

impl Unit {
    /// CloudWatch's name of the unit.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::None => "None",
        }
    }
}

/// One event: metrics that share dimensions, with properties (searchable in the logs, never
/// dimensions, so per-team values do not multiply the metric count).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricEvent {
    /// Low-cardinality dimensions: route, capability, model, plan, outcome.
    pub dimensions: BTreeMap<&'static str, String>,
    /// The values: name, value, unit.
    pub metrics: Vec<(&'static str, f64, Unit)>,
    /// High-cardinality context: team id, execution id.
    pub properties: BTreeMap<&'static str, String>,
}

impl MetricEvent {
    /// An event with one metric.
    pub fn new(name: &'static str, value: f64, unit: Unit) -> Self {
        MetricEvent {
            dimensions: BTreeMap::new(),
            metrics: vec![(name, value, unit)],
            properties: BTreeMap::new(),
        }
    }

    /// With another metric.
    pub fn and(mut self, name: &'static str, value: f64, unit: Unit) -> Self {
        self.metrics.push((name, value, unit));
        self
    }

    /// With a dimension.
    pub fn by(mut self, dimension: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.insert(dimension, value.into());
        self
    }

    /// With a property.
    pub fn with(mut self, property: &'static str, value: impl Into<String>) -> Self {
        self.properties.insert(property, value.into());
        self
    }
}

/// Publishes business events.
pub trait Metrics: Send + Sync {
    /// Publishes one event.
    fn emit(&self, event: MetricEvent);
}
