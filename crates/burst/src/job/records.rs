//! What a job leaves in the task table and the object store: batch rows, the attempt log, the
//! job's status and its outcome.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;
use crate::cost::{Usage, UsageCost};
use crate::time::secs_between;

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
    /// What the worker's invocation used (its duration and memory, the app's reads, this
    /// row's write); empty in rows of burst-compute workers.
    #[serde(default)]
    pub usage: Usage,
}

/// Bytes of a row's attribute names, numbers and key overhead besides its strings (DynamoDB
/// item size: names plus values; numbers up to 21 bytes).
const ROW_FIXED_BYTES: u64 = 160;

impl BatchRow {
    /// How long the batch ran, in seconds.
    pub fn duration_secs(&self) -> f64 {
        secs_between(self.started_at_ms, self.finished_at_ms)
    }

    /// The size DynamoDB bills for this row's item, near enough (strings plus a fixed
    /// allowance for names and numbers; the usage attribute as JSON).
    pub fn item_bytes(&self) -> u64 {
        let usage = serde_json::to_string(&self.usage).map_or(0, |u| u.len() as u64);
        (self.job_id.len() + self.results.len() + self.results_mime_type.len()) as u64
            + usage
            + ROW_FIXED_BYTES
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
    /// The monitor invoked the batch itself because its previous attempt left neither a row
    /// nor a failure within the recovery grace period (a failed invoke, a lost manager, a
    /// worker that died); that attempt counts as failed.
    Recovered,
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

impl JobStatus {
    /// The status of `job` as its root manager writes it: running, nothing complete yet.
    pub fn started(job: JobSpec) -> Self {
        JobStatus {
            job_id: job.job_id.clone(),
            state: JobState::Running,
            num_batches: job.num_batches,
            completed: 0,
            failed_batches: 0,
            start_time: job.start_time.clone(),
            elapsed_secs: 0.0,
            outcome_key: None,
            error: None,
            job,
        }
    }
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
    /// Batches the monitor invoked itself because an invocation of theirs was lost.
    #[serde(default)]
    pub recovered_batches: u64,
    /// Seconds from start to the end of the combiner.
    pub elapsed_secs: f64,
    /// Why the job failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The job's cost drivers as its functions measured them (see [`crate::cost::Usage`]).
    #[serde(default)]
    pub usage: Usage,
    /// `usage` priced at list prices ([`crate::cost::Prices::default`]).
    #[serde(default)]
    pub cost_usd: UsageCost,
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
