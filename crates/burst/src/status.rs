//! Re-attaching to a job by its id: status, live progress, per-batch errors, outcome.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::attempts::{histories, permanent_failures};
use crate::backends::Backends;
use crate::error::{BackendError, BurstError};
use crate::job::{AttemptKind, JobOutcome, JobStatus, Progress};
use crate::outcome::load_outcome;
use crate::traits::{all_attempts, all_completed, TaskTable};

/// One failed attempt of a batch, with its cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchError {
    /// The batch.
    pub batch_id: u64,
    /// Which attempt failed.
    pub attempt: u32,
    /// Why.
    pub cause: String,
    /// When, epoch ms.
    pub at_ms: u64,
}

/// Everything known about a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobReport {
    /// The status record.
    pub status: JobStatus,
    /// Live progress counted from the task table.
    pub progress: Progress,
    /// Every failed attempt, in log order.
    pub errors: Vec<BatchError>,
    /// The outcome, once the job has ended.
    pub outcome: Option<JobOutcome>,
}

/// Reads the status record of job `job_id`, which must exist.
pub async fn load_status(tasks: &dyn TaskTable, job_id: &str) -> Result<JobStatus, BackendError> {
    tasks
        .get_status(job_id)
        .await?
        .ok_or_else(|| BackendError::NotFound(format!("job {job_id} (no status record)")))
}

/// Reads the status, progress, errors and (if ended) outcome of job `job_id`.
pub async fn report(backends: &Backends, job_id: &str) -> Result<JobReport, BurstError> {
    let tasks = backends.tasks.as_ref();
    let status = load_status(tasks, job_id).await?;
    let completed = tasks.count_rows(job_id).await?;
    let attempts = all_attempts(tasks, job_id).await?;
    let failed = if attempts.is_empty() {
        0
    } else {
        let done: BTreeSet<u64> = all_completed(tasks, job_id)
            .await?
            .iter()
            .map(|c| c.batch_id)
            .collect();
        permanent_failures(
            &histories(&attempts),
            &done,
            status.job.settings.max_attempts,
        )
        .len() as u64
    };
    let errors = attempts
        .iter()
        .filter_map(|r| match &r.kind {
            AttemptKind::Failed { cause } => Some(BatchError {
                batch_id: r.batch_id,
                attempt: r.attempt,
                cause: cause.clone(),
                at_ms: r.at_ms,
            }),
            _ => None,
        })
        .collect();
    let outcome = match &status.outcome_key {
        Some(key) => Some(load_outcome(backends, key).await?),
        None => None,
    };
    Ok(JobReport {
        progress: Progress {
            completed,
            failed,
            total: status.num_batches,
        },
        status,
        errors,
        outcome,
    })
}
