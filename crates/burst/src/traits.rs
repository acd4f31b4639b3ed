//! The seams of the framework: user code ([`Worker`], [`Combiner`]) and backends
//! ([`TaskTable`], [`ObjectStore`], [`Invoker`], [`StateMachineStarter`]).
//!
//! Every trait is object-safe (`async-trait`), `Send + Sync`, and free of any cloud SDK type,
//! so the local runtime and a cloud backend implement the same interfaces.

use std::future::Future;
use std::ops::Range;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cost::Usage;
use crate::error::{BackendError, TaskError};
use crate::job::{AttemptRecord, BatchFailure, BatchRow, CompletedBatch, JobStatus, WorkerEvent};

/// What a worker returns for its batch.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultData {
    /// A JSON value (stored as JSON, gzip-compressed when large).
    Json(Value),
    /// Opaque bytes (stored base64-encoded).
    Bytes(Vec<u8>),
}

/// The partial result of one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialResult {
    /// The data.
    pub data: ResultData,
    /// How many results it holds (NeuronBridge's `nresults`).
    pub nresults: u64,
    /// What producing it used that the framework cannot see (e.g. the app's S3 reads); the
    /// framework adds the invocation's duration and its own writes.
    pub usage: Usage,
}

impl PartialResult {
    /// A JSON result; `nresults` is the array length for arrays, 0 for null, 1 otherwise.
    pub fn json(value: Value) -> Self {
        let nresults = match &value {
            Value::Array(items) => items.len() as u64,
            Value::Null => 0,
            _ => 1,
        };
        PartialResult {
            data: ResultData::Json(value),
            nresults,
            usage: Usage::default(),
        }
    }

    /// A byte result counting as one result.
    pub fn bytes(bytes: Vec<u8>) -> Self {
        PartialResult {
            data: ResultData::Bytes(bytes),
            nresults: 1,
            usage: Usage::default(),
        }
    }

    /// Overrides the result count.
    pub fn with_count(mut self, nresults: u64) -> Self {
        self.nresults = nresults;
        self
    }

    /// Reports what producing this result used (e.g. S3 requests and bytes read).
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// The JSON value, if this is a JSON result.
    pub fn as_json(&self) -> Option<&Value> {
        match &self.data {
            ResultData::Json(v) => Some(v),
            ResultData::Bytes(_) => None,
        }
    }
}

/// Processes one batch of a job: items `startIndex..endIndex` with the job's parameters.
///
/// Implementations must be deterministic per batch (a batch may run more than once: retries,
/// duplicated deliveries, speculative copies; the first result written wins). CPU-bound work is
/// fine: the local runtime runs workers on blocking threads, so they may use rayon inside.
#[async_trait]
pub trait Worker: Send + Sync {
    /// Computes the partial result of the batch described by `event`.
    async fn process(&self, event: &WorkerEvent) -> Result<PartialResult, TaskError>;
}

/// A batch's partial result as handed to the combiner.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutput {
    /// The batch.
    pub batch_id: u64,
    /// The decoded partial result.
    pub result: PartialResult,
}

/// Everything a combiner receives.
#[derive(Debug, Clone, PartialEq)]
pub struct CombineInput {
    /// The job.
    pub job_id: String,
    /// The job's parameters.
    pub job_parameters: Value,
    /// ISO 8601 start time of the job.
    pub start_time: String,
    /// Seconds since the start.
    pub elapsed_secs: f64,
    /// Number of batches of the job.
    pub num_batches: u64,
    /// Partial results of the completed batches, by ascending batch id.
    pub partials: Vec<BatchOutput>,
    /// Batches without a result, ascending (failed ones and, after a time-out, running ones).
    pub missing_batches: Vec<u64>,
    /// Batches that failed every attempt, with causes.
    pub failed_batches: Vec<BatchFailure>,
    /// Batches the monitor invoked itself because an invocation of theirs was lost.
    pub recovered_batches: u64,
    /// Whether the job timed out.
    pub timed_out: bool,
    /// The error that sent the job down the error path, if any.
    pub error: Option<String>,
}

/// Merges all partial results of a job into the job's result.
#[async_trait]
pub trait Combiner: Send + Sync {
    /// Combines the partial results; called once per job, also on time-out and on errors.
    async fn combine(&self, input: CombineInput) -> Result<Value, TaskError>;
}

/// One page of a paginated listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Token for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// Whether a write-once put stored its value: a completion row ([`TaskTable::put_row`]) or an
/// object ([`ObjectStore::put_if_absent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The row (object) was new and is now stored.
    Inserted,
    /// A row for the same (jobId, batchId) (an object with the same key) existed; it was kept
    /// unchanged.
    AlreadyPresent,
}

/// The task table: one completion row per (jobId, batchId), an attempt log, and job statuses.
///
/// Reads must be consistent (a row written before the call is seen by it): the monitor counts
/// rows to decide that a job is complete.
#[async_trait]
pub trait TaskTable: Send + Sync {
    /// Stores a completion row unless one already exists for its (jobId, batchId).
    async fn put_row(&self, row: &BatchRow) -> Result<PutOutcome, BackendError>;
    /// Counts the completion rows of a job.
    async fn count_rows(&self, job_id: &str) -> Result<u64, BackendError>;
    /// Reads completion rows of a job, by ascending batch id, one page at a time.
    async fn read_rows(
        &self,
        job_id: &str,
        page_token: Option<&str>,
    ) -> Result<Page<BatchRow>, BackendError>;
    /// Lists completed batches with their durations (without results), one page at a time.
    async fn completed_batches(
        &self,
        job_id: &str,
        page_token: Option<&str>,
    ) -> Result<Page<CompletedBatch>, BackendError>;
    /// Appends a record to the job's attempt log (failures and re-invocations).
    async fn record_attempt(&self, record: &AttemptRecord) -> Result<(), BackendError>;
    /// Reads the job's attempt log, one page at a time.
    async fn read_attempts(
        &self,
        job_id: &str,
        page_token: Option<&str>,
    ) -> Result<Page<AttemptRecord>, BackendError>;
    /// Creates or replaces the status record of a job.
    async fn put_status(&self, status: &JobStatus) -> Result<(), BackendError>;
    /// Reads the status record of a job.
    async fn get_status(&self, job_id: &str) -> Result<Option<JobStatus>, BackendError>;
    /// Deletes everything the table holds of a job (rows, attempt log, status record);
    /// deleting a job it holds nothing of succeeds. Callers make sure the job has ended
    /// ([`crate::cleanup::delete_job_state`] does). The default refuses the call, naming the
    /// missing capability, so that a table without deletion is never taken for one.
    async fn delete_job(&self, job_id: &str) -> Result<(), BackendError> {
        Err(BackendError::Invalid(format!(
            "delete of job {job_id}: this task table cannot delete jobs"
        )))
    }
}

/// Metadata of a stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// The key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// A flat key → bytes store (S3-like).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Reads a whole object.
    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError>;
    /// Reads bytes `range` of an object (clipped at its end).
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, BackendError>;
    /// Creates or replaces an object.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackendError>;
    /// Creates an object only if none has `key`, atomically: of concurrent calls on one key
    /// exactly one answers [`PutOutcome::Inserted`], the others [`PutOutcome::AlreadyPresent`]
    /// and leave the object unchanged (S3: `PutObject` with `If-None-Match: *`).
    ///
    /// A retried call whose first try was stored but not acknowledged may answer
    /// `AlreadyPresent` for its own object: callers that must know compare the stored content.
    /// The default refuses the call, naming the missing capability, so that a store without
    /// conditional writes is never taken for one.
    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<PutOutcome, BackendError> {
        let _ = bytes;
        Err(BackendError::Invalid(format!(
            "conditional put of {key}: this object store has no create-if-absent write"
        )))
    }
    /// Deletes an object; deleting one that does not exist succeeds (as S3's `DeleteObject`).
    /// The default refuses the call, naming the missing capability.
    async fn delete_object(&self, key: &str) -> Result<(), BackendError> {
        Err(BackendError::Invalid(format!(
            "delete of {key}: this object store cannot delete objects"
        )))
    }
    /// Lists objects whose key starts with `prefix`, by ascending key, one page at a time.
    async fn list(
        &self,
        prefix: &str,
        page_token: Option<&str>,
    ) -> Result<Page<ObjectInfo>, BackendError>;
}

/// Asynchronous, fire-and-forget invocation of a function by name (Lambda's `Event` invoke).
#[async_trait]
pub trait Invoker: Send + Sync {
    /// Queues one invocation of `function_name` with `payload`; returns once it is accepted.
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<(), BackendError>;
}

/// Starts executions of the monitor state machine.
#[async_trait]
pub trait StateMachineStarter: Send + Sync {
    /// Starts an execution named `name` with `input`; returns its execution id.
    async fn start_execution(&self, name: &str, input: Value) -> Result<String, BackendError>;
}

/// Follows page tokens until the last page and returns all items.
pub async fn collect_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, BackendError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, BackendError>>,
{
    let mut items = Vec::new();
    let mut token = None;
    loop {
        let page = fetch(token).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => token = Some(next),
            None => return Ok(items),
        }
    }
}

/// All completion rows of a job.
pub async fn all_rows(table: &dyn TaskTable, job_id: &str) -> Result<Vec<BatchRow>, BackendError> {
    collect_pages(|token| async move { table.read_rows(job_id, token.as_deref()).await }).await
}

/// All completed batches of a job (ids and durations).
pub async fn all_completed(
    table: &dyn TaskTable,
    job_id: &str,
) -> Result<Vec<CompletedBatch>, BackendError> {
    collect_pages(|token| async move { table.completed_batches(job_id, token.as_deref()).await })
        .await
}

/// The whole attempt log of a job.
pub async fn all_attempts(
    table: &dyn TaskTable,
    job_id: &str,
) -> Result<Vec<AttemptRecord>, BackendError> {
    collect_pages(|token| async move { table.read_attempts(job_id, token.as_deref()).await }).await
}
