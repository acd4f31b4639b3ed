//! The events of a running job: the worker event, the monitor's state, request and response,
//! and the combine step's summary.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::*;
use crate::backends::from_event;
use crate::cost::Usage;
use crate::error::BurstError;

/// The input of a worker: burst-compute's worker event (the batch, plus the job's shape as its
/// dispatcher passes it on) and our `attempt` and `rowTtlSecs`.
///
/// Only `tasksTableName`, `jobId`, `batchId`, `startIndex`, `endIndex` and `jobParameters` are
/// required; the other fields have defaults so that minimal events still parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerEvent {
    /// Name of the task table to write to.
    pub tasks_table_name: String,
    /// The job.
    pub job_id: String,
    /// The batch (task-table sort key).
    #[serde(deserialize_with = "read::batch_id")]
    pub batch_id: u64,
    /// First item (inclusive).
    #[serde(deserialize_with = "read::start_index")]
    pub start_index: u64,
    /// Last item (exclusive).
    #[serde(deserialize_with = "read::end_index")]
    pub end_index: u64,
    /// Opaque parameters of the job.
    pub job_parameters: Value,
    /// 1 for the first invocation, higher for retries and speculative copies.
    #[serde(default = "first_attempt", deserialize_with = "read::attempt")]
    pub attempt: u32,
    /// Lifetime of the row the worker writes.
    #[serde(default = "default_row_ttl", deserialize_with = "read::row_ttl_secs")]
    pub row_ttl_secs: u64,
    /// Items per batch of the job (default 50).
    #[serde(default = "default_batch_size", deserialize_with = "read::batch_size")]
    pub batch_size: u64,
    /// Number of batches of the job (0 when unknown).
    #[serde(default, deserialize_with = "read::num_batches_or_zero")]
    pub num_batches: u64,
    /// Fan-out of the job's managers (0 when unknown).
    #[serde(default, deserialize_with = "read::branching_factor_or_zero")]
    pub branching_factor: u64,
    /// Manager levels of the job (default 2).
    #[serde(default = "default_num_levels", deserialize_with = "read::num_levels")]
    pub num_levels: u32,
    /// Level of the worker in the spawn tree: `numLevels`, below the last managers (default 0).
    #[serde(default, deserialize_with = "read::level")]
    pub level: u32,
    /// Seconds after the job's start at which it times out (default 900).
    #[serde(
        default = "default_search_timeout",
        deserialize_with = "read::search_timeout_secs"
    )]
    pub search_timeout_secs: f64,
    /// Name of the job's worker function (default empty).
    #[serde(default)]
    pub worker_function_name: String,
    /// Name of the job's combiner function (default empty).
    #[serde(default)]
    pub combiner_function_name: String,
}

impl WorkerEvent {
    /// Parses a raw worker event; the error names the field that was wrong.
    pub fn from_value(event: Value) -> Result<Self, BurstError> {
        from_event("worker event", event)
    }
}

/// The data carried through the monitor state machine (input and output of Monitor and Combine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorState {
    /// The job.
    #[serde(flatten)]
    pub job: JobSpec,
    /// Batches with a result row.
    #[serde(default)]
    pub completed: u64,
    /// Batches neither complete nor failed for good.
    #[serde(default)]
    pub num_remaining: u64,
    /// Batches that failed `maxAttempts` times.
    #[serde(default)]
    pub failed_batches: u64,
    /// Batches the monitor has invoked itself because an invocation of theirs was lost.
    #[serde(default)]
    pub recovered_batches: u64,
    /// Whether `searchTimeoutSecs` has passed.
    #[serde(default)]
    pub timed_out: bool,
    /// Whether failed batches exceed `toleratedFailurePercent`.
    #[serde(default)]
    pub failures_exceed_tolerance: bool,
    /// Seconds since `startTime`.
    #[serde(default)]
    pub elapsed_secs: f64,
    /// The error caught by the state machine's error path, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// What the monitor's polls used so far (invocations, durations, transitions, reads).
    #[serde(default)]
    pub usage: Usage,
    /// Rows the polls' COUNT queries went over, summed: the combiner prices them at the
    /// average row size it reads (a COUNT reads every row it counts).
    #[serde(default)]
    pub counted_rows: u64,
}

impl MonitorState {
    /// The state at the start of a job: nothing complete yet.
    pub fn initial(job: JobSpec) -> Self {
        let num_remaining = job.num_batches;
        MonitorState {
            job,
            completed: 0,
            num_remaining,
            failed_batches: 0,
            recovered_batches: 0,
            timed_out: false,
            failures_exceed_tolerance: false,
            elapsed_secs: 0.0,
            error: None,
            usage: Usage::default(),
            counted_rows: 0,
        }
    }

    /// Parses the state machine's data (the combiner's input); the error names the field that
    /// was wrong.
    pub fn from_value(state: Value) -> Result<Self, BurstError> {
        from_event("monitor state", state)
    }
}

/// The input of the monitor function: the state machine's `Monitor` task (a poll) or its
/// `ReportFailure` task (`"action": "reportFailure"`).
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorRequest {
    /// Poll the task table: the event is the [`MonitorState`], without `action`.
    Poll(Box<MonitorState>),
    /// Mark the job failed after the combiner could not run.
    ReportFailure(FailureReport),
}

/// The error path's report: `{"action": "reportFailure", "jobId", "error"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureReport {
    /// The job.
    pub job_id: String,
    /// The error the state machine caught (`{Error, Cause}`).
    pub error: Value,
}

/// The value of `action` that selects [`MonitorRequest::ReportFailure`].
const REPORT_FAILURE: &str = "reportFailure";

impl<'de> Deserialize<'de> for MonitorRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value.get("action") {
            None => parse_as(value).map(|state| MonitorRequest::Poll(Box::new(state))),
            Some(Value::String(action)) if action == REPORT_FAILURE => {
                parse_as(value).map(MonitorRequest::ReportFailure)
            }
            Some(other) => Err(D::Error::custom(format!(
                "invalid action: {other} (expected \"{REPORT_FAILURE}\", or no action for a poll)"
            ))),
        }
    }
}

impl MonitorRequest {
    /// Parses a raw monitor event; the error names the field that was wrong.
    pub fn from_value(event: Value) -> Result<Self, BurstError> {
        from_event("monitor request", event)
    }
}

/// The output of the monitor function, as the state machine reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MonitorResponse {
    /// A poll's result: the new state (`completed`, `numRemaining`, `timedOut`,
    /// `failuresExceedTolerance`, ... beside the job).
    Polled(Box<MonitorState>),
    /// The failure report's result: `{jobId, state}`.
    #[serde(rename_all = "camelCase")]
    FailureReported {
        /// The job.
        job_id: String,
        /// Its state after the report (`failed`, or the final state it had already reached).
        state: JobState,
    },
}

/// The output of the combine step, kept small for the state machine (which reads
/// `$.outcome.state`); the full [`JobOutcome`] is in the object store under `outcomeKey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CombineSummary {
    /// The job.
    pub job_id: String,
    /// Final state.
    pub state: JobState,
    /// Object-store key of the outcome.
    pub outcome_key: String,
    /// Batches whose result was combined.
    pub completed: u64,
    /// Number of batches that failed every attempt.
    pub failed_batches: usize,
    /// Number of batches without a result.
    pub missing_batches: usize,
}
