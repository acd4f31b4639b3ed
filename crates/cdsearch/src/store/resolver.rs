//! Resolves libraries laid out in an object store as NeuronBridge lays them
//! out on S3 ([`super::layout`]): images in a bucket, and shuffled copies of
//! the key list, of which a worker reads one at random so that concurrent
//! workers spread over the key space.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use burst::{ObjectStore, TaskError};

use super::layout::read_any_key_list;
use crate::job::{clip, FetchedTargets, LibraryParameters, LibraryResolver};
use crate::library::{derived_name, DerivedKind};
use crate::search::TargetSource;
use crate::shape_stage::ShapeBytes;

/// Maps a bucket name to the object store holding it.
pub type BucketStores = dyn Fn(&str) -> Result<Arc<dyn ObjectStore>, TaskError> + Send + Sync;

/// Resolves libraries laid out as NeuronBridge does on S3 ([`super::layout`]):
/// masks and images in buckets, each bucket's store given by a function.
pub struct StoreResolver {
    stores: Box<BucketStores>,
    concurrency: usize,
}

impl StoreResolver {
    /// A resolver mapping bucket names to stores with `stores`, fetching up
    /// to `concurrency` objects at once.
    pub fn new(
        stores: impl Fn(&str) -> Result<Arc<dyn ObjectStore>, TaskError> + Send + Sync + 'static,
        concurrency: usize,
    ) -> Self {
        Self {
            stores: Box::new(stores),
            concurrency: concurrency.max(1),
        }
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
    ) -> Result<Box<dyn TargetSource + Send>, TaskError> {
        use futures::stream::{self, StreamExt};
        let store = (self.stores)(&library.library_bucket)?;
        let folder = &library.searched_neurons_folder;
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
            .buffered(self.concurrency)
            .collect::<Vec<_>>()
            .await;
        Ok(Box::new(FetchedTargets::new(fetched)))
    }

    /// The target's object and its derived images under
    /// [`crate::library::derived_name`] keys (missing ones not scored).
    async fn shape_bytes(
        &self,
        library: &LibraryParameters,
        image_name: &str,
    ) -> Result<ShapeBytes, TaskError> {
        let store = (self.stores)(&library.library_bucket)?;
        let derived = |kind| {
            let (store, key) = (store.clone(), derived_name(image_name, kind));
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
            .get(image_name)
            .await
            .map_err(|e| TaskError::new(format!("{image_name}: {e}")))?;
        Ok(ShapeBytes {
            target,
            gradient,
            zgap,
        })
    }
}
