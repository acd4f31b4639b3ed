//! The alerts function's settings, read once from its environment (set by template.yaml).

use crate::error::AlertsError;
use crate::report::ReportLimits;

/// Log groups to read, comma-separated (required).
pub const LOG_GROUPS_VAR: &str = "ALERTS_LOG_GROUPS";
/// ARN of the Secrets Manager secret holding the webhook URL (required).
pub const WEBHOOK_SECRET_VAR: &str = "ALERTS_WEBHOOK_SECRET_ARN";
/// URL of the failure-destination queue (optional).
pub const FAILURE_QUEUE_VAR: &str = "ALERTS_FAILURE_QUEUE_URL";
/// The report's title, e.g. the stack name (default `burst`).
pub const TITLE_VAR: &str = "ALERTS_TITLE";
/// A sentence after the failure count saying how to read the failures (optional).
pub const FAILURES_HINT_VAR: &str = "ALERTS_FAILURES_HINT";
/// The table holding the checkpoint: the deployment's task table (same variable as burst-aws's
/// `stack::TASKS_TABLE_VAR`).
pub const CHECKPOINT_TABLE_VAR: &str = "BURST_TASKS_TABLE";
/// Seconds a line is given to be ingested before a run reads it (default 60).
pub const SETTLE_SECS_VAR: &str = "ALERTS_SETTLE_SECS";
/// Seconds back from now that the first run reads (default 900).
pub const FIRST_LOOKBACK_SECS_VAR: &str = "ALERTS_FIRST_LOOKBACK_SECS";
/// Most alert lines in a report (default 40).
pub const MAX_LINES_VAR: &str = "ALERTS_MAX_LINES";
/// Most bytes of a report's text (default 30000).
pub const MAX_BYTES_VAR: &str = "ALERTS_MAX_BYTES";
/// Most events read per log group and run (default 5000; the rest waits for the next run).
pub const MAX_EVENTS_VAR: &str = "ALERTS_MAX_EVENTS_PER_GROUP";

/// Everything a run needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    /// The report's title.
    pub title: String,
    /// The region (console links).
    pub region: String,
    /// Log groups read.
    pub log_groups: Vec<String>,
    /// The webhook secret's ARN.
    pub webhook_secret: String,
    /// The failure queue's URL, if any.
    pub failure_queue: Option<String>,
    /// How to read the failures, shown after their count.
    pub failures_hint: String,
    /// The checkpoint's table.
    pub checkpoint_table: String,
    /// Milliseconds a line is given to be ingested.
    pub settle_ms: i64,
    /// Milliseconds back from now that a group's first run reads.
    pub first_lookback_ms: i64,
    /// Most events read per group and run.
    pub max_events_per_group: usize,
    /// Report caps.
    pub limits: ReportLimits,
}

impl AlertsConfig {
    /// Reads the settings through `var` (the process environment in production); `region` is
    /// the function's (`AWS_REGION`).
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        region: String,
    ) -> Result<Self, AlertsError> {
        let var = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required =
            |name: &str| var(name).ok_or_else(|| AlertsError::Config(format!("{name} is not set")));
        let number = |name: &str, default: u64| -> Result<u64, AlertsError> {
            var(name).map_or(Ok(default), |v| {
                v.parse().map_err(|_| {
                    AlertsError::Config(format!("{name} is {v:?}, expected a whole number"))
                })
            })
        };
        let log_groups: Vec<String> = required(LOG_GROUPS_VAR)?
            .split(',')
            .map(|g| g.trim().to_owned())
            .filter(|g| !g.is_empty())
            .collect();
        if log_groups.is_empty() {
            return Err(AlertsError::Config(format!(
                "{LOG_GROUPS_VAR} names no log group"
            )));
        }
        let defaults = ReportLimits::default();
        Ok(AlertsConfig {
            title: var(TITLE_VAR).unwrap_or_else(|| "burst".into()),
            region,
            log_groups,
            webhook_secret: required(WEBHOOK_SECRET_VAR)?,
            failure_queue: var(FAILURE_QUEUE_VAR),
            failures_hint: var(FAILURES_HINT_VAR).unwrap_or_default(),
            checkpoint_table: required(CHECKPOINT_TABLE_VAR)?,
            settle_ms: number(SETTLE_SECS_VAR, 60)? as i64 * 1000,
            first_lookback_ms: number(FIRST_LOOKBACK_SECS_VAR, 900)? as i64 * 1000,
            max_events_per_group: number(MAX_EVENTS_VAR, 5000)?.max(1) as usize,
            limits: ReportLimits {
                max_lines: number(MAX_LINES_VAR, defaults.max_lines as u64)? as usize,
                max_bytes: number(MAX_BYTES_VAR, defaults.max_bytes as u64)? as usize,
                ..defaults
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn reads_the_variables_with_defaults() {
        let vars = HashMap::from([
            (LOG_GROUPS_VAR, " /aws/lambda/a, /aws/lambda/b ,"),
            (WEBHOOK_SECRET_VAR, "arn:aws:secretsmanager:r:1:secret:hook"),
            (CHECKPOINT_TABLE_VAR, "tasks"),
            (MAX_LINES_VAR, "10"),
        ]);
        let get = |n: &str| vars.get(n).map(|v| v.to_string());
        let config = AlertsConfig::from_vars(get, "eu-west-1".into()).unwrap();
        assert_eq!(config.log_groups, ["/aws/lambda/a", "/aws/lambda/b"]);
        assert_eq!(
            (config.settle_ms, config.first_lookback_ms),
            (60_000, 900_000)
        );
        assert_eq!(
            (config.limits.max_lines, config.limits.max_bytes),
            (10, 30_000)
        );
        assert_eq!(
            (config.title.as_str(), config.failure_queue),
            ("burst", None)
        );

        let missing = AlertsConfig::from_vars(
            |n| (n != WEBHOOK_SECRET_VAR).then(|| "x".into()),
            "r".into(),
        );
        assert_eq!(
            missing,
            Err(AlertsError::Config(format!(
                "{WEBHOOK_SECRET_VAR} is not set"
            )))
        );
        let bad = AlertsConfig::from_vars(
            |n| {
                if n == MAX_BYTES_VAR {
                    Some("lots".into())
                } else {
                    get(n)
                }
            },
            "r".into(),
        );
        assert!(matches!(bad, Err(AlertsError::Config(m)) if m.contains("lots")));
    }
}
