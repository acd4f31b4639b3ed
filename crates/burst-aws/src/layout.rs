//! The load-spreading layout of an item library in an object store (as NeuronBridge's):
//!
//! - items under numbered prefixes, `<prefix>/<NN>/<relative path>` with `NN` = `00`..`99`
//!   chosen by a stable hash of the relative path, so requests spread over S3 partitions;
//! - the key list (a JSON array of object keys) in a shuffled order, so that a batch of
//!   consecutive items mixes prefixes, written as [`KEY_LIST_COPIES`] identical copies at
//!   `<prefix>/KEYS/<0..99>/keys_denormalized.json`; a worker reads one copy picked at random, so
//!   thousands of workers starting at once spread their reads of the list over 100 prefixes.
//!   Item `i` of a job is entry `i` of the list: every copy must hold the same order. (Workers
//!   read it with `cdsearch::job::StoreResolver`.)
//!
//! Uploads are resumable: objects already present with the same size are skipped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use burst::{collect_pages, BackendError, ObjectInfo, ObjectStore};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tokio::sync::Semaphore;

/// Number of shuffled key-list copies.
pub const KEY_LIST_COPIES: usize = 100;
/// Number of numbered item prefixes.
pub const ITEM_PREFIXES: u64 = 100;
/// File name of each key-list copy.
pub const KEY_LIST_FILE: &str = "keys_denormalized.json";

/// Object key of key-list copy `copy` under `prefix`.
pub fn key_list_key(prefix: &str, copy: usize) -> String {
    format!(
        "{}/KEYS/{copy}/{KEY_LIST_FILE}",
        prefix.trim_end_matches('/')
    )
}

/// FNV-1a hash: stable across runs and platforms (unlike std's hasher).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Object key of an item with relative path `relative` (`/`-separated) under `prefix`.
pub fn item_key(prefix: &str, relative: &str) -> String {
    format!(
        "{}/{:02}/{relative}",
        prefix.trim_end_matches('/'),
        fnv1a(relative) % ITEM_PREFIXES
    )
}

/// `keys` in a shuffled order, deterministic for a given `seed`.
pub fn shuffled(keys: &[String], seed: u64) -> Vec<String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut list = keys.to_vec();
    list.shuffle(&mut rng);
    list
}

/// A file to upload and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedUpload {
    /// The local file.
    pub path: PathBuf,
    /// The object key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadSummary {
    /// Items uploaded now.
    pub uploaded: u64,
    /// Items already present with the same size.
    pub skipped: u64,
    /// Key-list copies written.
    pub key_lists: u64,
}

/// Plans the upload of `files` (relative `/`-separated path → local path and size) under
/// `prefix`, sorted by key.
pub fn plan_upload(prefix: &str, files: Vec<(String, PathBuf, u64)>) -> Vec<PlannedUpload> {
    let mut planned: Vec<PlannedUpload> = files
        .into_iter()
        .map(|(relative, path, size)| PlannedUpload {
            key: item_key(prefix, &relative),
            path,
            size,
        })
        .collect();
    planned.sort_by(|a, b| a.key.cmp(&b.key));
    planned
}

/// Uploads a library: the planned items (at most `concurrency` at a time, skipping those already
/// present with the same size) and then the key-list copies. `progress` is called with the
/// number of items done so far (uploaded or skipped).
pub async fn upload_library(
    store: Arc<dyn ObjectStore>,
    prefix: &str,
    items: Vec<PlannedUpload>,
    concurrency: usize,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<UploadSummary, BackendError> {
    let existing = list_all(
        store.as_ref(),
        &format!("{}/", prefix.trim_end_matches('/')),
    )
    .await?;
    let present: std::collections::HashMap<String, u64> =
        existing.into_iter().map(|o| (o.key, o.size)).collect();
    let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let done = Arc::new(AtomicU64::new(0));
    let uploaded = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for item in items {
        let already = present.get(&item.key) == Some(&item.size);
        let (store, semaphore, done, uploaded, progress) = (
            store.clone(),
            semaphore.clone(),
            done.clone(),
            uploaded.clone(),
            progress.clone(),
        );
        tasks.spawn(async move {
            if !already {
                let _permit = semaphore.acquire_owned().await.map_err(|e| {
                    BackendError::Other(format!("upload of {} cancelled: {e}", item.key))
                })?;
                let bytes = tokio::fs::read(&item.path)
                    .await
                    .map_err(|e| BackendError::io(item.path.display(), e))?;
                store.put(&item.key, bytes).await?;
                uploaded.fetch_add(1, Ordering::Relaxed);
            }
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            Ok::<(), BackendError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| BackendError::Other(format!("upload task failed: {e}")))??;
    }
    let list = shuffled(&keys, fnv1a(prefix));
    let json = serde_json::to_vec(&list)
        .map_err(|e| BackendError::Invalid(format!("key list of {prefix}: {e}")))?;
    for copy in 0..KEY_LIST_COPIES {
        store.put(&key_list_key(prefix, copy), json.clone()).await?;
    }
    let uploaded = uploaded.load(Ordering::Relaxed);
    Ok(UploadSummary {
        uploaded,
        skipped: keys.len() as u64 - uploaded,
        key_lists: KEY_LIST_COPIES as u64,
    })
}

/// Every object under `prefix`.
pub async fn list_all(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<Vec<ObjectInfo>, BackendError> {
    collect_pages(|token| async move { store.list(prefix, token.as_deref()).await }).await
}

/// Files under `dir` (recursively) whose extension is one of `extensions` (lower case, no dot),
/// as (relative `/`-separated path, path, size), sorted by relative path.
pub fn library_files(
    dir: &Path,
    extensions: &[&str],
) -> Result<Vec<(String, PathBuf, u64)>, BackendError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries =
            std::fs::read_dir(&current).map_err(|e| BackendError::io(current.display(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| BackendError::io(current.display(), e))?;
            let path = entry.path();
            let meta = entry
                .metadata()
                .map_err(|e| BackendError::io(path.display(), e))?;
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            let matches = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e.to_ascii_lowercase().as_str()));
            if matches {
                let relative = path
                    .strip_prefix(dir)
                    .map_err(|e| BackendError::Invalid(format!("{}: {e}", path.display())))?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push((relative, path, meta.len()));
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_neuronbridge_layout() {
        assert_eq!(
            key_list_key("JRC2018_Unisex/FlyEM_Hemibrain/searchable_neurons/", 42),
            "JRC2018_Unisex/FlyEM_Hemibrain/searchable_neurons/KEYS/42/keys_denormalized.json"
        );
        let key = item_key("lib", "sub/a.png");
        assert_eq!(
            key,
            format!("lib/{:02}/sub/a.png", fnv1a("sub/a.png") % 100)
        );
        assert_eq!(
            item_key("lib/", "sub/a.png"),
            key,
            "stable and slash-insensitive"
        );
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_shuffle_is_a_reproducible_permutation() {
        let keys: Vec<String> = (0..50).map(|i| format!("k{i:02}")).collect();
        let list = shuffled(&keys, 7);
        assert_eq!(list, shuffled(&keys, 7));
        assert_ne!(list, keys);
        assert_ne!(list, shuffled(&keys, 8));
        let mut sorted = list.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
    }
}
