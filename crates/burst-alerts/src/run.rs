//! One alerts run: read each log group from its checkpoint, build one report, post it, then
//! (and only then) save the advanced checkpoint. The I/O is behind the traits here (AWS
//! implementations in [`crate::aws`]).

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::checkpoint::{Checkpoint, Cursor};
use crate::config::AlertsConfig;
use crate::error::AlertsError;
use crate::event::{classify, Alert, LogEvent};
use crate::report::{build_report, QueueDepth, ReportContext};

/// The lines of a log group.
#[async_trait]
pub trait LogSource: Send + Sync {
    /// The events of `group` logged in `from_ms..=to_ms` that may be alerts, oldest first, at
    /// most `limit`; and whether that is all of them.
    async fn events(
        &self,
        group: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<(Vec<LogEvent>, bool), AlertsError>;
}

/// A stored checkpoint and its version (for conditional saves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Incremented by every save.
    pub version: u64,
}

/// Where the checkpoint is kept.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The checkpoint, if one was ever saved.
    async fn load(&self) -> Result<Option<Stored>, AlertsError>;
    /// Saves `checkpoint` as version `version`, if the stored version is still `version - 1`
    /// (none for 1); [`AlertsError::CheckpointConflict`] otherwise.
    async fn save(&self, checkpoint: &Checkpoint, version: u64) -> Result<(), AlertsError>;
}

/// The failure-destination queue, as the alerts function sees it.
#[async_trait]
pub trait FailureCount: Send + Sync {
    /// Messages in the queue (visible or not).
    async fn waiting(&self) -> Result<u64, AlertsError>;
}

/// Where reports go.
#[async_trait]
pub trait Webhook: Send + Sync {
    /// Checks that the webhook can be posted to (its URL is readable); run before anything else.
    async fn ready(&self) -> Result<(), AlertsError>;
    /// Posts one report's JSON body.
    async fn post(&self, body: &Value) -> Result<(), AlertsError>;
}

/// The I/O of a run.
pub struct Parts<'a> {
    /// The log groups.
    pub logs: &'a dyn LogSource,
    /// The checkpoint.
    pub checkpoints: &'a dyn CheckpointStore,
    /// The failure queue, if the deployment has one.
    pub failures: Option<&'a dyn FailureCount>,
    /// The webhook.
    pub webhook: &'a dyn Webhook,
}

/// What a run did (the alerts function's response).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Whether a report was posted.
    pub posted: bool,
    /// Alert lines found.
    pub lines: usize,
    /// Lines not shown in the report (over its caps).
    pub cut: usize,
    /// Messages in the failure queue.
    pub failures_waiting: Option<u64>,
    /// Groups read only up to the per-run event cap (the next run continues them).
    pub capped_groups: Vec<String>,
    /// The report's text (empty when nothing was posted).
    pub text: String,
}

/// Runs once at `now_ms`: posts a report when there are new alert lines or the failure queue
/// grew, and saves the checkpoint after a successful post (or when there was nothing to post).
/// On any error nothing is saved, so the next run reads the same lines again.
pub async fn run_once(
    config: &AlertsConfig,
    parts: &Parts<'_>,
    now_ms: i64,
) -> Result<RunSummary, AlertsError> {
    parts.webhook.ready().await?;
    let stored = parts.checkpoints.load().await?;
    let (previous, version) =
        stored.map_or((Checkpoint::default(), 0), |s| (s.checkpoint, s.version));
    let mut next = Checkpoint {
        groups: Default::default(),
        queued_failures: previous.queued_failures,
    };
    let mut alerts: Vec<Alert> = Vec::new();
    let mut capped_groups = Vec::new();
    let mut span = (i64::MAX, i64::MIN);
    for group in &config.log_groups {
        let cursor = previous
            .groups
            .get(group)
            .cloned()
            .unwrap_or_else(|| Cursor::first(now_ms, config.first_lookback_ms));
        let Some(window) = cursor.window(now_ms, config.settle_ms) else {
            next.groups.insert(group.clone(), cursor);
            continue;
        };
        // The lines already reported at the cursor's millisecond come back too: read past them.
        let limit = config.max_events_per_group + cursor.seen.len();
        let (events, complete) = parts
            .logs
            .events(group, window.from_ms, window.to_ms, limit)
            .await?;
        let fresh: Vec<LogEvent> = events.into_iter().filter(|e| cursor.is_new(e)).collect();
        alerts.extend(fresh.iter().filter_map(classify));
        if !complete {
            capped_groups.push(group.clone());
        }
        span = (span.0.min(window.from_ms), span.1.max(window.to_ms));
        next.groups
            .insert(group.clone(), cursor.after(window, &fresh, complete));
    }
    let waiting = match parts.failures {
        Some(queue) => Some(queue.waiting().await?),
        None => None,
    };
    let grew = waiting.is_some_and(|n| n > previous.queued_failures);
    let mut summary = RunSummary {
        posted: false,
        lines: alerts.len(),
        cut: 0,
        failures_waiting: waiting,
        capped_groups,
        text: String::new(),
    };
    if !alerts.is_empty() || grew {
        let context = ReportContext {
            title: config.title.clone(),
            region: config.region.clone(),
            from_ms: if span.0 == i64::MAX { now_ms } else { span.0 },
            to_ms: if span.1 == i64::MIN { now_ms } else { span.1 },
            failures: waiting.map(|waiting| QueueDepth {
                waiting,
                previous: previous.queued_failures,
            }),
            failures_hint: config.failures_hint.clone(),
        };
        let report = build_report(&alerts, &context, &config.limits);
        parts.webhook.post(&report.payload()).await?;
        summary.posted = true;
        summary.cut = report.cut();
        summary.text = report.text;
    }
    if let Some(waiting) = waiting {
        next.queued_failures = waiting;
    }
    if next != previous {
        parts.checkpoints.save(&next, version + 1).await?;
    }
    tracing::info!(
        posted = summary.posted,
        lines = summary.lines,
        cut = summary.cut,
        failuresWaiting = ?summary.failures_waiting,
        cappedGroups = ?summary.capped_groups,
        "alerts run"
    );
    Ok(summary)
}
