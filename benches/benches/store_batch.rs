//! One worker batch read from an object store with S3-like latency: the
//! color depth search worker (`SearchWorker`, as in the Lambda worker) over
//! a library in the bucket as index shards, and as one object per image
//! (NeuronBridge's key lists, PackBits TIFF images), in the same run.
//!
//! Two models of S3, each in its own group:
//! - `first_byte_20ms`: every request answers after 20 ms (S3's first-byte
//!   latency in region), bytes free (the model);
//! - `first_byte_20ms_90mbps_link_300mbps`: plus the transfer at 90 MB/s per
//!   connection, all connections sharing a 300 MB/s link (about what a
//!   Lambda function gets from S3; an assumption, not a measurement).
//!
//! Requests in flight overlap, as real ones do. Scoring runs on one core
//! (rayon's global pool of one thread), so criterion's "elem/s" is images
//! per second per core. Each run also prints the requests and bytes of one
//! batch.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use burst::local::MemoryObjectStore;
use burst::{BackendError, ObjectInfo, ObjectStore, Page, Worker, WorkerEvent};
use cds::pixel_match::MatchParams;
use cdsearch::index::Codec;
use cdsearch::job::{LibraryParameters, SearchJobParameters, SearchWorker};
use cdsearch::library::{discover, LibraryEntry};
use cdsearch::results::SearchReport;
use cdsearch::store::index_upload::{upload_index, IndexSource, IndexUploadOptions};
use cdsearch::store::upload::{upload_library, LibraryPlan};
use cdsearch::store::{describe_library, StoreResolver};
use cdsearch::synth::{write_library, SynthFormat, SynthOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Images per batch.
const IMAGES: u64 = 2000;
/// First-byte latency of every request.
const FIRST_BYTE: Duration = Duration::from_millis(20);
/// The EM mask of the golden file.
const MASK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/cdm/cdsearch/ems/12191_JRC2018U.tif"
);

/// Transfer rates of the bandwidth model, bytes per second.
#[derive(Clone, Copy)]
struct Bandwidth {
    per_connection: f64,
    link: f64,
}

/// An object store whose reads take S3's time.
struct Latency {
    inner: Arc<MemoryObjectStore>,
    bandwidth: Option<Bandwidth>,
    /// When the shared link is free again.
    link_free: std::sync::Mutex<Instant>,
}

impl Latency {
    fn new(inner: Arc<MemoryObjectStore>, bandwidth: Option<Bandwidth>) -> Self {
        Self {
            inner,
            bandwidth,
            link_free: std::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits until a read of `bytes` bytes would have arrived.
    async fn wait(&self, bytes: usize) {
        let first = Instant::now() + FIRST_BYTE;
        let done = match self.bandwidth {
            None => first,
            Some(b) => {
                let bytes = bytes as f64;
                let mut free = self.link_free.lock().unwrap();
                let start = (*free).max(first);
                *free = start + Duration::from_secs_f64(bytes / b.link);
                (*free).max(first + Duration::from_secs_f64(bytes / b.per_connection))
            }
        };
        tokio::time::sleep_until(done.into()).await;
    }
}

#[async_trait]
impl ObjectStore for Latency {
    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        let bytes = self.inner.get(key).await?;
        self.wait(bytes.len()).await;
        Ok(bytes)
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, BackendError> {
        let bytes = self.inner.get_range(key, range).await?;
        self.wait(bytes.len()).await;
        Ok(bytes)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackendError> {
        self.inner.put(key, bytes).await
    }

    async fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
    ) -> Result<Page<ObjectInfo>, BackendError> {
        self.inner.list(prefix, token).await
    }
}

fn synth(dir: &Path) -> Vec<LibraryEntry> {
    let options = SynthOptions {
        count: IMAGES,
        seed: 42,
        format: SynthFormat::Tif,
        derived: false,
        ..SynthOptions::default()
    };
    write_library(&dir.join("lib"), &options, &()).expect("synthetic library");
    discover(&[dir.join("lib")]).expect("library")
}

/// Uploads the library in both forms to an in-memory bucket.
async fn upload(entries: &[LibraryEntry]) -> Arc<MemoryObjectStore> {
    let memory = Arc::new(MemoryObjectStore::default());
    let store: Arc<dyn ObjectStore> = memory.clone();
    let mut plan = LibraryPlan::new("images");
    for e in entries {
        let size = std::fs::metadata(&e.path).unwrap().len();
        plan.add_item(&e.name, e.path.clone(), size);
    }
    upload_library(store.clone(), &plan, 8, Arc::new(|_| {}))
        .await
        .unwrap();
    let options = IndexUploadOptions {
        prefix: "index".into(),
        shard_targets: IMAGES,
        item_prefixes: 100,
        images: false,
        concurrency: 2,
    };
    upload_index(
        store,
        IndexSource::Images(entries, Codec::Stored),
        &options,
        Arc::new(|_| {}),
    )
    .await
    .unwrap();
    memory
}

/// The worker event of one batch of all the images of `library`.
fn event(library: LibraryParameters) -> WorkerEvent {
    let p = MatchParams {
        mask_threshold: 20,
        data_threshold: 20,
        ..MatchParams::default()
    };
    let params = SearchJobParameters::new(
        "masks",
        vec!["masks/mask.tif".into()],
        vec![20],
        &p,
        500,
        vec![library],
    );
    WorkerEvent::from_value(serde_json::json!({
        "tasksTableName": "tasks", "jobId": "bench", "batchId": 0,
        "startIndex": 0, "endIndex": IMAGES, "jobParameters": params,
    }))
    .unwrap()
}

fn bench_store_batch(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let entries = synth(dir.path());
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let memory = tokio.block_on(upload(&entries));
    tokio
        .block_on(memory.put("masks/mask.tif", std::fs::read(MASK).unwrap()))
        .unwrap();
    // Scoring on one core: the global pool, which the worker's search uses.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    let models = [
        ("first_byte_20ms", None),
        (
            "first_byte_20ms_90mbps_link_300mbps",
            Some(Bandwidth {
                per_connection: 90e6,
                link: 300e6,
            }),
        ),
    ];
    for (model, bandwidth) in models {
        let store: Arc<dyn ObjectStore> = Arc::new(Latency::new(memory.clone(), bandwidth));
        let describe = |prefix: &str| {
            let describe = describe_library(store.as_ref(), "bucket", prefix, prefix);
            tokio.block_on(describe).unwrap()
        };
        let forms = [
            ("index_shards", describe("index"), 8),
            ("object_per_image", describe("images"), 32),
        ];
        let mut group = c.benchmark_group(format!("worker_batch_{model}"));
        group.throughput(Throughput::Elements(IMAGES));
        group.sample_size(10);
        for (name, library, concurrency) in forms {
            let shared = store.clone();
            let resolver = StoreResolver::new(move |_| Ok(shared.clone()), concurrency);
            let worker = SearchWorker::new(Arc::new(resolver));
            let event = event(library);
            let run = || {
                let result = tokio.block_on(worker.process(&event)).unwrap();
                let report = result.as_json().unwrap().clone();
                serde_json::from_value::<SearchReport>(report).unwrap()
            };
            let reads = run().reads;
            println!(
                "{model}/{name}: one batch of {IMAGES} images reads {} requests, {:.1} MB",
                reads.requests,
                reads.bytes as f64 / 1e6
            );
            group.bench_function(name, |b| b.iter(run));
        }
        group.finish();
    }
}

criterion_group!(benches, bench_store_batch);
criterion_main!(benches);
