//! Color depth search through the burst local runtime (manager tree →
//! workers → task table → monitor state machine → combiner) gives the same
//! ranked hits as the direct search, for local files and for a library in
//! NeuronBridge's object-store layout.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use burst::local::MemoryObjectStore;
use burst::ObjectStore;
use cds::pixel_match::MatchParams;
use cdsearch::job::{
    local_runtime, outcome_report, search_request, LibraryParameters, LocalResolver,
    SearchJobParameters,
};
use cdsearch::library::discover;
use cdsearch::results::SearchReport;
use cdsearch::search::{search, FileLibrary, Mask, SearchOptions, TargetSource};
use cdsearch::store::layout::key_list_key;
use cdsearch::store::StoreResolver;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sample");

fn mask_path() -> String {
    format!("{SAMPLE}/masks/12191_JRC2018U.tif")
}

/// Golden parameter set P2 (xyShift 2, mirror) of golden-scores.json.
fn p2() -> MatchParams {
    MatchParams {
        mask_threshold: 20,
        data_threshold: 20,
        pix_color_fluctuation: 2.0,
        xy_shift: 2,
        mirror_mask: true,
        ..MatchParams::default()
    }
}

fn job_params(libraries: Vec<LibraryParameters>, mask_key: &str) -> SearchJobParameters {
    let p = p2();
    SearchJobParameters {
        search_bucket: String::new(),
        mask_keys: vec![mask_key.to_owned()],
        mask_thresholds: vec![p.mask_threshold],
        data_threshold: p.data_threshold,
        pix_color_fluctuation: p.pix_color_fluctuation,
        xy_shift: p.xy_shift,
        mirror_mask: p.mirror_mask,
        min_matching_pix_ratio: p.min_matching_pix_ratio,
        max_results_per_mask: 100,
        libraries,
    }
}

fn library(name: &str, bucket: &str, folder: &str, lsize: usize) -> LibraryParameters {
    LibraryParameters::in_store(name, bucket, folder, lsize as u64)
}

fn direct_report(library: &FileLibrary) -> SearchReport {
    let mask = Mask::load(&PathBuf::from(mask_path()), &p2()).expect("mask");
    let options = SearchOptions {
        params: p2(),
        top: 100,
    };
    search(&[mask], library, &options, &())
}

async fn run(
    resolver: Arc<dyn cdsearch::job::LibraryResolver>,
    params: &SearchJobParameters,
) -> (SearchReport, burst::JobOutcome) {
    let runtime = local_runtime(resolver)
        .poll_interval(Duration::from_millis(20))
        .build()
        .expect("runtime");
    let request = search_request(params, &Default::default(), 3).expect("valid request");
    let outcome = tokio::time::timeout(Duration::from_secs(60), runtime.run(request))
        .await
        .expect("the job ends")
        .expect("the job runs");
    (outcome_report(&outcome).expect("a report"), outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_files_through_the_runtime_match_the_direct_search() {
    let entries = discover(&[PathBuf::from(format!("{SAMPLE}/library"))]).expect("sample");
    let files = FileLibrary::new(entries);
    let direct = direct_report(&files);
    let count = files.len();
    let resolver = LocalResolver::new(HashMap::from([(
        "sample".to_owned(),
        Arc::new(files) as Arc<dyn TargetSource + Send + Sync>,
    )]));
    let params = job_params(vec![library("sample", "", "", count)], &mask_path());
    let (report, outcome) = run(Arc::new(resolver), &params).await;

    assert_eq!(outcome.num_batches, count.div_ceil(3) as u64);
    assert!(outcome.missing_batches.is_empty() && outcome.failed_batches.is_empty());
    assert_eq!(report.masks, direct.masks);
    assert_eq!((report.targets, report.searched), (count, count));
    let top = &report.masks[0].results[0];
    // golden-scores.json: 12191_JRC2018U.tif against itself at P2.
    assert_eq!(
        (top.image_name.as_str(), top.matching_pixels),
        ("12191_JRC2018U.tif", 10299)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_layout_through_the_runtime_matches_the_direct_search() {
    let entries = discover(&[PathBuf::from(format!("{SAMPLE}/library"))]).expect("sample");
    let store = Arc::new(MemoryObjectStore::default());
    store
        .put("masks/mask.tif", std::fs::read(mask_path()).unwrap())
        .await
        .unwrap();
    let mut keys = Vec::new();
    for entry in &entries {
        let key = format!("lib/images/{}", entry.name);
        store
            .put(&key, std::fs::read(&entry.path).unwrap())
            .await
            .unwrap();
        keys.push(key);
    }
    store
        .put("lib/images/broken.tif", b"II*\0 not really a tiff".to_vec())
        .await
        .unwrap();
    keys.push("lib/images/broken.tif".into());
    // Only two of the hundred key-list copies exist: workers fall back to copy 0.
    for copy in 0..2 {
        let list = serde_json::to_vec(&keys).unwrap();
        store.put(&key_list_key("lib", copy), list).await.unwrap();
    }
    let shared: Arc<dyn ObjectStore> = store;
    let resolver = StoreResolver::new(move |_bucket| Ok(shared.clone()), 4);
    let mut params = job_params(
        vec![library("lib", "bucket", "lib", keys.len())],
        "masks/mask.tif",
    );
    params.search_bucket = "bucket".into();
    let (report, _) = run(Arc::new(resolver), &params).await;

    let direct = direct_report(&FileLibrary::new(entries));
    let strip = |r: &SearchReport| -> Vec<(String, i64, bool)> {
        r.masks[0]
            .results
            .iter()
            .map(|h| {
                let name = h.image_name.trim_start_matches("lib/images/").to_owned();
                (name, h.matching_pixels, h.mirrored)
            })
            .collect()
    };
    assert_eq!(strip(&report), strip(&direct));
    assert_eq!(report.targets, keys.len());
    assert_eq!(report.searched, keys.len() - 1);
    assert_eq!(report.unreadable.len(), 1);
    assert_eq!(report.unreadable[0].image_name, "lib/images/broken.tif");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_worker_keeps_a_bounded_number_of_mask_sets() {
    use burst::{Worker, WorkerEvent};
    use cdsearch::job::{SearchWorker, MASK_SETS_KEPT};

    let entries = discover(&[PathBuf::from(format!("{SAMPLE}/library"))]).expect("sample");
    let files = FileLibrary::new(entries);
    let count = files.len();
    let resolver = LocalResolver::new(HashMap::from([(
        "sample".to_owned(),
        Arc::new(files) as Arc<dyn TargetSource + Send + Sync>,
    )]));
    let worker = SearchWorker::new(Arc::new(resolver));
    let event = |params: &SearchJobParameters| {
        WorkerEvent::from_value(serde_json::json!({
            "tasksTableName": "tasks",
            "jobId": "job",
            "batchId": 0,
            "startIndex": 0,
            "endIndex": count,
            "jobParameters": params,
        }))
        .unwrap()
    };
    // Each mask threshold is another prepared mask set, as other jobs would be.
    let mut first = None;
    for threshold in 10..10 + 2 * MASK_SETS_KEPT as u8 {
        let mut params = job_params(vec![library("sample", "", "", count)], &mask_path());
        params.mask_thresholds = vec![threshold];
        let result = worker.process(&event(&params)).await.expect("batch");
        first.get_or_insert(result);
        assert!(worker.cached_mask_sets() <= MASK_SETS_KEPT);
    }
    assert_eq!(worker.cached_mask_sets(), MASK_SETS_KEPT);
    // The first set was evicted: scoring it again prepares it anew, same hits.
    let mut params = job_params(vec![library("sample", "", "", count)], &mask_path());
    params.mask_thresholds = vec![10];
    let again = worker.process(&event(&params)).await.expect("batch");
    assert_eq!(Some(again), first);
    assert_eq!(worker.cached_mask_sets(), MASK_SETS_KEPT);
}
