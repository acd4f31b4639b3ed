//! Durable storage of searches under a data directory:
//!
//! ```text
//! <data>/searches/<id>/search.json    the SearchRecord (status, params, ...)
//! <data>/searches/<id>/mask-<n>.<ext> the uploaded or referenced mask images
//! <data>/searches/<id>/results.json   the SearchOutcome, once done
//! <data>/cache/                        thumbnails (safe to delete)
//! ```
//!
//! Every file is written to a temporary name and renamed into place, and a new
//! search directory is filled before it is renamed into `searches/`, so a
//! crash never leaves a half-written record behind.

use crate::model::{SearchOutcome, SearchRecord};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
use std::path::{Path, PathBuf};

const RECORD: &str = "search.json";
const RESULTS: &str = "results.json";

/// The on-disk store of searches.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under `data_dir`.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let store = Self {
            root: data_dir.to_path_buf(),
        };
        std::fs::create_dir_all(store.searches_dir())?;
        std::fs::create_dir_all(store.cache_dir())?;
        Ok(store)
    }

    fn searches_dir(&self) -> PathBuf {
        self.root.join("searches")
    }

    /// The directory for derived files that may be rebuilt (thumbnails).
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    fn search_dir(&self, id: &str) -> PathBuf {
        self.searches_dir().join(id)
    }

    /// The path of a mask file of search `id`.
    pub fn mask_path(&self, id: &str, file: &str) -> PathBuf {
        self.search_dir(id).join(file)
    }

    /// Stores a new search: its mask files, then its record, atomically.
    pub fn create(&self, record: &SearchRecord, masks: &[(String, Vec<u8>)]) -> io::Result<()> {
        let staging = self.searches_dir().join(format!(".new-{}", record.id));
        std::fs::create_dir_all(&staging)?;
        for (file, bytes) in masks {
            std::fs::write(staging.join(file), bytes)?;
        }
        write_json(&staging.join(RECORD), record)?;
        std::fs::rename(&staging, self.search_dir(&record.id))
    }

    /// Replaces the record of an existing search.
    pub fn save(&self, record: &SearchRecord) -> io::Result<()> {
        write_json(&self.search_dir(&record.id).join(RECORD), record)
    }

    /// Stores the results of search `id`.
    pub fn save_results(&self, id: &str, outcome: &SearchOutcome) -> io::Result<()> {
        write_json(&self.search_dir(id).join(RESULTS), outcome)
    }

    /// Reads the results of search `id`.
    pub fn load_results(&self, id: &str) -> io::Result<SearchOutcome> {
        read_json(&self.search_dir(id).join(RESULTS))
    }

    /// Reads every stored search. Unreadable records are logged and skipped;
    /// leftovers of interrupted creations are removed.
    pub fn load_all(&self) -> io::Result<Vec<SearchRecord>> {
        let mut records = Vec::new();
        for entry in std::fs::read_dir(self.searches_dir())? {
            let path = entry?.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".new-"))
            {
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

/// Writes `value` as JSON to a temporary file next to `path`, then renames it.
fn write_json(path: &Path, value: &impl Serialize) -> io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(value)?)?;
    std::fs::rename(&tmp, path)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<T> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a valid record: {e}", path.display()),
        )
    })
}
