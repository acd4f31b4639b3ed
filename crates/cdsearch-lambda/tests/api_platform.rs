//! The search API's AWS platform over in-memory backends: a submitted search
//! starts its job through the manager function (here burst's local runtime,
//! whose invoker runs the manager, workers, monitor and combiner), its record
//! follows the job, and its results are the sample library's ranking.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use burst::local::MemoryObjectStore;
use burst::manager::Deployment;
use burst::ObjectStore;
use cdsearch::job::local_runtime;
use cdsearch::store::StoreResolver;
use cdsearch_service::error::ApiError;
use cdsearch_service::model::Status;
use cdsearch_service::platform::aws::{AwsLibrary, AwsPlatform};
use cdsearch_service::request::{validate, Known};
use cdsearch_service::searches::Submission;
use cdsearch_service::store::MaskData;
use cdsearch_service::SearchPlatform;

const MASK: &str = "12191_JRC2018U.tif";

fn sample(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sample")
        .join(rel)
}

/// The sample library in NeuronBridge's layout under `lib/` of a bucket.
async fn library_bucket() -> (Arc<dyn ObjectStore>, u64) {
    let store = Arc::new(MemoryObjectStore::default());
    let mut keys = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(sample("library"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tif") || n.ends_with(".png"))
        .collect();
    names.sort();
    for name in names {
        let key = format!("lib/{name}");
        let bytes = std::fs::read(sample("library").join(&name)).unwrap();
        store.put(&key, bytes).await.unwrap();
        keys.push(key);
    }
    let list = serde_json::to_vec(&keys).unwrap();
    store
        .put("lib/KEYS/0/keys_denormalized.json", list)
        .await
        .unwrap();
    (store, keys.len() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_runs_through_the_manager_and_gives_the_sample_ranking() {
    let (libs, lsize) = library_bucket().await;
    let search_store: Arc<OnceLock<Arc<dyn ObjectStore>>> = Arc::new(OnceLock::new());
    let buckets = {
        let (libs, search_store) = (libs.clone(), search_store.clone());
        move |bucket: &str| -> Arc<dyn ObjectStore> {
            match bucket {
                "libs" => libs.clone(),
                _ => search_store.get().expect("search bucket set").clone(),
            }
        }
    };
    let resolver_buckets = buckets.clone();
    let resolver = StoreResolver::new(move |b: &str| Ok(resolver_buckets(b)), 4);
    let runtime = local_runtime(Arc::new(resolver))
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    search_store
        .set(runtime.backends().store.clone())
        .ok()
        .unwrap();
    let platform = AwsPlatform::new(
        runtime.backends().clone(),
        Deployment::default().manager_function_name,
        "search".into(),
        vec![AwsLibrary {
            name: "sample".into(),
            bucket: "libs".into(),
            folder: "lib".into(),
            lsize,
        }],
        Box::new(buckets),
        Duration::from_secs(60),
    );

    let libraries = ["sample".to_owned()];
    let known = Known {
        libraries: &libraries,
        masks: &[],
        max_masks: 10,
        shape_stage_unavailable: None,
    };
    let valid = validate(&serde_json::json!({"libraries": ["sample"]}), 1, known).unwrap();
    let submission = |key: &str| Submission {
        owner: "sub-alice".into(),
        idempotency_key: Some(key.into()),
        fingerprint: format!("f-{key}"),
        params: valid.params.clone(),
        masks: vec![(
            MASK.into(),
            MaskData::Bytes(std::fs::read(sample("masks").join(MASK)).unwrap()),
        )],
    };
    let (record, created) = platform.submit(submission("k1")).await.unwrap();
    assert!(created);
    assert_eq!(record.status, Status::Queued);
    let (again, created) = platform.submit(submission("k1")).await.unwrap();
    assert!(!created, "same idempotency key, same search");
    assert_eq!(again.id, record.id);

    assert_eq!(wait(&platform, &record.id).await, Status::Done);
    let results = platform.results("sub-alice", &record.id).await.unwrap();
    let hits: Vec<(&str, &str, i64)> = results.masks[0]
        .hits
        .iter()
        .map(|h| {
            (
                h.library_name.as_str(),
                h.image_name.as_str(),
                h.matching_pixels,
            )
        })
        .collect();
    assert_eq!(results.masks[0].mask_name, MASK);
    assert_eq!(results.masks[0].mask_pixels, 10299);
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0], ("sample", "12191_JRC2018U.tif", 10299));
    assert_eq!(hits[1], ("sample", "12191_JRC2018U_FL.tif", 8426));
    assert_eq!(results.targets as u64, lsize);
    assert!(hits_unshaped(&results), "no shape stage asked");

    // The shape stage reaches the job: the sample library has no derived
    // images, so the combiner marks every hit not shape-scored.
    let shaped = validate(
        &serde_json::json!({"libraries": ["sample"], "shape": true, "shapeTop": 2}),
        1,
        known,
    )
    .unwrap();
    let (shape_record, _) = platform
        .submit(Submission {
            params: shaped.params,
            ..submission("k2")
        })
        .await
        .unwrap();
    assert_eq!(wait(&platform, &shape_record.id).await, Status::Done);
    let shape_results = platform
        .results("sub-alice", &shape_record.id)
        .await
        .unwrap();
    assert_eq!(shape_results.masks[0].hits.len(), 5);
    for hit in &shape_results.masks[0].hits {
        let shape = hit.shape.expect("the shape stage ran");
        assert!(!shape.shape_scored, "{hit:?}");
        assert_eq!(shape.shape_score, -1);
        assert_eq!(shape.normalized_score, hit.matching_pixels as f32);
    }

    let listed = platform.list("sub-alice").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(platform.list("sub-bob").await.unwrap().is_empty());
    assert!(matches!(
        platform.get("sub-bob", &record.id).await,
        Err(ApiError::NotFound(_))
    ));
    let image = platform
        .library_image("sample", "12191_JRC2018U.tif")
        .await
        .unwrap();
    assert_eq!(
        image.into_bytes().unwrap(),
        std::fs::read(sample("library/12191_JRC2018U.tif")).unwrap()
    );

    // Delete: only the owner's, and every object of the search goes, with its job's state
    // (the outcome holds the results; the task table its rows and status).
    let store = platform_store(&search_store);
    let tasks = runtime.backends().tasks.clone();
    let prefix = format!("api/searches/{}/", record.id);
    let job_prefix = burst::outcome::job_prefix(&record.id);
    assert!(!store.list(&prefix, None).await.unwrap().items.is_empty());
    assert!(!store
        .list(&job_prefix, None)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(tasks.get_status(&record.id).await.unwrap().is_some());
    assert!(tasks.count_rows(&record.id).await.unwrap() > 0);
    assert!(matches!(
        platform.delete("sub-bob", &record.id).await,
        Err(ApiError::NotFound(_))
    ));
    platform.delete("sub-alice", &record.id).await.unwrap();
    assert!(store.list(&prefix, None).await.unwrap().items.is_empty());
    assert!(store
        .list(&job_prefix, None)
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(tasks.get_status(&record.id).await.unwrap(), None);
    assert_eq!(tasks.count_rows(&record.id).await.unwrap(), 0);
    // The other search's job is untouched.
    assert!(tasks.get_status(&shape_record.id).await.unwrap().is_some());
    assert!(matches!(
        platform.get("sub-alice", &record.id).await,
        Err(ApiError::NotFound(_))
    ));
    let listed = platform.list("sub-alice").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, shape_record.id);
    // Its idempotency key is free again: a new search.
    let (fresh, created) = platform.submit(submission("k1")).await.unwrap();
    assert!(created && fresh.id != record.id);
}

/// The search bucket's store.
fn platform_store(cell: &OnceLock<Arc<dyn ObjectStore>>) -> Arc<dyn ObjectStore> {
    cell.get().expect("search bucket set").clone()
}

/// Follows search `id` of alice until it is final; returns its status.
async fn wait(platform: &AwsPlatform, id: &str) -> Status {
    for _ in 0..1000 {
        let r = platform.get("sub-alice", id).await.unwrap();
        if r.status.is_final() {
            assert_eq!(r.progress.batches_done, r.progress.batches_total);
            return r.status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("search {id} did not finish");
}

/// Whether no hit of the results carries shape-stage values.
fn hits_unshaped(results: &cdsearch_service::model::SearchOutcome) -> bool {
    results
        .masks
        .iter()
        .flat_map(|m| &m.hits)
        .all(|h| h.shape.is_none())
}
