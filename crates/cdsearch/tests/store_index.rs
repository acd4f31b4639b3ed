//! A library uploaded as index shards to an object store and searched through
//! the local runtime with the object-store reader (the Lambda worker's):
//! hit for hit the directory search, with the golden scores; from images or
//! from an index file, stored or compressed; reading only the row bands the
//! masks need; and damaged or missing shards named, never a panic or a
//! silent skip.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use burst::local::MemoryObjectStore;
use burst::{JobState, ObjectStore};
use cds::pixel_match::MatchParams;
use cdsearch::index::{write_index, Codec, IndexLibrary};
use cdsearch::job::{local_runtime, outcome_report, search_request, SearchJobParameters};
use cdsearch::library::{discover, LibraryEntry};
use cdsearch::results::SearchReport;
use cdsearch::search::{search, FileLibrary, Mask, SearchOptions, TargetNeed, TargetSource};
use cdsearch::store::index_upload::{upload_index, IndexSource, IndexUploadOptions};
use cdsearch::store::shards::ReadPolicy;
use cdsearch::store::{
    describe_library, CountingStore, FetchOptions, IndexBatch, ReadCounter, ShardedSource,
    StoreResolver,
};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/cdm");
const BUCKET: &str = "libraries";
const PREFIX: &str = "JRC2018/fixtures";

/// The golden parameter sets of golden-scores.json.
fn golden_params(golden: &Value, name: &str) -> MatchParams {
    let p = &golden["params"][name];
    MatchParams {
        mask_threshold: p["maskThreshold"].as_u64().unwrap() as u8,
        data_threshold: p["dataThreshold"].as_u64().unwrap() as u8,
        pix_color_fluctuation: p["pixColorFluctuation"].as_f64().unwrap(),
        xy_shift: p["xyShift"].as_u64().unwrap() as u32,
        mirror_mask: p["mirrorMask"].as_bool().unwrap(),
        ..MatchParams::default()
    }
}

fn golden() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/golden-scores.json")).unwrap(),
    )
    .unwrap()
}

fn library() -> Vec<LibraryEntry> {
    discover(&[PathBuf::from(FIXTURES)]).expect("fixtures")
}

/// Uploads the fixtures as an index, 5 targets per shard.
async fn upload(store: &Arc<MemoryObjectStore>, source: IndexSource<'_>) {
    let options = IndexUploadOptions {
        prefix: PREFIX.into(),
        shard_targets: 5,
        item_prefixes: 100,
        images: false,
        concurrency: 2,
    };
    let store: Arc<dyn ObjectStore> = store.clone();
    upload_index(store, source, &options, Arc::new(|_| {}))
        .await
        .expect("upload");
}

/// Searches `mask` over the uploaded library through the local runtime in
/// batches of 4 (so batches straddle shards).
async fn search_store(
    store: &Arc<MemoryObjectStore>,
    mask: &Path,
    params: &MatchParams,
) -> (SearchReport, burst::JobOutcome) {
    let shared: Arc<dyn ObjectStore> = store.clone();
    let library = describe_library(shared.as_ref(), BUCKET, PREFIX, "fixtures")
        .await
        .expect("the library is there");
    assert!(library.index.is_some(), "described as an index");
    let job = SearchJobParameters::new(
        "",
        vec![mask.to_string_lossy().into_owned()],
        vec![params.mask_threshold],
        params,
        100,
        vec![library],
    );
    let resolver =
        StoreResolver::new(move |_| Ok(shared.clone()), 4).with_read_policy(ReadPolicy {
            max_gap: 0,
            max_range: 1 << 20,
        });
    let resolver =
        cdsearch::job::LocalResolver::new(HashMap::new()).with_remote(Arc::new(resolver));
    let runtime = local_runtime(Arc::new(resolver))
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let mut request = search_request(&job, &Default::default(), 4).unwrap();
    request.settings.max_attempts = 2;
    let outcome = tokio::time::timeout(Duration::from_secs(120), runtime.run(request))
        .await
        .expect("the job ends")
        .expect("the job runs");
    let report = outcome_report(&outcome).unwrap_or_else(|_| SearchReport {
        masks: Vec::new(),
        targets: 0,
        searched: 0,
        unreadable: Vec::new(),
        reads: Default::default(),
    });
    (report, outcome)
}

fn direct(entries: &[LibraryEntry], mask: &Path, params: &MatchParams) -> SearchReport {
    let mask = Mask::load(mask, params).unwrap();
    let options = SearchOptions {
        params: params.clone(),
        top: 100,
    };
    search(&[mask], &FileLibrary::new(entries.to_vec()), &options, &())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_in_a_store_equals_the_directory_search_with_the_golden_scores() {
    let golden = golden();
    let entries = library();
    let stored = Arc::new(MemoryObjectStore::default());
    upload(&stored, IndexSource::Images(&entries, Codec::Stored)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fixtures.cdsindex");
    write_index(&entries, &file, Codec::Zstd(3), &()).unwrap();
    let index = IndexLibrary::open(&file).unwrap();
    let from_file = Arc::new(MemoryObjectStore::default());
    upload(&from_file, IndexSource::Index(&index)).await;

    let mut checked = 0;
    for set in ["P1", "P2", "P3"] {
        let params = golden_params(&golden, set);
        for mask in [
            "cdsearch/ems/12191_JRC2018U.tif",
            "cdsearch/lms/VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif",
        ] {
            let mask_path = Path::new(FIXTURES).join(mask);
            let expected = direct(&entries, &mask_path, &params);
            for store in [&stored, &from_file] {
                let (report, outcome) = search_store(store, &mask_path, &params).await;
                assert_eq!(outcome.state, JobState::Succeeded, "{outcome:?}");
                let hits = &report.masks[0].results;
                assert_eq!(hits, &expected.masks[0].results, "{set} {mask}");
                assert_eq!(report.targets, expected.targets);
                assert!(report.reads.requests > 0 && report.reads.bytes > 0);
                for hit in hits {
                    let record = golden["scores"].as_array().unwrap().iter().find(|r| {
                        r["mask"] == mask && r["params"] == set && r["target"] == hit.image_name
                    });
                    if let Some(record) = record {
                        assert_eq!(
                            hit.matching_pixels,
                            record["matchingPixels"].as_i64().unwrap()
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(
        checked >= 12,
        "{checked} hits checked against golden records"
    );
}

/// Opens all targets of the uploaded index for a search needing `need`.
async fn open_all(store: &Arc<MemoryObjectStore>, need: &TargetNeed) -> ShardedSource {
    let shared: Arc<dyn ObjectStore> = store.clone();
    let library = describe_library(shared.as_ref(), BUCKET, PREFIX, "fixtures")
        .await
        .unwrap();
    let manifest = library.index.unwrap();
    let batch = IndexBatch {
        prefix: PREFIX,
        manifest: &manifest,
        items: &(0..manifest.targets),
    };
    let fetch = FetchOptions {
        policy: ReadPolicy {
            max_gap: 0,
            ..ReadPolicy::default()
        },
        concurrency: 3,
    };
    let counter = Arc::new(ReadCounter::default());
    let counted: Arc<dyn ObjectStore> = Arc::new(CountingStore::new(shared, counter.clone()));
    ShardedSource::open(counted, counter, batch, need, &fetch)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_reaching_only_the_top_rows_reads_only_their_bands() {
    let entries = library();
    let store = Arc::new(MemoryObjectStore::default());
    upload(&store, IndexSource::Images(&entries, Codec::Stored)).await;
    let files = FileLibrary::new(entries.clone());
    let top = TargetNeed::first_rows(60);
    let (some, all) = (
        open_all(&store, &top).await,
        open_all(&store, &TargetNeed::all()).await,
    );
    let loaded = tokio::task::spawn_blocking(move || {
        for i in 0..files.len() {
            assert_eq!(some.name(i), files.name(i));
            match (some.load(i, &top), files.load(i, &top)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", files.name(i)),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{}: {a:?} vs {b:?}", files.name(i)),
            }
            assert!(
                all.load(i, &TargetNeed::all()).is_ok()
                    == files.load(i, &TargetNeed::all()).is_ok()
            );
        }
        (some.reads(), all.reads())
    })
    .await
    .unwrap();
    let (some, all) = loaded;
    assert!(
        some.bytes * 3 < all.bytes,
        "top rows {some:?} vs all {all:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_and_missing_shards_are_named() {
    let golden = golden();
    let entries = library();
    let params = golden_params(&golden, "P2");
    let mask = Path::new(FIXTURES).join("cdsearch/ems/12191_JRC2018U.tif");
    let store = Arc::new(MemoryObjectStore::default());
    upload(&store, IndexSource::Images(&entries, Codec::Stored)).await;
    let manifest = describe_library(store.as_ref(), BUCKET, PREFIX, "x")
        .await
        .unwrap()
        .index
        .unwrap();

    // Shard 0 cut short: its last targets are unreadable, named; the rest are searched.
    let key = manifest.shard_key(PREFIX, 0);
    let bytes = store.get(&key).await.unwrap();
    store
        .put(&key, bytes[..bytes.len() / 2].to_vec())
        .await
        .unwrap();
    let (report, outcome) = search_store(&store, &mask, &params).await;
    assert_eq!(outcome.state, JobState::Succeeded);
    let reasons = |report: &SearchReport, what: &str| -> Vec<String> {
        let (named, other): (Vec<_>, Vec<_>) = report
            .unreadable
            .iter()
            .map(|u| u.reason.clone())
            .filter(|r| !r.starts_with("not comparable"))
            .partition(|r| r.contains(what));
        assert!(other.is_empty(), "{other:?}");
        named
    };
    let truncated = reasons(&report, "truncated");
    assert!(!truncated.is_empty() && truncated.iter().all(|r| r.contains(&key)));
    assert_eq!(report.targets, entries.len());

    // Garbage in a record: a damaged record, named.
    let mut garbled = bytes.clone();
    for b in &mut garbled[40..400] {
        *b = 0xff;
    }
    store.put(&key, garbled).await.unwrap();
    let (report, _) = search_store(&store, &mask, &params).await;
    assert!(!reasons(&report, "damaged record").is_empty());

    // A missing shard object: its targets unreadable, named.
    store.put(&key, bytes).await.unwrap();
    let missing = manifest.shard_key(PREFIX, 1);
    let saved = store.get(&missing).await.unwrap();
    store.delete(&missing);
    let (report, _) = search_store(&store, &mask, &params).await;
    assert_eq!(reasons(&report, "is missing").len(), 5);
    store.put(&missing, saved).await.unwrap();

    // A missing table of contents fails its batches, naming the shard.
    let toc = manifest.toc_key(PREFIX, 2);
    store.delete(&toc);
    let (_, outcome) = search_store(&store, &mask, &params).await;
    assert_eq!(outcome.state, JobState::Failed);
    let causes: Vec<&str> = outcome
        .failed_batches
        .iter()
        .map(|f| f.cause.as_str())
        .collect();
    assert!(!causes.is_empty());
    assert!(
        causes
            .iter()
            .all(|c| c.contains("index shard 2") && c.contains(&toc)),
        "{causes:?}"
    );
}
