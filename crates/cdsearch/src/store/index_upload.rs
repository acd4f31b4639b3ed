//! Uploading a library as index shards ([`super::shards`]), from a
//! directory of images (coded on the way, in parallel) or from an index file
//! (its records copied as they are): both give the same shards, so searches
//! of either give the same results.
//!
//! Every target keeps its place: one that cannot be coded is stored as a
//! stand-in record saying why, and a search lists it as unreadable, as a
//! search of the directory does. So shard `s` always holds targets
//! `s*K .. (s+1)*K` of the source, and a resumed upload can tell from the
//! source alone (names and sizes, no coding) whether a shard already in the
//! bucket is current: its table of contents carries that fingerprint. A
//! shard is put before its table of contents, and the manifest last, so a
//! library is complete once its manifest is there.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use burst::{BackendError, ObjectStore};
use tokio::task::JoinSet;

use super::layout::folder;
use super::shards::{build_shard, manifest_key, IndexManifest, ShardToc};
use super::upload::list_all;
use crate::hash::fnv1a;
use crate::index::{Codec, IndexLibrary, Record};
use crate::library::LibraryEntry;

/// Where the targets of an index upload come from.
#[derive(Clone, Copy)]
pub enum IndexSource<'a> {
    /// Images, coded with this codec.
    Images(&'a [LibraryEntry], Codec),
    /// The records of an index file.
    Index(&'a IndexLibrary),
}

impl IndexSource<'_> {
    /// Number of targets.
    pub fn len(&self) -> usize {
        match self {
            IndexSource::Images(entries, _) => entries.len(),
            IndexSource::Index(index) => crate::search::TargetSource::len(*index),
        }
    }

    /// Whether there are no targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn codec(&self) -> u32 {
        match self {
            IndexSource::Images(_, codec) => codec.id(),
            IndexSource::Index(index) => index.codec(),
        }
    }

    /// The fingerprint of targets `range`: their names and sizes (file
    /// sizes of images; record lengths of an index).
    fn fingerprint(&self, range: Range<usize>) -> u64 {
        let mut text = String::new();
        for i in range {
            let (name, size) = match self {
                IndexSource::Images(entries, _) => {
                    let size = std::fs::metadata(&entries[i].path).map_or(0, |m| m.len());
                    (entries[i].name.as_str(), size)
                }
                IndexSource::Index(index) => {
                    let (name, size) = index.record_size(i);
                    (name, size)
                }
            };
            text.push_str(name);
            text.push('\0');
            text.push_str(&size.to_string());
            text.push('\0');
        }
        fnv1a(text.as_bytes())
    }

    /// The records of targets `range`, coded in parallel when they are images.
    fn records(&self, range: Range<usize>) -> Result<Vec<Record>, String> {
        use rayon::prelude::*;
        match self {
            IndexSource::Images(entries, codec) => Ok(entries[range]
                .par_iter()
                .map(|e| {
                    Record::code(&e.name, &e.path, *codec)
                        .unwrap_or_else(|err| Record::unreadable(&e.name, &err.to_string()))
                })
                .collect()),
            IndexSource::Index(index) => range
                .map(|i| {
                    index
                        .record(i)
                        .map_err(|e| format!("cannot read record {i} of the index: {e}"))
                })
                .collect(),
        }
    }
}

/// How an index upload lays the library out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexUploadOptions {
    /// The library's prefix in the bucket.
    pub prefix: String,
    /// Targets per shard.
    pub shard_targets: u64,
    /// Numbered prefixes the shards are spread over (those of the images too).
    pub item_prefixes: u64,
    /// Whether the images are (or will be) stored beside the index.
    pub images: bool,
    /// Shards uploaded at once (each is held in memory until it is put).
    pub concurrency: usize,
}

/// What an index upload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexUploadSummary {
    /// Shards put now.
    pub uploaded: u64,
    /// Shards already there and current.
    pub skipped: u64,
    /// Targets stored as unreadable stand-ins, with why.
    pub unreadable: Vec<(String, String)>,
    /// The manifest written (or found current).
    pub manifest: IndexManifest,
}

/// Whether shard `shard` is in the bucket and made from the same targets.
async fn shard_is_current(
    store: &dyn ObjectStore,
    present: &HashMap<String, u64>,
    manifest: &IndexManifest,
    prefix: &str,
    shard: u64,
    fingerprint: u64,
) -> bool {
    let (shard_key, toc_key) = (
        manifest.shard_key(prefix, shard),
        manifest.toc_key(prefix, shard),
    );
    let (Some(&len), true) = (present.get(&shard_key), present.contains_key(&toc_key)) else {
        return false;
    };
    let Ok(bytes) = store.get(&toc_key).await else {
        return false;
    };
    ShardToc::read(&bytes).is_ok_and(|toc| toc.fingerprint == fingerprint && toc.shard_len == len)
}

/// Puts a shard, then its table of contents.
async fn put_shard(
    store: Arc<dyn ObjectStore>,
    keys: (String, String),
    shard: Vec<u8>,
    toc: Vec<u8>,
) -> Result<(), BackendError> {
    store.put(&keys.0, shard).await?;
    store.put(&keys.1, toc).await
}

/// Uploads `source` as index shards to `store` as `options` say; calls
/// `progress` with the number of targets done so far. Returns what it did
/// and the manifest (also stored, last, at [`manifest_key`]).
pub async fn upload_index(
    store: Arc<dyn ObjectStore>,
    source: IndexSource<'_>,
    options: &IndexUploadOptions,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<IndexUploadSummary, BackendError> {
    let prefix = options.prefix.trim_end_matches('/');
    let mut manifest = IndexManifest::new(
        source.codec(),
        source.len() as u64,
        options.shard_targets,
        options.item_prefixes,
    );
    manifest.images = options.images;
    let present: HashMap<String, u64> = list_all(store.as_ref(), &folder(prefix))
        .await?
        .into_iter()
        .map(|o| (o.key, o.size))
        .collect();
    let (mut uploaded, mut skipped, mut unreadable) = (0, 0, Vec::new());
    let mut puts = JoinSet::new();
    for shard in 0..manifest.shards() {
        let items = manifest.shard_items(shard);
        let range = items.start as usize..items.end as usize;
        let fingerprint = source.fingerprint(range.clone());
        let current = shard_is_current(
            store.as_ref(),
            &present,
            &manifest,
            prefix,
            shard,
            fingerprint,
        )
        .await;
        let key = manifest.shard_key(prefix, shard);
        if current {
            skipped += 1;
            manifest.bytes += present[&key];
            progress(items.end);
            continue;
        }
        let records = source.records(range).map_err(BackendError::Other)?;
        unreadable.extend(records.iter().filter(|r| r.raw_len == 0).map(|r| {
            (
                r.name.clone(),
                String::from_utf8_lossy(&r.stored).into_owned(),
            )
        }));
        let (bytes, toc) = build_shard(manifest.codec, &records, fingerprint)
            .map_err(|e| BackendError::Invalid(format!("shard {shard} of {prefix}: {e}")))?;
        manifest.bytes += bytes.len() as u64;
        while puts.len() >= options.concurrency.max(1) {
            join_one(&mut puts).await?;
        }
        let keys = (key, manifest.toc_key(prefix, shard));
        puts.spawn(put_shard(store.clone(), keys, bytes, toc.to_bytes()));
        uploaded += 1;
        progress(items.end);
    }
    while !puts.is_empty() {
        join_one(&mut puts).await?;
    }
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackendError::Invalid(format!("manifest of {prefix}: {e}")))?;
    let key = manifest_key(prefix);
    if store.get(&key).await.ok().as_ref() != Some(&text) {
        store.put(&key, text).await?;
    }
    Ok(IndexUploadSummary {
        uploaded,
        skipped,
        unreadable,
        manifest,
    })
}

/// Waits for one put and returns its error, if any.
async fn join_one(puts: &mut JoinSet<Result<(), BackendError>>) -> Result<(), BackendError> {
    match puts.join_next().await {
        Some(joined) => {
            joined.map_err(|e| BackendError::Other(format!("upload task failed: {e}")))?
        }
        None => Ok(()),
    }
}

/// Reads the manifest of the index at `prefix`, if the library has one.
pub async fn read_manifest(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<Option<IndexManifest>, BackendError> {
    let key = manifest_key(prefix);
    let bytes = match store.get(&key).await {
        Ok(bytes) => bytes,
        Err(BackendError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let manifest: IndexManifest = serde_json::from_slice(&bytes)
        .map_err(|e| BackendError::Invalid(format!("index manifest {key}: {e}")))?;
    manifest
        .check()
        .map_err(|e| BackendError::Invalid(format!("{key}: {e}")))?;
    Ok(Some(manifest))
}
