//! In-memory task table and object store (lost when the process ends).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Mutex;

use async_trait::async_trait;

use super::paginate;
use crate::error::BackendError;
use crate::job::{AttemptRecord, BatchRow, CompletedBatch, JobStatus};
use crate::traits::{ObjectInfo, ObjectStore, Page, PutOutcome, TaskTable};

#[derive(Default)]
struct Tables {
    rows: HashMap<String, BTreeMap<u64, BatchRow>>,
    attempts: HashMap<String, Vec<AttemptRecord>>,
    statuses: HashMap<String, JobStatus>,
}

/// A task table held in memory.
#[derive(Default)]
pub struct MemoryTaskTable {
    tables: Mutex<Tables>,
}

impl MemoryTaskTable {
    fn with<T>(&self, f: impl FnOnce(&mut Tables) -> T) -> T {
        f(&mut self.tables.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl TaskTable for MemoryTaskTable {
    async fn put_row(&self, row: &BatchRow) -> Result<PutOutcome, BackendError> {
        Ok(self.with(|t| {
            let rows = t.rows.entry(row.job_id.clone()).or_default();
            match rows.entry(row.batch_id) {
                std::collections::btree_map::Entry::Occupied(_) => PutOutcome::AlreadyPresent,
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(row.clone());
                    PutOutcome::Inserted
                }
            }
        }))
    }

    async fn count_rows(&self, job_id: &str) -> Result<u64, BackendError> {
        Ok(self.with(|t| t.rows.get(job_id).map_or(0, |r| r.len() as u64)))
    }

    async fn read_rows(
        &self,
        job_id: &str,
        token: Option<&str>,
    ) -> Result<Page<BatchRow>, BackendError> {
        let rows: Vec<BatchRow> = self.with(|t| {
            t.rows
                .get(job_id)
                .map(|r| r.values().cloned().collect())
                .unwrap_or_default()
        });
        paginate(rows, token)
    }

    async fn completed_batches(
        &self,
        job_id: &str,
        token: Option<&str>,
    ) -> Result<Page<CompletedBatch>, BackendError> {
        let done: Vec<CompletedBatch> = self.with(|t| {
            t.rows
                .get(job_id)
                .map(|r| {
                    r.values()
                        .map(|row| CompletedBatch {
                            batch_id: row.batch_id,
                            duration_secs: row.duration_secs(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
        paginate(done, token)
    }

    async fn record_attempt(&self, record: &AttemptRecord) -> Result<(), BackendError> {
        self.with(|t| {
            t.attempts
                .entry(record.job_id.clone())
                .or_default()
                .push(record.clone())
        });
        Ok(())
    }

    async fn read_attempts(
        &self,
        job_id: &str,
        token: Option<&str>,
    ) -> Result<Page<AttemptRecord>, BackendError> {
        let records = self.with(|t| t.attempts.get(job_id).cloned().unwrap_or_default());
        paginate(records, token)
    }

    async fn put_status(&self, status: &JobStatus) -> Result<(), BackendError> {
        self.with(|t| t.statuses.insert(status.job_id.clone(), status.clone()));
        Ok(())
    }

    async fn get_status(&self, job_id: &str) -> Result<Option<JobStatus>, BackendError> {
        Ok(self.with(|t| t.statuses.get(job_id).cloned()))
    }

    async fn delete_job(&self, job_id: &str) -> Result<(), BackendError> {
        self.with(|t| {
            t.rows.remove(job_id);
            t.attempts.remove(job_id);
            t.statuses.remove(job_id);
        });
        Ok(())
    }
}

/// An object store held in memory.
#[derive(Default)]
pub struct MemoryObjectStore {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryObjectStore {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> T) -> T {
        f(&mut self.objects.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Removes an object; whether it was there.
    pub fn delete(&self, key: &str) -> bool {
        self.with(|objects| objects.remove(key).is_some())
    }
}

#[async_trait]
impl ObjectStore for MemoryObjectStore {
    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        self.with(|o| o.get(key).cloned())
            .ok_or_else(|| BackendError::NotFound(format!("object {key}")))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, BackendError> {
        self.with(|o| o.get(key).map(|bytes| super::slice_range(bytes, range)))
            .ok_or_else(|| BackendError::NotFound(format!("object {key}")))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackendError> {
        super::check_key(key)?;
        self.with(|o| o.insert(key.to_string(), bytes));
        Ok(())
    }

    async fn delete_object(&self, key: &str) -> Result<(), BackendError> {
        self.delete(key);
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<PutOutcome, BackendError> {
        super::check_key(key)?;
        Ok(self.with(|o| match o.entry(key.to_string()) {
            std::collections::btree_map::Entry::Occupied(_) => PutOutcome::AlreadyPresent,
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(bytes);
                PutOutcome::Inserted
            }
        }))
    }

    async fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
    ) -> Result<Page<ObjectInfo>, BackendError> {
        let infos: Vec<ObjectInfo> = self.with(|o| {
            o.range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| ObjectInfo {
                    key: k.clone(),
                    size: v.len() as u64,
                })
                .collect()
        });
        paginate(infos, token)
    }
}
