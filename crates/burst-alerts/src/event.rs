//! Log events and which of them are alerts: the functions' JSON lines (tracing's JSON format:
//! `level`, `message`, fields, and the enclosing span's `jobId`/`batchId`) at ERROR or WARN, and
//! the Lambda platform's own lines for a crash or a time-out, which are plain text.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One log event as CloudWatch Logs returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    /// Its log group (`/aws/lambda/<function>`).
    pub group: String,
    /// Its log stream.
    pub stream: String,
    /// CloudWatch Logs' id of the event, unique within the group.
    pub id: String,
    /// When it was logged, epoch milliseconds.
    pub timestamp_ms: i64,
    /// The line.
    pub message: String,
}

/// How bad an alert is; errors sort before warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// `ERROR` lines, crashes and time-outs.
    Error,
    /// `WARN` lines.
    Warn,
}

impl Level {
    /// `ERROR` or `WARN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
        }
    }
}

/// A log line worth reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The function that logged it (its log group's name after `/aws/lambda/`).
    pub function: String,
    /// The job it concerns, when the line carries `jobId`.
    pub job_id: Option<String>,
    /// The batch it concerns, when the line carries `batchId`.
    pub batch_id: Option<String>,
    /// Error or warning.
    pub level: Level,
    /// What it says: the line's `message` (and `error` field), or the platform's text.
    pub text: String,
    /// The event itself (group, stream and time, for the link to it).
    pub event: LogEvent,
}

/// The text lines with which the Lambda platform (not the function's code) reports a failed
/// invocation: a time-out, a crashed runtime (a panic aborts the process), a panic message.
const PLATFORM_FAILURES: [&str; 3] = [
    "Task timed out after",
    "Runtime exited with error",
    "panicked at",
];

/// The CloudWatch Logs filter pattern that selects the lines [`classify`] may keep (a superset:
/// `classify` decides). Terms are case-sensitive and match anywhere in the line.
pub const FILTER_PATTERN: &str =
    "?ERROR ?WARN ?\"Task timed out after\" ?\"Runtime exited with error\" ?\"panicked at\"";

/// The function a log group belongs to.
pub fn function_of_group(group: &str) -> &str {
    group.strip_prefix("/aws/lambda/").unwrap_or(group)
}

/// The alert in `event`, if it is one: a JSON line whose `level` is `ERROR` or `WARN`, or a
/// platform line reporting a time-out or a crash. Other lines (INFO, metrics, REPORT) are not.
pub fn classify(event: &LogEvent) -> Option<Alert> {
    let line = event.message.trim();
    let (level, text, job_id, batch_id) = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(fields)) => {
            let level = match fields.get("level").and_then(Value::as_str)? {
                "ERROR" => Level::Error,
                "WARN" => Level::Warn,
                _ => return None,
            };
            (
                level,
                json_text(&fields),
                field(&fields, "jobId"),
                field(&fields, "batchId"),
            )
        }
        _ => {
            PLATFORM_FAILURES.iter().find(|p| line.contains(*p))?;
            (Level::Error, line.to_owned(), None, None)
        }
    };
    Some(Alert {
        function: function_of_group(&event.group).to_owned(),
        job_id,
        batch_id,
        level,
        text,
        event: event.clone(),
    })
}

/// The message of a JSON line, with its `error` field when it has one.
fn json_text(fields: &Map<String, Value>) -> String {
    let message = fields.get("message").map(scalar).unwrap_or_default();
    match fields.get("error").map(scalar) {
        Some(error) if !error.is_empty() => format!("{message}: {error}"),
        _ => message,
    }
}

/// A field of the line (`name` at the top level, in `fields`, in the current `span`, or in the
/// innermost span of `spans` that has it), as text.
fn field(fields: &Map<String, Value>, name: &str) -> Option<String> {
    let nested = |key: &str| fields.get(key).and_then(|v| v.get(name));
    let in_spans = || {
        fields
            .get("spans")
            .and_then(Value::as_array)
            .and_then(|spans| spans.iter().rev().find_map(|s| s.get(name)))
    };
    fields
        .get(name)
        .or_else(|| nested("fields"))
        .or_else(|| nested("span"))
        .or_else(in_spans)
        .map(scalar)
        .filter(|v| !v.is_empty())
}

/// A JSON value as text: strings unquoted, anything else as JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: &str) -> LogEvent {
        LogEvent {
            group: "/aws/lambda/cds-worker".into(),
            stream: "2026/12/07/[$LATEST]abc".into(),
            id: "1".into(),
            timestamp_ms: 1_000,
            message: message.into(),
        }
    }

    #[test]
    fn json_lines_at_error_or_warn_are_alerts_with_their_job_and_batch() {
        let line = r#"{"timestamp":"2026-12-07T00:00:00.000Z","level":"ERROR","message":"batch failed","error":"decode: bad PNG","span":{"jobId":"j1","batchId":12,"name":"worker"}}"#;
        let alert = classify(&event(line)).unwrap();
        assert_eq!(alert.level, Level::Error);
        assert_eq!(alert.function, "cds-worker");
        assert_eq!(alert.job_id.as_deref(), Some("j1"));
        assert_eq!(alert.batch_id.as_deref(), Some("12"));
        assert_eq!(alert.text, "batch failed: decode: bad PNG");

        let warn = r#"{"level":"WARN","message":"retrying AWS call","jobId":"j2","spans":[{"jobId":"outer"}]}"#;
        let alert = classify(&event(warn)).unwrap();
        assert_eq!(
            (alert.level, alert.job_id.as_deref()),
            (Level::Warn, Some("j2"))
        );
        let nested = r#"{"level":"WARN","message":"m","spans":[{"jobId":"outer"},{"name":"x"}]}"#;
        assert_eq!(
            classify(&event(nested)).unwrap().job_id.as_deref(),
            Some("outer")
        );
    }

    #[test]
    fn info_lines_metrics_and_report_lines_are_not_alerts() {
        for line in [
            r#"{"level":"INFO","message":"batch done","span":{"jobId":"j"}}"#,
            r#"{"_aws":{"CloudWatchMetrics":[]},"Batches":1}"#,
            "REPORT RequestId: 1 Duration: 2.00 ms Billed Duration: 3 ms",
            "START RequestId: 1 Version: $LATEST",
            "an ERROR in plain text is not a platform failure",
        ] {
            assert_eq!(classify(&event(line)), None, "{line}");
        }
    }

    #[test]
    fn platform_time_outs_and_crashes_are_errors() {
        let line = "2026-12-07T00:00:00.000Z 1d2c Task timed out after 300.00 seconds";
        let alert = classify(&event(line)).unwrap();
        assert_eq!((alert.level, alert.job_id), (Level::Error, None));
        assert_eq!(alert.text, line);
        let crash = "RequestId: 1 Error: Runtime exited with error: signal: aborted";
        assert!(classify(&event(crash)).is_some());
        assert_eq!(function_of_group("custom-group"), "custom-group");
    }
}
