//! The job model: the JSON events exchanged by managers, workers, the monitor and the combiner.
//!
//! Field names follow Janelia's burst-compute (camelCase: `jobId`, `numBatches`, `startIndex`, ...)
//! so that its users can keep their clients. Our additions (retries, failure tolerance,
//! stragglers) are optional fields with defaults.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default number of manager levels in the spawn tree.
pub const DEFAULT_NUM_LEVELS: u32 = 2;
/// Default cap on the number of workers (batches) of one job.
pub const DEFAULT_MAX_PARALLELISM: u64 = 3000;
/// Default time after which the monitor stops waiting and combines what it has.
pub const DEFAULT_SEARCH_TIMEOUT_SECS: f64 = 900.0;
/// Default name of the manager (dispatch) function.
pub const DEFAULT_MANAGER_FUNCTION: &str = "burst-manager";
/// Default name of the monitor function.
pub const DEFAULT_MONITOR_FUNCTION: &str = "burst-monitor";
/// Default name of the tasks table.
pub const DEFAULT_TASKS_TABLE: &str = "burst-tasks";

/// Retries, failure tolerance and straggler handling of a job (our additions to burst-compute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobSettings {
    /// How many times a batch is tried in total before it counts as failed (at least 1).
    pub max_attempts: u32,
    /// Percentage of batches (0..=100) that may fail while the job still succeeds.
    pub tolerated_failure_percent: f64,
    /// Lifetime of task-table rows, in seconds after they are written.
    pub row_ttl_secs: u64,
    /// Speculative re-invocation of slow batches.
    pub stragglers: StragglerSettings,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            max_attempts: 3,
            tolerated_failure_percent: 0.0,
            row_ttl_secs: 3600,
            stragglers: StragglerSettings::default(),
        }
    }
}

/// When the monitor re-invokes a batch that runs much longer than the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StragglerSettings {
    /// Whether speculative re-invocation is on.
    pub enabled: bool,
    /// Fraction of batches (0..=1) that must be complete before stragglers are looked for.
    pub completed_fraction: f64,
    /// A batch is a straggler once it has run this many times the median batch duration.
    pub slowness_factor: f64,
    /// ... and at least this many seconds (avoids re-invoking very short batches).
    pub min_running_secs: f64,
    /// Maximum speculative copies per batch.
    pub max_speculative: u32,
}

impl Default for StragglerSettings {
    fn default() -> Self {
        StragglerSettings {
            enabled: true,
            completed_fraction: 0.9,
            slowness_factor: 3.0,
            min_running_secs: 1.0,
            max_speculative: 1,
        }
    }
}

/// The request that starts a job: the input of the level-0 manager.
///
/// Accepts burst-compute's older (`startIndex`, `endIndex`, `searchTimeoutSecs`) and newer
/// (`datasetStartIndex`, `datasetEndIndex`, `jobsTimeoutSecs`) spellings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRequest {
    /// Name of the worker function (local: a registered worker).
    pub worker_function_name: String,
    /// Name of the combiner function (local: a registered combiner).
    pub combiner_function_name: String,
    /// First item index (inclusive).
    #[serde(default, alias = "datasetStartIndex")]
    pub start_index: u64,
    /// Last item index (exclusive).
    #[serde(alias = "datasetEndIndex")]
    pub end_index: u64,
    /// Requested items per batch (enlarged if the job would exceed `maxParallelism`).
    pub batch_size: u64,
    /// Manager levels of the spawn tree (default 2).
    #[serde(default = "default_num_levels")]
    pub num_levels: u32,
    /// Cap on the number of batches (default 3000).
    #[serde(default = "default_max_parallelism")]
    pub max_parallelism: u64,
    /// Fan-out of each manager; computed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branching_factor: Option<u64>,
    /// Seconds after the start at which the job times out (default 900).
    #[serde(default = "default_search_timeout", alias = "jobsTimeoutSecs")]
    pub search_timeout_secs: f64,
    /// Opaque parameters given to every worker and to the combiner.
    #[serde(default)]
    pub job_parameters: Value,
    /// A job id chosen by the caller; a random UUID when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Retries, failure tolerance, stragglers.
    #[serde(flatten)]
    pub settings: JobSettings,
}

fn default_num_levels() -> u32 {
    DEFAULT_NUM_LEVELS
}

fn default_max_parallelism() -> u64 {
    DEFAULT_MAX_PARALLELISM
}

fn default_search_timeout() -> f64 {
    DEFAULT_SEARCH_TIMEOUT_SECS
}

impl JobRequest {
    /// A request over items `start..end` in batches of `batch_size`, with default settings.
    pub fn new(worker: &str, combiner: &str, start: u64, end: u64, batch_size: u64) -> Self {
        JobRequest {
            worker_function_name: worker.to_string(),
            combiner_function_name: combiner.to_string(),
            start_index: start,
            end_index: end,
            batch_size,
            num_levels: DEFAULT_NUM_LEVELS,
            max_parallelism: DEFAULT_MAX_PARALLELISM,
            branching_factor: None,
            search_timeout_secs: DEFAULT_SEARCH_TIMEOUT_SECS,
            job_parameters: Value::Object(Default::default()),
            job_id: None,
            settings: JobSettings::default(),
        }
    }
}

/// What every manager answers (as burst-compute's dispatch does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchResponse {
    /// The job.
    pub job_id: String,
    /// Number of batches (= workers) of the job.
    pub num_batches: u64,
    /// Fan-out of each manager.
    pub branching_factor: u64,
    /// Effective batch size after the `maxParallelism` cap.
    pub batch_size: u64,
}

/// The resolved description of a job, carried by manager events and by the monitor state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// Unique id of the job (task-table partition key).
    pub job_id: String,
    /// First item of the whole job (inclusive).
    pub dataset_start_index: u64,
    /// Last item of the whole job (exclusive).
    pub dataset_end_index: u64,
    /// Effective items per batch.
    pub batch_size: u64,
    /// Number of batches; batch ids are `0..numBatches`.
    pub num_batches: u64,
    /// Manager levels.
    pub num_levels: u32,
    /// Fan-out of each manager.
    pub branching_factor: u64,
    /// Cap on the number of batches.
    pub max_parallelism: u64,
    /// Seconds after `startTime` at which the job times out.
    pub search_timeout_secs: f64,
    /// When the level-0 manager started the job (ISO 8601, UTC).
    pub start_time: String,
    /// Name of the task table.
    pub tasks_table_name: String,
    /// Name of the manager function.
    pub manager_function_name: String,
    /// Name of the monitor function.
    pub monitor_function_name: String,
    /// Name of the worker function.
    pub worker_function_name: String,
    /// Name of the combiner function.
    pub combiner_function_name: String,
    /// Opaque parameters given to every worker and to the combiner.
    pub job_parameters: Value,
    /// Retries, failure tolerance, stragglers.
    #[serde(flatten)]
    pub settings: JobSettings,
}

impl JobSpec {
    /// Item range `[start, end)` of batch `batch_id`.
    pub fn batch_range(&self, batch_id: u64) -> (u64, u64) {
        let start = self.dataset_start_index + batch_id * self.batch_size;
        let end = (start + self.batch_size).min(self.dataset_end_index);
        (start, end)
    }

    /// The event that runs batch `batch_id` as attempt `attempt` (1 = first).
    pub fn worker_event(&self, batch_id: u64, attempt: u32) -> WorkerEvent {
        let (start_index, end_index) = self.batch_range(batch_id);
        WorkerEvent {
            tasks_table_name: self.tasks_table_name.clone(),
            job_id: self.job_id.clone(),
            batch_id,
            start_index,
            end_index,
            job_parameters: self.job_parameters.clone(),
            attempt,
            row_ttl_secs: self.settings.row_ttl_secs,
        }
    }
}

/// The input of a manager below level 0: the job plus the node of the spawn tree it handles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagerEvent {
    /// Level of this manager (1..numLevels).
    pub level: u32,
    /// First item covered by this manager (inclusive).
    pub start_index: u64,
    /// Last item covered by this manager (exclusive).
    pub end_index: u64,
    /// The job.
    #[serde(flatten)]
    pub job: JobSpec,
}

/// The input of a manager function: a new job (level 0) or a node of a running job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ManagerInput {
    /// A manager below level 0.
    Node(Box<ManagerEvent>),
    /// A new job.
    Start(Box<JobRequest>),
}

/// The input of a worker (burst-compute's worker interface plus `attempt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerEvent {
    /// Name of the task table to write to.
    pub tasks_table_name: String,
    /// The job.
    pub job_id: String,
    /// The batch (task-table sort key).
    pub batch_id: u64,
    /// First item (inclusive).
    pub start_index: u64,
    /// Last item (exclusive).
    pub end_index: u64,
    /// Opaque parameters of the job.
    pub job_parameters: Value,
    /// 1 for the first invocation, higher for retries and speculative copies.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Lifetime of the row the worker writes.
    #[serde(default = "default_row_ttl")]
    pub row_ttl_secs: u64,
}

fn first_attempt() -> u32 {
    1
}

fn default_row_ttl() -> u64 {
    JobSettings::default().row_ttl_secs
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
            timed_out: false,
            failures_exceed_tolerance: false,
            elapsed_secs: 0.0,
            error: None,
        }
    }
}

/// One row of the task table: the completion record of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRow {
    /// Partition key.
    pub job_id: String,
    /// Sort key.
    pub batch_id: u64,
    /// Expiry, epoch seconds.
    pub ttl: u64,
    /// Encoded partial result (see [`crate::payload`]).
    pub results: String,
    /// `application/json`, `application/gzip` (base64 of gzipped JSON) or
    /// `application/octet-stream` (base64 bytes).
    pub results_mime_type: String,
    /// Number of results, as reported by the worker.
    pub nresults: u64,
    /// Which attempt wrote this row.
    pub attempt: u32,
    /// When the worker started, epoch milliseconds.
    pub started_at_ms: u64,
    /// When the worker finished, epoch milliseconds.
    pub finished_at_ms: u64,
}

impl BatchRow {
    /// How long the batch ran, in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.finished_at_ms.saturating_sub(self.started_at_ms) as f64 / 1000.0
    }
}

/// A light view of a completed batch (what the monitor needs for straggler detection).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletedBatch {
    /// The batch.
    pub batch_id: u64,
    /// How long its successful attempt ran, in seconds.
    pub duration_secs: f64,
}

/// What happened to one attempt of a batch, other than success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum AttemptKind {
    /// The attempt failed (error or panic) with this cause.
    Failed {
        /// The error message.
        cause: String,
    },
    /// The monitor re-invoked the batch after a failure.
    Retried,
    /// The monitor re-invoked the batch because it ran too long.
    Speculative,
}

/// One record of the per-batch attempt log (failures and re-invocations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    /// The job.
    pub job_id: String,
    /// The batch.
    pub batch_id: u64,
    /// The attempt number this record is about.
    pub attempt: u32,
    /// When it was recorded, epoch milliseconds.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: AttemptKind,
}

/// Life-cycle state of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobState {
    /// Batches are running.
    Running,
    /// Every batch (or all but a tolerated share) completed and the combiner ran.
    Succeeded,
    /// `searchTimeoutSecs` passed; the combiner ran on the partial results.
    TimedOut,
    /// Too many batches failed, or the monitor or combiner failed.
    Failed,
}

impl JobState {
    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        self != JobState::Running
    }
}

/// The status record of a job, kept so another process can re-attach by job id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// The job.
    pub job_id: String,
    /// Where it stands.
    pub state: JobState,
    /// Number of batches.
    pub num_batches: u64,
    /// Batches complete when the status was last written.
    pub completed: u64,
    /// Batches failed for good when the status was last written.
    pub failed_batches: u64,
    /// ISO 8601 start time.
    pub start_time: String,
    /// Seconds from start to end (or to the last status write).
    pub elapsed_secs: f64,
    /// Object-store key of the [`JobOutcome`], once the combiner has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_key: Option<String>,
    /// Why the job failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The resolved job description.
    pub job: JobSpec,
}

/// A batch that failed every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchFailure {
    /// The batch.
    pub batch_id: u64,
    /// How many attempts failed.
    pub attempts: u32,
    /// The cause of the last failure.
    pub cause: String,
}

/// The end of a job: the combined result plus what is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOutcome {
    /// The job.
    pub job_id: String,
    /// Final state.
    pub state: JobState,
    /// The combiner's result (absent when the combiner itself failed).
    pub result: Option<Value>,
    /// Number of batches.
    pub num_batches: u64,
    /// Batches whose result went into `result`.
    pub completed: u64,
    /// Batches that failed every attempt, with causes.
    pub failed_batches: Vec<BatchFailure>,
    /// Batches without a result (failed, or still running at the time-out), ascending.
    pub missing_batches: Vec<u64>,
    /// Seconds from start to the end of the combiner.
    pub elapsed_secs: f64,
    /// Why the job failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Progress of a running job, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Batches complete.
    pub completed: u64,
    /// Batches failed for good.
    pub failed: u64,
    /// All batches.
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_request_accepts_burst_compute_fields_and_fills_defaults() {
        let req: JobRequest = serde_json::from_str(
            r#"{"workerFunctionName":"w","combinerFunctionName":"c","datasetStartIndex":5,
                "datasetEndIndex":105,"batchSize":10,"jobsTimeoutSecs":60,"jobParameters":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(req.start_index, 5);
        assert_eq!(req.end_index, 105);
        assert_eq!(req.num_levels, 2);
        assert_eq!(req.max_parallelism, 3000);
        assert_eq!(req.search_timeout_secs, 60.0);
        assert_eq!(req.settings.max_attempts, 3);
        assert!(req.settings.stragglers.enabled);
        assert_eq!(req.job_parameters["a"], 1);
    }

    #[test]
    fn manager_input_distinguishes_start_from_node() {
        let start: ManagerInput = serde_json::from_value(serde_json::json!({
            "workerFunctionName":"w","combinerFunctionName":"c","startIndex":0,"endIndex":10,"batchSize":2
        }))
        .unwrap();
        assert!(matches!(start, ManagerInput::Start(_)));
        let spec = sample_spec();
        let node = ManagerEvent {
            level: 1,
            start_index: 0,
            end_index: 4,
            job: spec,
        };
        let json = serde_json::to_value(&node).unwrap();
        assert_eq!(json["jobId"], "j");
        assert_eq!(json["numBatches"], 5);
        assert_eq!(json["maxAttempts"], 3);
        let back: ManagerInput = serde_json::from_value(json).unwrap();
        assert_eq!(back, ManagerInput::Node(Box::new(node)));
    }

    #[test]
    fn batch_ranges_clip_at_the_end() {
        let spec = sample_spec();
        assert_eq!(spec.batch_range(0), (10, 12));
        assert_eq!(spec.batch_range(4), (18, 19));
        let ev = serde_json::to_value(spec.worker_event(4, 2)).unwrap();
        assert_eq!(ev["startIndex"], 18);
        assert_eq!(ev["endIndex"], 19);
        assert_eq!(ev["batchId"], 4);
        assert_eq!(ev["tasksTableName"], "t");
        assert_eq!(ev["attempt"], 2);
    }

    pub(crate) fn sample_spec() -> JobSpec {
        JobSpec {
            job_id: "j".into(),
            dataset_start_index: 10,
            dataset_end_index: 19,
            batch_size: 2,
            num_batches: 5,
            num_levels: 2,
            branching_factor: 3,
            max_parallelism: 3000,
            search_timeout_secs: 10.0,
            start_time: "2026-01-01T00:00:00.000Z".into(),
            tasks_table_name: "t".into(),
            manager_function_name: "m".into(),
            monitor_function_name: "mon".into(),
            worker_function_name: "w".into(),
            combiner_function_name: "c".into(),
            job_parameters: serde_json::json!({}),
            settings: JobSettings::default(),
        }
    }
}
