//! Resolves libraries in an object store, in either form: NeuronBridge's
//! layout ([`super::layout`]: one object per image, and shuffled copies of
//! the key list, of which a worker reads one at random so that concurrent
//! workers spread over the key space), or index shards ([`super::shards`],
//! when the library's parameters carry its manifest). Every batch counts
//! the requests and bytes it read.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use burst::{ObjectStore, TaskError};
use futures::stream::{self, StreamExt};

use super::counting::{CountingStore, ReadCounter};
use super::layout::read_any_key_list;
use super::shard_source::{FetchOptions, IndexBatch, ShardedSource};
use super::shards::ReadPolicy;
use crate::job::{clip, FetchedTargets, LibraryParameters, LibraryResolver};
use crate::library::{derived_name, DerivedKind};
use crate::search::{TargetNeed, TargetSource};
use crate::shape_stage::ShapeBytes;

/// Maps a bucket name to the object store holding it.
pub type BucketStores = dyn Fn(&str) -> Result<Arc<dyn ObjectStore>, TaskError> + Send + Sync;

/// Resolves libraries in object stores: masks and libraries in buckets, each
/// bucket's store given by a function.
pub struct StoreResolver {
    stores: Box<BucketStores>,
    image_concurrency: usize,
    fetch: FetchOptions,
}

/// Objects a batch fetches at once from an object store (key lists, images).
pub const FETCH_CONCURRENCY: usize = 32;

/// Ranged reads of index shards in flight per batch, at most: with pieces of
/// an eighth of the batch ([`ReadPolicy::for_batch`]), a batch makes about 8
/// requests (S3 bills each; a million-target search stays under 5,000), 4
/// connections keep a function's network busy (4 x 90 MB/s), and the first
/// pieces are scored while the others arrive.
pub const INDEX_CONCURRENCY: usize = 4;

impl StoreResolver {
    /// A resolver mapping bucket names to stores with `stores`, with up to
    /// `concurrency` requests in flight per batch (image objects; ranged
    /// reads of index shards at most [`INDEX_CONCURRENCY`]).
    pub fn new(
        stores: impl Fn(&str) -> Result<Arc<dyn ObjectStore>, TaskError> + Send + Sync + 'static,
        concurrency: usize,
    ) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            stores: Box::new(stores),
            image_concurrency: concurrency,
            fetch: FetchOptions {
                policy: ReadPolicy::default(),
                concurrency: concurrency.min(INDEX_CONCURRENCY),
            },
        }
    }

    /// Reads index shards with `policy` instead of the default.
    pub fn with_read_policy(mut self, policy: ReadPolicy) -> Self {
        self.fetch.policy = policy;
        self
    }

    /// Targets `range` of a library in NeuronBridge's layout: a key list,
    /// then one GET per image.
    async fn images(
        &self,
        store: Arc<dyn ObjectStore>,
        counter: &ReadCounter,
        folder: &str,
        range: Range<u64>,
    ) -> Result<FetchedTargets, TaskError> {
        let keys = read_any_key_list(store.as_ref(), folder)
            .await
            .map_err(|e| TaskError::new(format!("key list of {folder}: {e}")))?;
        let wanted = keys[clip(range, keys.len())].to_vec();
        let fetched = stream::iter(wanted)
            .map(|key| {
                let store = store.clone();
                async move {
                    let bytes = store.get(&key).await.map_err(|e| e.to_string());
                    (key, bytes)
                }
            })
            .buffered(self.image_concurrency)
            .collect::<Vec<_>>()
            .await;
        Ok(FetchedTargets::new(fetched).with_reads(counter.stats()))
    }
}

#[async_trait]
impl LibraryResolver for StoreResolver {
    async fn mask_bytes(&self, bucket: &str, key: &str) -> Result<Vec<u8>, TaskError> {
        let store = (self.stores)(bucket)?;
        store
            .get(key)
            .await
            .map_err(|e| TaskError::new(format!("mask {bucket}/{key}: {e}")))
    }

    async fn targets(
        &self,
        library: &LibraryParameters,
        range: Range<u64>,
        need: &TargetNeed,
    ) -> Result<Box<dyn TargetSource + Send>, TaskError> {
        let counter = Arc::new(ReadCounter::default());
        let bucket = (self.stores)(&library.library_bucket)?;
        let store: Arc<dyn ObjectStore> = Arc::new(CountingStore::new(bucket, counter.clone()));
        let folder = &library.searched_neurons_folder;
        let Some(manifest) = &library.index else {
            return Ok(Box::new(self.images(store, &counter, folder, range).await?));
        };
        let batch = IndexBatch {
            prefix: folder,
            manifest,
            items: &range,
        };
        let source = ShardedSource::open(store, counter, batch, need, &self.fetch)
            .await
            .map_err(|e| TaskError::new(format!("library {}: {e}", library.library_name)))?;
        Ok(Box::new(source))
    }

    /// The target's object and its derived images under
    /// [`crate::library::derived_name`] keys (missing ones not scored).
    async fn shape_bytes(
        &self,
        library: &LibraryParameters,
        image_name: &str,
    ) -> Result<ShapeBytes, TaskError> {
        let Some(key) = library.image_key(image_name) else {
            return Ok(ShapeBytes::default());
        };
        let store = (self.stores)(&library.library_bucket)?;
        let derived = |kind| {
            let (store, key) = (store.clone(), derived_name(&key, kind));
            async move {
                match store.get(&key).await {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(burst::BackendError::NotFound(_)) => Ok(None),
                    Err(e) => Err(TaskError::new(format!("{key}: {e}"))),
                }
            }
        };
        let (gradient, zgap) =
            futures::try_join!(derived(DerivedKind::Gradient), derived(DerivedKind::Zgap))?;
        if gradient.is_none() || zgap.is_none() {
            return Ok(ShapeBytes::default());
        }
        let target = store
            .get(&key)
            .await
            .map_err(|e| TaskError::new(format!("{key}: {e}")))?;
        Ok(ShapeBytes {
            target,
            gradient,
            zgap,
        })
    }
}
