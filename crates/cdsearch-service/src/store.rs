//! Durable storage of searches under a data directory:
//!
//! ```text
//! <data>/searches/<id>/search.json    the SearchRecord (status, params, ...)
//! <data>/searches/<id>/mask-<n>.<ext> the uploaded or referenced mask images
//! <data>/searches/<id>/results.json   the SearchOutcome, once done
//! <data>/uploads/                      uploads being received (cleared at start)
//! <data>/cache/                        thumbnails (safe to delete)
//! ```
//!
//! Every file is written to a temporary name, flushed to disk (fsync) and
//! renamed into place, and its directory is flushed too; a new search
//! directory is filled and flushed before it is renamed into `searches/`.
//! So a crash never leaves a half-written record behind, and a search whose
//! submission was acknowledged is on disk.

use crate::model::{SearchOutcome, SearchRecord};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const RECORD: &str = "search.json";
const RESULTS: &str = "results.json";
/// Prefix of a search directory being created.
const NEW: &str = ".new-";
/// Prefix of a search directory being deleted.
const DELETED: &str = ".del-";

/// The bytes of a mask to store with a new search.
#[derive(Debug)]
pub enum MaskData {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// An upload received into the store's upload directory: moved into the
    /// search's directory (removed if the search is not stored).
    Staged(StagedFile),
    /// A file elsewhere (a stored mask): copied.
    File(PathBuf),
}

impl MaskData {
    /// The mask's bytes (read from disk for files).
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self {
            Self::Bytes(bytes) => Ok(bytes),
            Self::Staged(staged) => std::fs::read(&staged.path),
            Self::File(path) => std::fs::read(path),
        }
    }

    /// A copy of the mask's bytes (read from disk for files).
    pub fn read(&self) -> io::Result<Vec<u8>> {
        match self {
            Self::Bytes(bytes) => Ok(bytes.clone()),
            Self::Staged(StagedFile { path }) | Self::File(path) => std::fs::read(path),
        }
    }

    /// Its size in bytes.
    pub fn len(&self) -> io::Result<u64> {
        match self {
            Self::Bytes(bytes) => Ok(bytes.len() as u64),
            Self::Staged(StagedFile { path }) | Self::File(path) => {
                Ok(std::fs::metadata(path)?.len())
            }
        }
    }

    /// The bytes storing the mask adds to the data directory: none for a
    /// staged upload (already in the directory, and moved), its length for
    /// bytes in memory and files elsewhere (written or copied).
    pub fn added_bytes(&self) -> io::Result<u64> {
        match self {
            Self::Staged(_) => Ok(0),
            Self::Bytes(_) | Self::File(_) => self.len(),
        }
    }

    /// Whether it holds no byte.
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// A file in the upload directory, removed when dropped unless it was moved.
#[derive(Debug)]
pub struct StagedFile {
    /// Where it is.
    pub path: PathBuf,
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        // Gone already when it was moved into a search.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The on-disk store of searches.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under `data_dir`; uploads an
    /// earlier server was receiving when it stopped are removed.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let store = Self {
            root: data_dir.to_path_buf(),
        };
        std::fs::create_dir_all(store.searches_dir())?;
        std::fs::create_dir_all(store.cache_dir())?;
        if store.uploads_dir().exists() {
            std::fs::remove_dir_all(store.uploads_dir())?;
        }
        std::fs::create_dir_all(store.uploads_dir())?;
        Ok(store)
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn searches_dir(&self) -> PathBuf {
        self.root.join("searches")
    }

    /// The directory for derived files that may be rebuilt (thumbnails).
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// The directory where uploads are received before their search is
    /// stored (on the same file system, so they are moved, not copied).
    pub fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    fn search_dir(&self, id: &str) -> PathBuf {
        self.searches_dir().join(id)
    }

    /// The path of a mask file of search `id`.
    pub fn mask_path(&self, id: &str, file: &str) -> PathBuf {
        self.search_dir(id).join(file)
    }

    /// Stores a new search: its mask files, then its record, atomically and
    /// durably (everything is on disk when this returns).
    pub fn create(&self, record: &SearchRecord, masks: Vec<(String, MaskData)>) -> io::Result<()> {
        let staging = self.searches_dir().join(format!("{NEW}{}", record.id));
        std::fs::create_dir_all(&staging)?;
        for (file, data) in masks {
            let target = staging.join(file);
            match data {
                MaskData::Bytes(bytes) => write_synced(&target, &bytes)?,
                MaskData::Staged(staged) => {
                    File::open(&staged.path)?.sync_all()?;
                    std::fs::rename(&staged.path, &target)?;
                }
                MaskData::File(path) => {
                    std::fs::copy(path, &target)?;
                    File::open(&target)?.sync_all()?;
                }
            }
        }
        write_json(&staging.join(RECORD), record)?;
        sync_dir(&staging)?;
        std::fs::rename(&staging, self.search_dir(&record.id))?;
        sync_dir(&self.searches_dir())
    }

    /// Replaces the record of an existing search (durably).
    pub fn save(&self, record: &SearchRecord) -> io::Result<()> {
        write_json(&self.search_dir(&record.id).join(RECORD), record)
    }

    /// Stores the results of search `id` (durably).
    pub fn save_results(&self, id: &str, outcome: &SearchOutcome) -> io::Result<()> {
        write_json(&self.search_dir(id).join(RESULTS), outcome)
    }

    /// Reads the results of search `id`.
    pub fn load_results(&self, id: &str) -> io::Result<SearchOutcome> {
        read_json(&self.search_dir(id).join(RESULTS))
    }

    /// Removes search `id` and its files: its directory is first renamed
    /// aside (so a crash midway leaves no half search, and the next start
    /// finishes the removal), then deleted.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        let doomed = self.searches_dir().join(format!("{DELETED}{id}"));
        match std::fs::rename(self.search_dir(id), &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        sync_dir(&self.searches_dir())?;
        std::fs::remove_dir_all(&doomed)
    }

    /// Bytes of all files under the data directory.
    pub fn usage(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return 0;
            };
            entries
                .flatten()
                .map(|entry| match entry.file_type() {
                    Ok(t) if t.is_dir() => walk(&entry.path()),
                    Ok(t) if t.is_file() => entry.metadata().map_or(0, |m| m.len()),
                    _ => 0,
                })
                .sum()
        }
        walk(&self.root)
    }

    /// Reads every stored search. Unreadable records are logged and skipped;
    /// leftovers of interrupted creations and deletions are removed.
    pub fn load_all(&self) -> io::Result<Vec<SearchRecord>> {
        let mut records = Vec::new();
        for entry in std::fs::read_dir(self.searches_dir())? {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with(NEW) || n.starts_with(DELETED)
            }) {
                std::fs::remove_dir_all(&path)?;
                continue;
            }
            match read_json::<SearchRecord>(&path.join(RECORD)) {
                Ok(record) => records.push(record),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping unreadable search record")
                }
            }
        }
        records.sort_by(|a, b| {
            a.created_ms
                .cmp(&b.created_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(records)
    }
}

/// Writes `bytes` to `path` and flushes the file to disk.
pub fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Flushes a directory's entries (new, renamed or removed files) to disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `value` as JSON to a temporary file next to `path`, flushes it,
/// renames it into place and flushes the directory.
fn write_json(path: &Path, value: &impl Serialize) -> io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    write_synced(&tmp, &serde_json::to_vec(value)?)?;
    std::fs::rename(&tmp, path)?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Reads a JSON file; the error names no path (it may reach a client).
fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<T> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a valid stored record: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_is_finished_by_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let half = dir.path().join("searches").join(format!("{DELETED}x"));
        std::fs::create_dir_all(&half).unwrap();
        std::fs::write(half.join("mask-0.png"), b"x").unwrap();
        std::fs::write(dir.path().join("uploads").join("u.part"), b"x").unwrap();
        let store = Store::open(store.root()).unwrap();
        assert!(store.load_all().unwrap().is_empty());
        assert!(!half.exists());
        assert_eq!(std::fs::read_dir(store.uploads_dir()).unwrap().count(), 0);
        assert_eq!(store.usage(), 0);
    }
}
