//! The start of a job and its spawn tree: the job request (the level-0 manager's input), its
//! settings, the resolved job description, manager events and the dispatch answer.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::*;
use crate::backends::from_event;
use crate::error::BurstError;
use crate::lenient::int_of;
use crate::time::{ms_from_iso, now_ms, secs_between};

/// Retries, failure tolerance, recovery of lost invocations and straggler handling of a job
/// (our additions to burst-compute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobSettings {
    /// How many times a batch is tried in total before it counts as failed (at least 1; in
    /// JSON, 0 means the default, 3).
    #[serde(deserialize_with = "read::max_attempts")]
    pub max_attempts: u32,
    /// Percentage of batches (0..=100) that may fail while the job still succeeds.
    #[serde(deserialize_with = "read::tolerated_failure_percent")]
    pub tolerated_failure_percent: f64,
    /// Lifetime of task-table rows, in seconds after they are written.
    #[serde(deserialize_with = "read::row_ttl_secs")]
    pub row_ttl_secs: u64,
    /// How long, in seconds, an invocation (the job's start, for the spawn tree's) may go
    /// without leaving a row or a failure before the monitor counts its batch as lost and
    /// invokes it itself; the median run time of the completed batches is added. It should
    /// cover the fan-out (with any queueing behind concurrency limits) and, while no batch has
    /// completed, a batch's usual run time; a shorter one only costs duplicate invocations.
    #[serde(deserialize_with = "read::recovery_grace_secs")]
    pub recovery_grace_secs: f64,
    /// Most invocations one monitor poll makes: retries first, then recoveries of lost batches,
    /// then speculative copies; the rest wait for the next poll (in JSON, 0 means the default).
    #[serde(deserialize_with = "read::max_monitor_invocations_per_poll")]
    pub max_monitor_invocations_per_poll: u32,
    /// Speculative re-invocation of slow batches.
    pub stragglers: StragglerSettings,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            tolerated_failure_percent: 0.0,
            row_ttl_secs: DEFAULT_ROW_TTL_SECS,
            recovery_grace_secs: DEFAULT_RECOVERY_GRACE_SECS,
            max_monitor_invocations_per_poll: DEFAULT_MAX_MONITOR_INVOCATIONS_PER_POLL,
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
/// (`datasetStartIndex`, `datasetEndIndex`, `jobsTimeoutSecs`) spellings, and its numbers as
/// strings (read like `parseInt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRequest {
    /// Name of the worker function (local: a registered worker).
    pub worker_function_name: String,
    /// Name of the combiner function (local: a registered combiner).
    pub combiner_function_name: String,
    /// First item index (inclusive; default 0).
    #[serde(
        default,
        alias = "datasetStartIndex",
        deserialize_with = "read::start_index_or_zero"
    )]
    pub start_index: u64,
    /// Last item index (exclusive).
    #[serde(alias = "datasetEndIndex", deserialize_with = "read::end_index")]
    pub end_index: u64,
    /// Requested items per batch (default 50; enlarged if the job would exceed
    /// `maxParallelism`).
    #[serde(default = "default_batch_size", deserialize_with = "read::batch_size")]
    pub batch_size: u64,
    /// Manager levels of the spawn tree (default 2, also for 0).
    #[serde(default = "default_num_levels", deserialize_with = "read::num_levels")]
    pub num_levels: u32,
    /// Cap on the number of batches (default 3000, also for 0).
    #[serde(
        default = "default_max_parallelism",
        deserialize_with = "read::max_parallelism"
    )]
    pub max_parallelism: u64,
    /// Fan-out of each manager; computed when absent or 0.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "read::requested_branching_factor"
    )]
    pub branching_factor: Option<u64>,
    /// Seconds after the start at which the job times out (default 900).
    #[serde(
        default = "default_search_timeout",
        alias = "jobsTimeoutSecs",
        deserialize_with = "read::search_timeout_secs"
    )]
    pub search_timeout_secs: f64,
    /// Opaque parameters given to every worker and to the combiner.
    #[serde(default)]
    pub job_parameters: Value,
    /// A job id chosen by the caller; a random UUID when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Retries, failure tolerance, recovery, stragglers.
    #[serde(flatten)]
    pub settings: JobSettings,
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
    #[serde(deserialize_with = "read::dataset_start_index")]
    pub dataset_start_index: u64,
    /// Last item of the whole job (exclusive).
    #[serde(deserialize_with = "read::dataset_end_index")]
    pub dataset_end_index: u64,
    /// Effective items per batch.
    #[serde(default = "default_batch_size", deserialize_with = "read::batch_size")]
    pub batch_size: u64,
    /// Number of batches; batch ids are `0..numBatches`.
    #[serde(deserialize_with = "read::num_batches")]
    pub num_batches: u64,
    /// Manager levels.
    #[serde(default = "default_num_levels", deserialize_with = "read::num_levels")]
    pub num_levels: u32,
    /// Fan-out of each manager.
    #[serde(deserialize_with = "read::branching_factor")]
    pub branching_factor: u64,
    /// Cap on the number of batches.
    #[serde(
        default = "default_max_parallelism",
        deserialize_with = "read::max_parallelism"
    )]
    pub max_parallelism: u64,
    /// Seconds after `startTime` at which the job times out.
    #[serde(
        default = "default_search_timeout",
        deserialize_with = "read::search_timeout_secs"
    )]
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
    /// Retries, failure tolerance, recovery, stragglers.
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
            batch_size: self.batch_size,
            num_batches: self.num_batches,
            branching_factor: self.branching_factor,
            num_levels: self.num_levels,
            level: self.num_levels,
            search_timeout_secs: self.search_timeout_secs,
            worker_function_name: self.worker_function_name.clone(),
            combiner_function_name: self.combiner_function_name.clone(),
        }
    }

    /// When the job started (epoch ms), from `startTime`; now if that does not parse.
    pub fn start_ms(&self) -> u64 {
        ms_from_iso(&self.start_time).unwrap_or_else(now_ms)
    }

    /// Seconds since the job started.
    pub fn elapsed_secs(&self) -> f64 {
        secs_between(self.start_ms(), now_ms())
    }
}

/// The input of a manager below level 0: the job plus the node of the spawn tree it handles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagerEvent {
    /// Level of this manager (1..numLevels).
    #[serde(deserialize_with = "read::level")]
    pub level: u32,
    /// First item covered by this manager (inclusive).
    #[serde(deserialize_with = "read::start_index")]
    pub start_index: u64,
    /// Last item covered by this manager (exclusive).
    #[serde(deserialize_with = "read::end_index")]
    pub end_index: u64,
    /// The job.
    #[serde(flatten)]
    pub job: JobSpec,
}

/// The input of a manager function: a new job (level 0) or a node of a running job.
///
/// As in burst-compute's dispatcher (`parseInt(level) || 0`), an event whose `level` is absent,
/// 0 or not a number starts a job; any other `level` makes it a node.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ManagerInput {
    /// A manager below level 0.
    Node(Box<ManagerEvent>),
    /// A new job.
    Start(Box<JobRequest>),
}

impl<'de> Deserialize<'de> for ManagerInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let is_node = value
            .get("level")
            .is_some_and(|level| !matches!(int_of(level), Ok(None | Some(0))));
        if is_node {
            parse_as(value).map(|event| ManagerInput::Node(Box::new(event)))
        } else {
            parse_as(value).map(|request| ManagerInput::Start(Box::new(request)))
        }
    }
}

impl ManagerInput {
    /// Parses a raw manager event; the error names the field that was wrong.
    pub fn from_value(event: Value) -> Result<Self, BurstError> {
        from_event("manager event", event)
    }
}
