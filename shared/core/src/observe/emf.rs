//! CloudWatch Embedded Metric Format: a log line that CloudWatch Logs turns into metrics, so
//! publishing costs no network call. Spec:
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
//!
//! `{"_aws":{"Timestamp":<epoch ms>,"CloudWatchMetrics":[{"Namespace":…,"Dimensions":[[…]],
//! "Metrics":[{"Name":…,"Unit":…}]}]}, <dimension>: "<value>", <metric>: <number or array>}`

use serde_json::{json, Map, Value};

/// Values per metric in one document (the spec's limit).
pub const MAX_VALUES: usize = 100;

/// The request-wide figures a metric document is built from.
pub struct RequestFigures<'a> {
    pub namespace: &'a str,
    pub function: &'a str,
    pub status: u16,
    pub latency_ms: f64,
    pub db_round_trips: u64,
    pub timestamp_ms: u64,
}

#[derive(Clone, Copy, Debug)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

pub struct Datum {
    name: &'static str,
    unit: Unit,
    value: Value,
}

impl Datum {
    pub fn new(name: &'static str, unit: Unit, value: f64) -> Self {
        Self { name, unit, value: json!(value) }
    }

    pub fn count(name: &'static str, value: u64) -> Self {
        Self { name, unit: Unit::Count, value: json!(value) }
    }

    /// Several samples in one member. Beyond [`MAX_VALUES`] they are dropped (a send makes at
    /// most 49 Twilio calls: the largest group has 50 members).
    pub fn values(name: &'static str, unit: Unit, values: &[f64]) -> Self {
        Self { name, unit, value: json!(values[..values.len().min(MAX_VALUES)]) }
    }
}

/// One EMF document (one line, no newline) with a single dimension set.
pub fn document(namespace: &str, dimensions: &[(&str, &str)], data: &[Datum], timestamp_ms: u64) -> String {
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let metrics: Vec<Value> = data.iter().map(|d| json!({"Name": d.name, "Unit": d.unit.as_str()})).collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [names], "Metrics": metrics}],
        }),
    );
    for (name, value) in dimensions {
        root.insert(name.to_string(), json!(value));
    }
    for datum in data {
        root.insert(datum.name.to_string(), datum.value.clone());
    }
    Value::Object(root).to_string()
}

/// Milliseconds since the epoch, as the spec's `Timestamp` wants.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
