//! Uploading a library in the layout of [`super::layout`]: a [`LibraryPlan`] of the files and
//! items, put in parallel by [`upload_library`].
//!
//! A library may also hold files that are not items (e.g. images derived from an item, stored
//! next to it): they are uploaded with the items but left out of the key list.
//!
//! Uploads are resumable: objects already present with the same size are skipped, and the key
//! lists are rewritten only when their content changed. They are written last, so a library
//! shows up in listings only once all its files are in place.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use burst::{collect_pages, BackendError, ObjectInfo, ObjectStore};
use tokio::sync::Semaphore;

use super::layout::{
    folder, item_key_among, key_list_key, shuffled, ITEM_PREFIXES, KEY_LIST_COPIES,
    MAX_ITEM_PREFIXES,
};
use crate::hash::fnv1a;

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

/// Everything one library upload writes: its files, and the items listed in its key list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryPlan {
    /// The library's prefix (folder) in the bucket.
    pub prefix: String,
    /// Number of numbered prefixes the items are spread over.
    pub item_prefixes: u64,
    /// Files to upload: the items, and any files stored alongside them.
    pub files: Vec<PlannedUpload>,
    /// Keys of the items, in the order they were found (the key list shuffles them).
    pub items: Vec<String>,
}

impl LibraryPlan {
    /// An empty plan for the library at `prefix`.
    pub fn new(prefix: &str) -> Self {
        LibraryPlan {
            prefix: prefix.trim_end_matches('/').to_owned(),
            item_prefixes: ITEM_PREFIXES,
            files: Vec::new(),
            items: Vec::new(),
        }
    }

    /// Spreads the items over `prefixes` numbered prefixes instead of [`ITEM_PREFIXES`]
    /// (clamped to 1..=[`MAX_ITEM_PREFIXES`]); call before adding items.
    pub fn with_item_prefixes(mut self, prefixes: u64) -> Self {
        self.item_prefixes = prefixes.clamp(1, MAX_ITEM_PREFIXES);
        self
    }

    /// Adds an item with relative path `relative` (`/`-separated); returns its object key.
    pub fn add_item(&mut self, relative: &str, path: PathBuf, size: u64) -> String {
        let key = item_key_among(&self.prefix, relative, self.item_prefixes);
        self.files.push(PlannedUpload {
            path,
            key: key.clone(),
            size,
        });
        self.items.push(key.clone());
        key
    }

    /// Adds a file that is stored at `key` but is not an item (not in the key list).
    pub fn add_companion(&mut self, key: String, path: PathBuf, size: u64) {
        self.files.push(PlannedUpload { path, key, size });
    }

    /// The key list: the item keys shuffled with a seed derived from the prefix, so the same
    /// library always gets the same list (and a resumed upload finds it unchanged).
    pub fn key_list(&self) -> Vec<String> {
        shuffled(&self.items, fnv1a(self.prefix.as_bytes()))
    }

    /// Number of steps [`upload_library`] reports progress for: files, then key-list copies.
    pub fn steps(&self) -> u64 {
        (self.files.len() + KEY_LIST_COPIES) as u64
    }
}

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadSummary {
    /// Files uploaded now.
    pub uploaded: u64,
    /// Files already present with the same size.
    pub skipped: u64,
    /// Key-list copies written now (0 when all were already there with this content).
    pub key_lists: u64,
}

/// Where the bytes of one put come from.
enum Source {
    File(PathBuf),
    Bytes(Arc<Vec<u8>>),
}

/// Puts `objects` into `store`, at most `concurrency` at a time; calls `progress` with the
/// running count `done_before + n` after each. Returns how many were put.
async fn put_all(
    store: &Arc<dyn ObjectStore>,
    objects: Vec<(String, Source)>,
    concurrency: usize,
    done_before: u64,
    progress: &Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<u64, BackendError> {
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let done = Arc::new(AtomicU64::new(done_before));
    let mut tasks = tokio::task::JoinSet::new();
    let count = objects.len() as u64;
    for (key, source) in objects {
        let (store, semaphore, done, progress) = (
            store.clone(),
            semaphore.clone(),
            done.clone(),
            progress.clone(),
        );
        tasks.spawn(async move {
            let _permit = semaphore
                .acquire_owned()
                .await
                .map_err(|e| BackendError::Other(format!("upload of {key} cancelled: {e}")))?;
            let bytes = match source {
                Source::File(path) => tokio::fs::read(&path)
                    .await
                    .map_err(|e| BackendError::io(path.display(), e))?,
                Source::Bytes(bytes) => bytes.as_ref().clone(),
            };
            store.put(&key, bytes).await?;
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            Ok::<(), BackendError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| BackendError::Other(format!("upload task failed: {e}")))??;
    }
    Ok(count)
}

/// Uploads a library: the planned files (at most `concurrency` at a time, skipping those
/// already present with the same size), then the key-list copies (skipped when every copy is
/// present and copy 0 holds this very list). `progress` is called with the number of steps
/// done so far, out of [`LibraryPlan::steps`].
pub async fn upload_library(
    store: Arc<dyn ObjectStore>,
    plan: &LibraryPlan,
    concurrency: usize,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<UploadSummary, BackendError> {
    let present: HashMap<String, u64> = list_all(store.as_ref(), &folder(&plan.prefix))
        .await?
        .into_iter()
        .map(|o| (o.key, o.size))
        .collect();
    let (kept, missing): (Vec<&PlannedUpload>, Vec<&PlannedUpload>) = plan
        .files
        .iter()
        .partition(|f| present.get(&f.key) == Some(&f.size));
    let skipped = kept.len() as u64;
    progress(skipped);
    let files = missing
        .into_iter()
        .map(|f| (f.key.clone(), Source::File(f.path.clone())))
        .collect();
    let uploaded = put_all(&store, files, concurrency, skipped, &progress).await?;

    let list = serde_json::to_vec(&plan.key_list())
        .map_err(|e| BackendError::Invalid(format!("key list of {}: {e}", plan.prefix)))?;
    let copies: Vec<String> = (0..KEY_LIST_COPIES)
        .map(|copy| key_list_key(&plan.prefix, copy))
        .collect();
    let all_sized = copies
        .iter()
        .all(|key| present.get(key) == Some(&(list.len() as u64)));
    let unchanged = all_sized && store.get(&copies[0]).await.ok().as_ref() == Some(&list);
    let done = plan.files.len() as u64;
    let key_lists = if unchanged {
        progress(done + KEY_LIST_COPIES as u64);
        0
    } else {
        let list = Arc::new(list);
        let puts = copies
            .into_iter()
            .map(|key| (key, Source::Bytes(list.clone())))
            .collect();
        put_all(&store, puts, concurrency, done, &progress).await?
    };
    Ok(UploadSummary {
        uploaded,
        skipped,
        key_lists,
    })
}

/// Every object under `prefix`.
pub async fn list_all(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<Vec<ObjectInfo>, BackendError> {
    collect_pages(|token| async move { store.list(prefix, token.as_deref()).await }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_lists_items_but_not_their_companions() {
        let mut plan = LibraryPlan::new("lib/");
        let a = plan.add_item("a.png", "/d/a.png".into(), 10);
        plan.add_companion(format!("{a}.extra"), "/d/a.extra".into(), 3);
        let b = plan.add_item("b.png", "/d/b.png".into(), 20);
        assert_eq!(plan.prefix, "lib");
        assert_eq!(plan.files.len(), 3);
        assert_eq!(plan.items, vec![a.clone(), b.clone()]);
        assert_eq!(plan.steps(), 3 + KEY_LIST_COPIES as u64);
        let mut list = plan.key_list();
        assert_eq!(list, plan.key_list(), "the same list every time");
        list.sort();
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(list, expected);
    }
}
