//! Deleting what a finished job left behind: its task-table entries (completion rows, attempt
//! log, status record) and its objects (the outcome under [`outcome::job_prefix`], large
//! partial results under [`partials::job_prefix`]).
//!
//! Only a job whose status is final is deleted: a running job's workers would write rows and
//! objects again. A job whose runner died (its status stuck at `running`) is first marked
//! failed with [`abandon_job`] by whoever knows it can no longer run.
//!
//! [`delete_job_state`] deletes the objects first and the status record last, so that a
//! crash midway leaves a job whose status is still there and final: calling it again finishes
//! the deletion, and deleting a job with no state left succeeds.

use crate::error::{BackendError, BurstError};
use crate::job::{JobState, JobStatus};
use crate::outcome;
use crate::partials;
use crate::traits::{collect_pages, ObjectStore, TaskTable};

/// What [`delete_job_state`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeletedJob {
    /// Whether the job had a status record.
    pub had_status: bool,
    /// How many objects of the job were deleted.
    pub objects: usize,
}

/// Refuses a job id that could name other jobs' objects (empty, or with a slash).
pub fn check_job_id(job_id: &str) -> Result<(), BurstError> {
    if job_id.is_empty() || job_id.contains(['/', '\\']) {
        return Err(BackendError::Invalid(format!(
            "job id {job_id:?} (expected a non-empty name without slashes)"
        ))
        .into());
    }
    Ok(())
}

/// Refuses to delete job `job_id` unless its `status` is final (or it has none).
pub fn check_ended(job_id: &str, status: Option<&JobStatus>) -> Result<(), BurstError> {
    match status {
        Some(s) if !s.state.is_final() => Err(BurstError::JobNotEnded {
            job_id: job_id.to_string(),
            state: format!("{:?}", s.state).to_lowercase(),
        }),
        _ => Ok(()),
    }
}

/// The key prefixes under which the framework stores objects of job `job_id`.
pub fn object_prefixes(job_id: &str) -> [String; 2] {
    [outcome::job_prefix(job_id), partials::job_prefix(job_id)]
}

/// `status` of a job that can no longer run, marked failed with `reason`; `None` when it has
/// ended already (nothing to change).
pub fn abandoned(status: &JobStatus, reason: &str) -> Option<JobStatus> {
    if status.state.is_final() {
        return None;
    }
    let mut status = status.clone();
    status.state = JobState::Failed;
    status.error = Some(reason.to_string());
    Some(status)
}

/// Marks job `job_id`, which the caller knows can no longer run (the process running it
/// stopped), as failed with `reason`, so that its state may be deleted; returns whether its
/// status changed (not for a job without status or one that has ended).
pub async fn abandon_job(
    tasks: &dyn TaskTable,
    job_id: &str,
    reason: &str,
) -> Result<bool, BurstError> {
    let Some(status) = tasks.get_status(job_id).await? else {
        return Ok(false);
    };
    match abandoned(&status, reason) {
        Some(failed) => {
            tasks.put_status(&failed).await?;
            tracing::info!(jobId = %job_id, reason, "job marked failed: it can no longer run");
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Deletes everything stored of job `job_id`, which must have ended: its objects (outcome,
/// partial results, also an outcome its status points to elsewhere), then its task-table
/// entries. Fails with [`BurstError::JobNotEnded`] while the job's status is not final, and
/// with the backend's error when a backend cannot delete (the default [`TaskTable::delete_job`]
/// and [`ObjectStore::delete_object`] refuse).
pub async fn delete_job_state(
    tasks: &dyn TaskTable,
    store: &dyn ObjectStore,
    job_id: &str,
) -> Result<DeletedJob, BurstError> {
    check_job_id(job_id)?;
    let status = tasks.get_status(job_id).await?;
    check_ended(job_id, status.as_ref())?;
    let mut keys = Vec::new();
    for prefix in object_prefixes(job_id) {
        let prefix = prefix.as_str();
        let found =
            collect_pages(|token| async move { store.list(prefix, token.as_deref()).await })
                .await?;
        keys.extend(found.into_iter().map(|o| o.key));
    }
    if let Some(key) = status.as_ref().and_then(|s| s.outcome_key.clone()) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for key in &keys {
        store.delete_object(key).await?;
    }
    tasks.delete_job(job_id).await?;
    let deleted = DeletedJob {
        had_status: status.is_some(),
        objects: keys.len(),
    };
    tracing::info!(
        jobId = %job_id,
        objects = deleted.objects,
        hadStatus = deleted.had_status,
        "job state deleted"
    );
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{AttemptKind, AttemptRecord, BatchRow, JobRequest};
    use crate::local::{DiskObjectStore, DiskTaskTable, MemoryObjectStore, MemoryTaskTable};
    use crate::manager::{self, Deployment};
    use crate::traits::{all_attempts, all_rows};
    use serde_json::json;

    fn status(job_id: &str, state: JobState) -> JobStatus {
        let request: JobRequest = serde_json::from_value(json!({
            "jobParameters": {},
            "startIndex": 0,
            "endIndex": 10,
            "batchSize": 5,
            "workerFunctionName": "w",
            "combinerFunctionName": "c",
        }))
        .unwrap();
        let job =
            manager::describe_job(&request, &Deployment::default(), job_id.into(), 0).unwrap();
        JobStatus {
            state,
            ..JobStatus::started(job)
        }
    }

    fn row(job_id: &str, batch_id: u64) -> BatchRow {
        BatchRow {
            job_id: job_id.into(),
            batch_id,
            ttl: 0,
            results: "[]".into(),
            results_mime_type: "application/json".into(),
            nresults: 0,
            attempt: 1,
            started_at_ms: 1,
            finished_at_ms: 2,
            usage: Default::default(),
        }
    }

    /// Stores rows, an attempt, a status, the outcome and a partial object of `job_id`.
    async fn fill(tasks: &dyn TaskTable, store: &dyn ObjectStore, job_id: &str, state: JobState) {
        for batch in 0..2 {
            tasks.put_row(&row(job_id, batch)).await.unwrap();
        }
        tasks
            .record_attempt(&AttemptRecord {
                job_id: job_id.into(),
                batch_id: 1,
                attempt: 1,
                at_ms: 3,
                kind: AttemptKind::Failed {
                    cause: "boom".into(),
                },
            })
            .await
            .unwrap();
        let mut s = status(job_id, state);
        s.outcome_key = Some(outcome::outcome_key(job_id));
        tasks.put_status(&s).await.unwrap();
        store
            .put(&outcome::outcome_key(job_id), b"{}".to_vec())
            .await
            .unwrap();
        store
            .put(&partials::object_key(job_id, 1, 1, "n"), vec![7; 10])
            .await
            .unwrap();
    }

    /// Asserts that `job_id` has all the state [`fill`] stored.
    async fn assert_whole(tasks: &dyn TaskTable, store: &dyn ObjectStore, job_id: &str) {
        assert_eq!(all_rows(tasks, job_id).await.unwrap().len(), 2);
        assert_eq!(all_attempts(tasks, job_id).await.unwrap().len(), 1);
        assert!(tasks.get_status(job_id).await.unwrap().is_some());
        assert_eq!(
            store.get(&outcome::outcome_key(job_id)).await.unwrap(),
            b"{}"
        );
        let partial = store
            .list(&partials::job_prefix(job_id), None)
            .await
            .unwrap();
        assert_eq!(partial.items.len(), 1);
    }

    /// Asserts that nothing of `job_id` is left.
    async fn assert_gone(tasks: &dyn TaskTable, store: &dyn ObjectStore, job_id: &str) {
        assert!(all_rows(tasks, job_id).await.unwrap().is_empty());
        assert!(all_attempts(tasks, job_id).await.unwrap().is_empty());
        assert_eq!(tasks.get_status(job_id).await.unwrap(), None);
        for prefix in object_prefixes(job_id) {
            assert!(store.list(&prefix, None).await.unwrap().items.is_empty());
        }
    }

    #[tokio::test]
    async fn deleting_on_disk_removes_one_job_and_its_directories() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = DiskTaskTable::new(dir.path().join("tasks"));
        let store = DiskObjectStore::new(dir.path().join("objects"));
        fill(&tasks, &store, "gone", JobState::Succeeded).await;
        fill(&tasks, &store, "gone2", JobState::Succeeded).await;
        fill(&tasks, &store, "kept", JobState::Failed).await;

        let deleted = delete_job_state(&tasks, &store, "gone").await.unwrap();
        assert_eq!(
            deleted,
            DeletedJob {
                had_status: true,
                objects: 2
            }
        );
        assert_gone(&tasks, &store, "gone").await;
        assert!(!dir.path().join("tasks").join("gone").exists());
        assert!(!dir.path().join("objects/jobs/gone").exists());
        assert!(!dir.path().join("objects/partials/gone").exists());
        // A job whose id starts with the deleted one's is another job.
        assert_whole(&tasks, &store, "gone2").await;
        let listed = store.list("jobs/gon", None).await.unwrap().items;
        let keys: Vec<_> = listed.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["jobs/gone2/outcome.json"]);
        assert_whole(&tasks, &store, "kept").await;
        let hidden: Vec<_> = std::fs::read_dir(dir.path().join("tasks"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "{hidden:?}");

        // Again: nothing left to delete, which is not an error.
        assert_eq!(
            delete_job_state(&tasks, &store, "gone").await.unwrap(),
            DeletedJob::default()
        );
        // New state of the other jobs can still be written.
        store
            .put(&partials::object_key("kept", 0, 1, "m"), vec![1])
            .await
            .unwrap();
        tasks.put_row(&row("gone2", 5)).await.unwrap();
    }

    #[tokio::test]
    async fn deleting_in_memory_removes_one_job() {
        let tasks = MemoryTaskTable::default();
        let store = MemoryObjectStore::default();
        fill(&tasks, &store, "a", JobState::TimedOut).await;
        fill(&tasks, &store, "b", JobState::Succeeded).await;
        delete_job_state(&tasks, &store, "a").await.unwrap();
        assert_gone(&tasks, &store, "a").await;
        assert_whole(&tasks, &store, "b").await;
    }

    #[tokio::test]
    async fn a_running_job_is_not_deleted_until_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = DiskTaskTable::new(dir.path().join("tasks"));
        let store = DiskObjectStore::new(dir.path().join("objects"));
        fill(&tasks, &store, "live", JobState::Running).await;
        let err = delete_job_state(&tasks, &store, "live").await.unwrap_err();
        assert!(
            matches!(&err, BurstError::JobNotEnded { job_id, state } if job_id == "live" && state == "running"),
            "{err}"
        );
        assert_eq!(err.error_name(), "Burst.JobNotEnded");
        assert_whole(&tasks, &store, "live").await;

        assert!(abandon_job(&tasks, "live", "the server stopped")
            .await
            .unwrap());
        let failed = tasks.get_status("live").await.unwrap().unwrap();
        assert_eq!(failed.state, JobState::Failed);
        assert_eq!(failed.error.as_deref(), Some("the server stopped"));
        assert!(!abandon_job(&tasks, "live", "again").await.unwrap());
        assert!(!abandon_job(&tasks, "never", "x").await.unwrap());
        delete_job_state(&tasks, &store, "live").await.unwrap();
        assert_gone(&tasks, &store, "live").await;
    }

    #[tokio::test]
    async fn ids_naming_other_jobs_are_refused() {
        let tasks = MemoryTaskTable::default();
        let store = MemoryObjectStore::default();
        fill(&tasks, &store, "a", JobState::Succeeded).await;
        for bad in ["", "a/..", "x/y"] {
            let err = delete_job_state(&tasks, &store, bad).await.unwrap_err();
            assert!(err.to_string().contains("job id"), "{err}");
        }
        assert_whole(&tasks, &store, "a").await;
    }

    #[tokio::test]
    async fn backends_without_deletion_are_named() {
        /// A table that keeps the default `delete_job`.
        struct NoDelete(MemoryTaskTable);
        #[async_trait::async_trait]
        impl TaskTable for NoDelete {
            async fn put_row(
                &self,
                row: &BatchRow,
            ) -> Result<crate::traits::PutOutcome, BackendError> {
                self.0.put_row(row).await
            }
            async fn count_rows(&self, job_id: &str) -> Result<u64, BackendError> {
                self.0.count_rows(job_id).await
            }
            async fn read_rows(
                &self,
                job_id: &str,
                token: Option<&str>,
            ) -> Result<crate::traits::Page<BatchRow>, BackendError> {
                self.0.read_rows(job_id, token).await
            }
            async fn completed_batches(
                &self,
                job_id: &str,
                token: Option<&str>,
            ) -> Result<crate::traits::Page<crate::job::CompletedBatch>, BackendError> {
                self.0.completed_batches(job_id, token).await
            }
            async fn record_attempt(&self, record: &AttemptRecord) -> Result<(), BackendError> {
                self.0.record_attempt(record).await
            }
            async fn read_attempts(
                &self,
                job_id: &str,
                token: Option<&str>,
            ) -> Result<crate::traits::Page<AttemptRecord>, BackendError> {
                self.0.read_attempts(job_id, token).await
            }
            async fn put_status(&self, status: &JobStatus) -> Result<(), BackendError> {
                self.0.put_status(status).await
            }
            async fn get_status(&self, job_id: &str) -> Result<Option<JobStatus>, BackendError> {
                self.0.get_status(job_id).await
            }
        }
        let tasks = NoDelete(MemoryTaskTable::default());
        let store = MemoryObjectStore::default();
        fill(&tasks, &store, "a", JobState::Succeeded).await;
        let err = delete_job_state(&tasks, &store, "a").await.unwrap_err();
        assert!(err.to_string().contains("cannot delete jobs"), "{err}");
        assert!(tasks.get_status("a").await.unwrap().is_some());
    }
}
