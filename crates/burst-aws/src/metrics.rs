//! Custom metrics in CloudWatch's embedded metric format (EMF): one JSON line per event, written
//! to stdout, which Lambda ships to CloudWatch Logs where the metrics are extracted. No API call,
//! no extra permission.

use serde_json::{json, Map, Value};

/// Namespace of the framework's metrics.
pub const NAMESPACE: &str = "Burst";

/// Unit of a metric, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Name (e.g. `Batches`, `Hits`, `BatchDuration`).
    pub name: &'static str,
    /// Value.
    pub value: f64,
    /// Unit.
    pub unit: Unit,
}

impl Metric {
    /// A metric.
    pub fn new(name: &'static str, value: f64, unit: Unit) -> Self {
        Metric { name, value, unit }
    }
}

/// One EMF record: metrics, the dimensions they are aggregated by, and extra searchable
/// properties (e.g. `jobId`, `batchId`: not dimensions, to keep metric cardinality low).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRecord {
    /// Dimension names and values (e.g. `Function` = `worker`).
    pub dimensions: Vec<(&'static str, String)>,
    /// The metrics.
    pub metrics: Vec<Metric>,
    /// Properties logged alongside.
    pub properties: Vec<(&'static str, Value)>,
}

impl MetricRecord {
    /// The EMF JSON line of this record at `timestamp_ms` (epoch milliseconds).
    pub fn to_line(&self, timestamp_ms: u64) -> String {
        let mut root = Map::new();
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(k, _)| *k).collect();
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|m| json!({"Name": m.name, "Unit": m.unit.name()}))
            .collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimension_names],
                    "Metrics": definitions,
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert((*name).into(), Value::String(value.clone()));
        }
        for (name, value) in &self.properties {
            root.insert((*name).into(), value.clone());
        }
        for metric in &self.metrics {
            root.insert(metric.name.into(), json!(metric.value));
        }
        Value::Object(root).to_string()
    }

    /// Prints the record to stdout (where Lambda's log capture picks it up).
    pub fn emit(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        println!("{}", self.to_line(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_declare_metrics_and_carry_values_and_properties() {
        let record = MetricRecord {
            dimensions: vec![("Function", "worker".into())],
            metrics: vec![
                Metric::new("Batches", 1.0, Unit::Count),
                Metric::new("Hits", 17.0, Unit::Count),
                Metric::new("BatchDuration", 1250.0, Unit::Milliseconds),
            ],
            properties: vec![("jobId", json!("j-1")), ("batchId", json!(4))],
        };
        let line: Value = serde_json::from_str(&record.to_line(1_700_000_000_000)).unwrap();
        assert_eq!(
            line,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_000u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Burst",
                        "Dimensions": [["Function"]],
                        "Metrics": [
                            {"Name": "Batches", "Unit": "Count"},
                            {"Name": "Hits", "Unit": "Count"},
                            {"Name": "BatchDuration", "Unit": "Milliseconds"}
                        ]
                    }]
                },
                "Function": "worker",
                "jobId": "j-1",
                "batchId": 4,
                "Batches": 1.0,
                "Hits": 17.0,
                "BatchDuration": 1250.0
            })
        );
    }
}
