//! `cdsearch submit`'s client side (`cdsearch_aws::submit` and `follow`) on the emulated
//! deployment of `support` (the real Lambda binaries under `cargo lambda watch`, moto, the
//! monitor state machine run by burst's interpreter): masks uploaded, the manager invoked
//! asynchronously, the job followed through its status record to the ranked hits of a direct
//! search of the same images.

mod support;

use std::time::Duration;

use burst_aws::stack::{Stack as DeployedStack, StackFunctions};
use burst_aws::S3ObjectStore;
use cdsearch::job::{outcome_report, SearchJobParameters};
use cdsearch::library::discover;
use cdsearch::search::{search, FileLibrary, Mask, SearchOptions};
use cdsearch_aws::{follow, library_parameters, submit, FollowOptions, Submission};
use serde_json::json;
use support::stack::{LIBRARY_BUCKET, SEARCH_BUCKET, TASKS_TABLE};
use support::{Stack, StackOptions, COMBINER, MANAGER, WORKER};

const LIBRARY_PREFIX: &str = "JRC2018_Unisex_20x_HR/sample";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_search_runs_on_the_emulated_stack_and_is_followed_to_its_hits() {
    let plan = support::stack::sample_library(LIBRARY_PREFIX);
    let Some(stack) = Stack::start("submit", StackOptions::default(), &plan, &[]).await else {
        return;
    };
    let clients = &stack.backends.clients;
    // The emulated Step Functions endpoint answers StartExecution only: the client follows the
    // job through its status record alone.
    let deployed = DeployedStack {
        functions: StackFunctions {
            manager: MANAGER.into(),
            worker: WORKER.into(),
            combiner: COMBINER.into(),
        },
        tasks_table: TASKS_TABLE.into(),
        search_bucket: SEARCH_BUCKET.into(),
        state_machine_arn: None,
    };
    // Golden parameter set P2 of golden-scores.json.
    let params: SearchJobParameters = serde_json::from_value(json!({
        "maskKeys": ["m"], "maskThresholds": [20], "dataThreshold": 20, "xyShift": 2,
        "mirrorMask": true, "libraries": [{"libraryName": "x", "lsize": 1}]
    }))
    .unwrap();
    let params = params.match_params(0);
    let mask = support::repo_root().join("sample/masks/12191_JRC2018U.tif");
    let library = S3ObjectStore::new(clients, LIBRARY_BUCKET);
    let submission = Submission {
        masks: vec![(mask.display().to_string(), std::fs::read(&mask).unwrap())],
        params: params.clone(),
        top: 100,
        libraries: vec![library_parameters(&library, LIBRARY_BUCKET, LIBRARY_PREFIX)
            .await
            .unwrap()],
        batch_size: Some(2),
        shape: Default::default(),
    };
    let request = submit(clients, &deployed, &submission)
        .await
        .unwrap_or_else(|e| stack.fail(e));
    let job_id = request.job_id.clone().unwrap();
    let options = FollowOptions {
        poll: Duration::from_millis(500),
        start_timeout: Duration::from_secs(60),
        timeout: Duration::from_secs(240),
    };
    let outcome = follow(clients, &deployed, &job_id, &options, |_| {})
        .await
        .unwrap_or_else(|e| stack.fail(e));
    assert_eq!(outcome.num_batches, 4);
    assert!(outcome.failed_batches.is_empty() && outcome.missing_batches.is_empty());
    let report = outcome_report(&outcome).unwrap();

    let masks = [Mask::load(&mask, &params).unwrap()];
    let images =
        FileLibrary::new(discover(&[support::repo_root().join("sample/library")]).unwrap());
    let options = SearchOptions {
        params: params.clone(),
        top: 100,
    };
    let direct = search(&masks, &images, &options, &());
    let hits = |report: &cdsearch::results::SearchReport| -> Vec<(String, i64, bool)> {
        report.masks[0]
            .results
            .iter()
            .map(|h| {
                let name = h.image_name.rsplit('/').next().unwrap().to_owned();
                (name, h.matching_pixels, h.mirrored)
            })
            .collect()
    };
    assert_eq!((report.targets, report.searched), (8, 8));
    assert_eq!(hits(&report), hits(&direct));
    assert_eq!(report.masks[0].mask_pixels, direct.masks[0].mask_pixels);
}
