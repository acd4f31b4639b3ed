//! Library upload to an object store with S3-like request latency (a fixed pause per request,
//! over an in-memory store): `cdsearch::store::upload::upload_library` with 1 and 32 uploads in
//! flight, and a resumed upload where every object is already there, against the baseline of a
//! plain loop that reads and puts each file, then the 100 key-list copies, one after the other.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use burst::local::MemoryObjectStore;
use burst::{BackendError, ObjectInfo, ObjectStore, Page};
use cdsearch::store::layout::{key_list_key, KEY_LIST_COPIES};
use cdsearch::store::upload::{upload_library, LibraryPlan};
use criterion::{criterion_group, criterion_main, Criterion};

/// Files of the benchmark library.
const FILES: usize = 200;
/// Bytes per file (a small compressed CDM).
const FILE_BYTES: usize = 16 * 1024;
/// Pause per request, standing for S3's request latency.
const LATENCY: Duration = Duration::from_millis(2);

/// An in-memory store that answers each request after [`LATENCY`].
struct Slow(MemoryObjectStore);

#[async_trait]
impl ObjectStore for Slow {
    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        tokio::time::sleep(LATENCY).await;
        self.0.get(key).await
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, BackendError> {
        tokio::time::sleep(LATENCY).await;
        self.0.get_range(key, range).await
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackendError> {
        tokio::time::sleep(LATENCY).await;
        self.0.put(key, bytes).await
    }

    async fn list(
        &self,
        prefix: &str,
        page_token: Option<&str>,
    ) -> Result<Page<ObjectInfo>, BackendError> {
        tokio::time::sleep(LATENCY).await;
        self.0.list(prefix, page_token).await
    }
}

fn slow_store() -> Arc<dyn ObjectStore> {
    Arc::new(Slow(MemoryObjectStore::default()))
}

/// Writes the library files and plans their upload.
fn library(dir: &std::path::Path) -> LibraryPlan {
    let mut plan = LibraryPlan::new("bench/library");
    for i in 0..FILES {
        let name = format!("target_{i:04}.png");
        let path: PathBuf = dir.join(&name);
        std::fs::write(&path, vec![(i % 251) as u8; FILE_BYTES]).unwrap();
        plan.add_item(&name, path, FILE_BYTES as u64);
    }
    plan
}

/// The baseline: each file read and put in turn, then each key-list copy.
async fn sequential_upload(store: &dyn ObjectStore, plan: &LibraryPlan) {
    for file in &plan.files {
        let bytes = tokio::fs::read(&file.path).await.unwrap();
        store.put(&file.key, bytes).await.unwrap();
    }
    let list = serde_json::to_vec(&plan.key_list()).unwrap();
    for copy in 0..KEY_LIST_COPIES {
        store
            .put(&key_list_key(&plan.prefix, copy), list.clone())
            .await
            .unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let plan = library(dir.path());
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("library_upload");
    group.sample_size(10);
    group.bench_function("sequential loop (baseline)", |b| {
        b.iter(|| tokio.block_on(sequential_upload(slow_store().as_ref(), &plan)))
    });
    for concurrency in [1, 32] {
        group.bench_function(format!("upload_library, {concurrency} in flight"), |b| {
            b.iter(|| {
                tokio.block_on(async {
                    let summary =
                        upload_library(slow_store(), &plan, concurrency, Arc::new(|_| {}))
                            .await
                            .unwrap();
                    assert_eq!(summary.uploaded, FILES as u64);
                })
            })
        });
    }
    let uploaded = slow_store();
    tokio
        .block_on(upload_library(
            uploaded.clone(),
            &plan,
            32,
            Arc::new(|_| {}),
        ))
        .unwrap();
    group.bench_function("upload_library resumed, nothing to send", |b| {
        b.iter(|| {
            tokio.block_on(async {
                let summary = upload_library(uploaded.clone(), &plan, 32, Arc::new(|_| {}))
                    .await
                    .unwrap();
                assert_eq!((summary.uploaded, summary.key_lists), (0, 0));
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
