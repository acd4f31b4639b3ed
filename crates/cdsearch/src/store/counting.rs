//! An object store that counts the reads made through it: the requests and
//! bytes a search's batch cost (S3 bills per request).

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use burst::{BackendError, ObjectInfo, ObjectStore, Page};

use crate::results::ReadStats;

/// Counters of reads, shared by a [`CountingStore`] and whoever reports them.
#[derive(Debug, Default)]
pub struct ReadCounter {
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl ReadCounter {
    /// Counts one request that returned `bytes` bytes.
    pub fn add(&self, bytes: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn stats(&self) -> ReadStats {
        ReadStats {
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// `inner`, counting its reads (whole and ranged GETs; failed ones count as
/// requests of 0 bytes, as S3 bills them too).
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counter: Arc<ReadCounter>,
}

impl CountingStore {
    /// Counts the reads of `inner` into `counter`.
    pub fn new(inner: Arc<dyn ObjectStore>, counter: Arc<ReadCounter>) -> Self {
        Self { inner, counter }
    }

    fn count(&self, read: Result<Vec<u8>, BackendError>) -> Result<Vec<u8>, BackendError> {
        self.counter.add(read.as_ref().map_or(0, Vec::len));
        read
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        self.count(self.inner.get(key).await)
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, BackendError> {
        self.count(self.inner.get_range(key, range).await)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackendError> {
        self.inner.put(key, bytes).await
    }

    async fn list(
        &self,
        prefix: &str,
        page_token: Option<&str>,
    ) -> Result<Page<ObjectInfo>, BackendError> {
        self.inner.list(prefix, page_token).await
    }
}
