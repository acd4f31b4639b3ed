//! On-disk task table and object store: plain JSON files in a directory per job, so results
//! and statuses survive a restart and another process can re-attach.
//!
//! Layout: `<root>/<jobId>/rows/<batchId>.json` (written once: temporary file + hard link,
//! so the first writer wins atomically), `<root>/<jobId>/attempts/*.json`,
//! `<root>/<jobId>/status.json`; objects under `<root>/<key>`.

use std::io::ErrorKind;
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{check_key, paginate};
use crate::error::BackendError;
use crate::job::{AttemptRecord, BatchRow, CompletedBatch, JobStatus};
use crate::traits::{ObjectInfo, ObjectStore, Page, PutOutcome, TaskTable};

fn encode(what: &Path, value: &impl Serialize) -> Result<Vec<u8>, BackendError> {
    serde_json::to_vec(value).map_err(|e| BackendError::Invalid(format!("{}: {e}", what.display())))
}

async fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, BackendError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| BackendError::io(path.display(), e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| BackendError::Other(format!("{} is not valid: {e}", path.display())))
}

/// How many times [`write_temp`] creates a directory that a concurrent delete removed.
const CREATE_TRIES: usize = 3;

/// Writes `bytes` to a fresh temporary file next to `path`.
///
/// The directory is created first; since [`DiskObjectStore::delete_object`] removes
/// directories it leaves empty, one may vanish between its creation and the write, which is
/// then tried again.
async fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf, BackendError> {
    let dir = path
        .parent()
        .expect("paths built here always have a parent");
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let mut tries = 0;
    loop {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| BackendError::io(dir.display(), e))?;
        tries += 1;
        match tokio::fs::write(&tmp, bytes).await {
            Ok(()) => return Ok(tmp),
            Err(e) if e.kind() == ErrorKind::NotFound && tries < CREATE_TRIES => {}
            Err(e) => return Err(BackendError::io(tmp.display(), e)),
        }
    }
}

/// Atomically creates or replaces `path`.
async fn replace(path: &Path, bytes: &[u8]) -> Result<(), BackendError> {
    let tmp = write_temp(path, bytes).await?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| BackendError::io(path.display(), e))
}

/// Creates `path` with `bytes` unless it exists, atomically: a complete temporary file is
/// hard-linked to `path` (which fails if `path` exists), so the first writer wins and readers
/// never see a partial file.
async fn create_once(path: &Path, bytes: &[u8]) -> Result<PutOutcome, BackendError> {
    let tmp = write_temp(path, bytes).await?;
    let linked = tokio::fs::hard_link(&tmp, path).await;
    let _ = tokio::fs::remove_file(&tmp).await;
    match linked {
        Ok(()) => Ok(PutOutcome::Inserted),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(PutOutcome::AlreadyPresent),
        Err(e) => Err(BackendError::io(path.display(), e)),
    }
}

/// Sorted names of the `.json` files of a directory (empty if it does not exist).
async fn json_files(dir: &Path) -> Result<Vec<PathBuf>, BackendError> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackendError::io(dir.display(), e)),
    };
    let mut files = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| BackendError::io(dir.display(), e))?
    {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

async fn read_all<T: DeserializeOwned>(files: &[PathBuf]) -> Result<Vec<T>, BackendError> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        out.push(read_json(f).await?);
    }
    Ok(out)
}

/// A task table in a directory.
pub struct DiskTaskTable {
    root: PathBuf,
}

impl DiskTaskTable {
    /// A table stored under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DiskTaskTable { root: root.into() }
    }

    fn job_dir(&self, job_id: &str) -> Result<PathBuf, BackendError> {
        if job_id.is_empty() || job_id.contains(['/', '\\']) || job_id.starts_with('.') {
            return Err(BackendError::Invalid(format!(
                "job id {job_id:?} (expected a non-empty name without slashes or a leading dot)"
            )));
        }
        Ok(self.root.join(job_id))
    }

    async fn rows_of(
        &self,
        job_id: &str,
        token: Option<&str>,
    ) -> Result<Page<BatchRow>, BackendError> {
        let files = json_files(&self.job_dir(job_id)?.join("rows")).await?;
        let page = paginate(files, token)?;
        Ok(Page {
            items: read_all(&page.items).await?,
            next: page.next,
        })
    }
}

#[async_trait]
impl TaskTable for DiskTaskTable {
    async fn put_row(&self, row: &BatchRow) -> Result<PutOutcome, BackendError> {
        let path = self
            .job_dir(&row.job_id)?
            .join("rows")
            .join(format!("{:020}.json", row.batch_id));
        create_once(&path, &encode(&path, row)?).await
    }

    async fn count_rows(&self, job_id: &str) -> Result<u64, BackendError> {
        Ok(json_files(&self.job_dir(job_id)?.join("rows")).await?.len() as u64)
    }

    async fn read_rows(
        &self,
        job_id: &str,
        token: Option<&str>,
    ) -> Result<Page<BatchRow>, BackendError> {
        self.rows_of(job_id, token).await
    }

    async fn completed_batches(
        &self,
        job_id: &str,
        token: Option<&str>,
    ) -> Result<Page<CompletedBatch>, BackendError> {
        let page = self.rows_of(job_id, token).await?;
        let items = page
            .items
            .iter()
            .map(|row| CompletedBatch {
                batch_id: row.batch_id,
                duration_secs: row.duration_secs(),
            })
            .collect();
        Ok(Page {
            items,
            next: page.next,
        })
    }

    async fn record_attempt(&self, record: &AttemptRecord) -> Result<(), BackendError> {
        let name = format!(
            "{:020}-{:020}-{}.json",
            record.at_ms,
            record.batch_id,
            uuid::Uuid::new_v4()
        );
        let path = self.job_dir(&record.job_id)?.join("attempts").join(name);
        replace(&path, &encode(&path, record)?).await
    }

    async fn read_attempts(
        &self,
        job_id: &str,
        token: Option<&str>,
    ) -> Result<Page<AttemptRecord>, BackendError> {
        let files = json_files(&self.job_dir(job_id)?.join("attempts")).await?;
        let page = paginate(files, token)?;
        Ok(Page {
            items: read_all(&page.items).await?,
            next: page.next,
        })
    }

    async fn put_status(&self, status: &JobStatus) -> Result<(), BackendError> {
        let path = self.job_dir(&status.job_id)?.join("status.json");
        replace(&path, &encode(&path, status)?).await
    }

    async fn get_status(&self, job_id: &str) -> Result<Option<JobStatus>, BackendError> {
        match read_json(&self.job_dir(job_id)?.join("status.json")).await {
            Ok(status) => Ok(Some(status)),
            Err(BackendError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the job's directory: it is first renamed to a hidden name (which no job id can
    /// have), so that readers never see a half-deleted job, then deleted; a hidden directory
    /// left by a crash midway is deleted with the next job deleted.
    async fn delete_job(&self, job_id: &str) -> Result<(), BackendError> {
        let dir = self.job_dir(job_id)?;
        let doomed = self
            .root
            .join(format!(".deleted-{job_id}-{}", uuid::Uuid::new_v4()));
        match tokio::fs::rename(&dir, &doomed).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(BackendError::io(dir.display(), e)),
        }
        remove_deleted(&self.root).await
    }
}

/// Deletes the directories under `root` that [`DiskTaskTable::delete_job`] renamed aside.
async fn remove_deleted(root: &Path) -> Result<(), BackendError> {
    let mut entries = tokio::fs::read_dir(root)
        .await
        .map_err(|e| BackendError::io(root.display(), e))?;
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| BackendError::io(root.display(), e))?
    {
        if entry.file_name().to_string_lossy().starts_with(".deleted-") {
            let path = entry.path();
            match tokio::fs::remove_dir_all(&path).await {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(BackendError::io(path.display(), e))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// An object store in a directory (keys are relative paths).
pub struct DiskObjectStore {
    root: PathBuf,
}

impl DiskObjectStore {
    /// A store under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DiskObjectStore { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, BackendError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectInfo>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // No directory (or a file where a prefix names one): no key under it.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if !entry.file_name().to_string_lossy().starts_with(".tmp-") {
            let key = path
                .strip_prefix(root)
                .expect("walked from root")
                .to_string_lossy()
                .replace('\\', "/");
            out.push(ObjectInfo {
                key,
                size: meta.len(),
            });
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for DiskObjectStore {
    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        let path = self.path(key)?;
        tokio::fs::read(&path)
            .await
            .map_err(|e| BackendError::io(format!("object {key}"), e))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, BackendError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let path = self.path(key)?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| BackendError::io(format!("object {key}"), e))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| BackendError::io(format!("object {key}"), e))?
            .len();
        let (start, end) = (range.start.min(len), range.end.min(len));
        let mut buf = vec![0u8; end.saturating_sub(start) as usize];
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| BackendError::io(format!("object {key}"), e))?;
        file.read_exact(&mut buf)
            .await
            .map_err(|e| BackendError::io(format!("object {key}"), e))?;
        Ok(buf)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackendError> {
        replace(&self.path(key)?, &bytes).await
    }

    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<PutOutcome, BackendError> {
        create_once(&self.path(key)?, &bytes).await
    }

    /// Removes the object's file, then the directories above it that this left empty (up to
    /// the store's root), so that deleting all objects under a prefix leaves no directory.
    async fn delete_object(&self, key: &str) -> Result<(), BackendError> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(BackendError::io(format!("object {key}"), e))
            }
            _ => {}
        }
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != self.root) {
            // Fails, ending the walk, on the first directory that still holds something.
            if tokio::fs::remove_dir(d).await.is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
    ) -> Result<Page<ObjectInfo>, BackendError> {
        let root = self.root.clone();
        // Only the directory the prefix names can hold matching keys.
        let start = match prefix.rsplit_once('/') {
            Some((dir, _)) if check_key(dir).is_ok() => root.join(dir),
            _ => root.clone(),
        };
        let mut all = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk(&root, &start, &mut out).map(|()| out)
        })
        .await
        .map_err(|e| BackendError::Other(format!("listing task failed: {e}")))?
        .map_err(|e| BackendError::io(self.root.display(), e))?;
        all.retain(|o| o.key.starts_with(prefix));
        all.sort_by(|a, b| a.key.cmp(&b.key));
        paginate(all, token)
    }
}
