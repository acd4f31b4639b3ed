//! Whole color depth search jobs through the real Lambda handlers, without AWS: the manager tree,
//! workers, monitor and combiner run as this crate's binaries under `cargo lambda watch`, on S3
//! and DynamoDB emulated by moto, with the monitor state machine run by burst's interpreter. The
//! ranked hits must equal the local runtime's for the same library layout, mask and parameters,
//! and the golden scores.
//!
//! The emulators come from `scripts/aws-test-env.sh install`; without them these tests fail,
//! unless `CDS_SKIP_EMULATOR_TESTS` is set.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burst::local::MemoryObjectStore;
use burst::{JobState, ObjectStore};
use cdsearch::job::{local_runtime, outcome_report, search_request, SearchJobParameters};
use cdsearch::results::SearchReport;
use cdsearch::store::upload::LibraryPlan;
use cdsearch::store::StoreResolver;
use serde_json::{json, Value};
use support::stack::{upload_inputs, LIBRARY_BUCKET, SEARCH_BUCKET};
use support::{Call, Stack, StackOptions, COMBINER, MANAGER, MONITOR, WORKER};

const MASK_KEY: &str = "masks/12191_JRC2018U.tif";
const LIBRARY_PREFIX: &str = "JRC2018_Unisex_20x_HR/sample";
/// Items per batch: the eight sample images make four batches, and with two manager levels a
/// tree of one root and two sub-managers.
const BATCH_SIZE: u64 = 2;
const JOB_TIMEOUT: Duration = Duration::from_secs(240);

fn mask_file() -> PathBuf {
    support::repo_root().join("sample/masks/12191_JRC2018U.tif")
}

/// The search: golden parameter set P2 of golden-scores.json (xyShift 2, mirror), NeuronBridge's
/// field names.
fn parameters(plan: &LibraryPlan) -> SearchJobParameters {
    serde_json::from_value(json!({
        "searchBucket": SEARCH_BUCKET,
        "maskKeys": [MASK_KEY],
        "maskThresholds": [20],
        "dataThreshold": 20,
        "pixColorFluctuation": 2.0,
        "xyShift": 2,
        "mirrorMask": true,
        "minMatchingPixRatio": 2.0,
        "maxResultsPerMask": 100,
        "libraries": [{
            "libraryName": "sample",
            "libraryBucket": LIBRARY_BUCKET,
            "searchedNeuronsFolder": plan.prefix,
            "lsize": plan.items.len(),
            "alignmentSpace": "JRC2018_Unisex_20x_HR"
        }]
    }))
    .expect("valid search parameters")
}

/// The manager's start event for the search: burst's job request, with the deployed names.
fn start_event(params: &SearchJobParameters) -> Value {
    let mut request = search_request(params, &Default::default(), BATCH_SIZE).expect("a valid job");
    request.worker_function_name = WORKER.into();
    request.combiner_function_name = COMBINER.into();
    request.num_levels = 2;
    request.search_timeout_secs = JOB_TIMEOUT.as_secs_f64();
    serde_json::to_value(request).expect("a JSON job request")
}

/// The same search on the local runtime (`cdsearch::job` on `burst::local`), reading the same
/// layout (same keys, same key-list order) from an in-memory object store.
async fn local_report(plan: &LibraryPlan, params: &SearchJobParameters) -> SearchReport {
    let store = Arc::new(MemoryObjectStore::default());
    upload_inputs(
        store.clone(),
        store.as_ref(),
        plan,
        &[(MASK_KEY, mask_file())],
    )
    .await;
    let shared: Arc<dyn ObjectStore> = store;
    let resolver = StoreResolver::new(move |_bucket| Ok(shared.clone()), 4);
    let runtime = local_runtime(Arc::new(resolver))
        .poll_interval(Duration::from_millis(20))
        .build()
        .expect("local runtime");
    let request = search_request(params, &Default::default(), BATCH_SIZE).expect("a valid job");
    let outcome = tokio::time::timeout(JOB_TIMEOUT, runtime.run(request))
        .await
        .expect("the local job ends")
        .expect("the local job runs");
    outcome_report(&outcome).expect("a local report")
}

/// Golden P2 scores of mask 12191_JRC2018U.tif, by target file name: (matching pixels, mirrored).
/// Derived images (`grad/`, `zgap/`, named as their targets) are left out.
fn golden_scores() -> HashMap<String, (i64, bool)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/cdm/golden-scores.json"
    );
    let text = std::fs::read_to_string(path).expect("golden-scores.json");
    let golden: Value = serde_json::from_str(&text).expect("golden-scores.json is JSON");
    golden["scores"]
        .as_array()
        .expect("a scores array")
        .iter()
        .filter(|s| {
            let target = s["target"].as_str().unwrap();
            s["params"] == "P2"
                && s["mask"].as_str().unwrap().ends_with("/12191_JRC2018U.tif")
                && !target.contains("/grad/")
                && !target.contains("/zgap/")
        })
        .map(|s| {
            let target = s["target"].as_str().unwrap();
            let name = target.rsplit('/').next().unwrap().to_owned();
            let pixels = s["matchingPixels"].as_i64().unwrap();
            (name, (pixels, s["bestScoreMirrored"].as_bool().unwrap()))
        })
        .collect()
}

/// Checks a report against the golden scores: every hit scores as golden, and every library
/// image golden puts over 2% of the mask's 10,299 pixels is a hit.
fn assert_golden(report: &SearchReport, plan: &LibraryPlan) {
    let golden = golden_scores();
    let file_name = |key: &str| key.rsplit('/').next().unwrap().to_owned();
    let hits = &report.masks[0].results;
    for hit in hits {
        let name = file_name(&hit.image_name);
        assert_eq!(
            golden.get(&name),
            Some(&(hit.matching_pixels, hit.mirrored)),
            "hit {}",
            hit.image_name
        );
    }
    let mut expected: Vec<String> = plan
        .items
        .iter()
        .map(|key| file_name(key))
        .filter(|name| golden[name].0 * 100 > 2 * 10_299)
        .collect();
    expected.sort();
    let mut found: Vec<String> = hits.iter().map(|h| file_name(&h.image_name)).collect();
    found.sort();
    assert_eq!(found, expected);
    assert_eq!(
        hits[0].matching_pixels, 10_299,
        "the mask's own image first"
    );
}

fn count(calls: &[Call], function: &str, invocation_type: &str, throttled: bool) -> usize {
    calls
        .iter()
        .filter(|c| {
            c.function == function
                && c.invocation_type == invocation_type
                && c.throttled == throttled
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_through_the_lambda_emulator_equals_the_local_runtime() {
    let plan = support::stack::sample_library(LIBRARY_PREFIX);
    let masks = [(MASK_KEY, mask_file())];
    let Some(stack) = Stack::start("full_job", StackOptions::default(), &plan, &masks).await else {
        return;
    };
    let params = parameters(&plan);
    let started = Instant::now();
    let run = stack.run(start_event(&params), JOB_TIMEOUT).await;
    eprintln!("job through the emulator: {:?}", started.elapsed());

    assert_eq!(run.dispatch["numBatches"], 4);
    assert_eq!(run.dispatch["branchingFactor"], 2);
    assert_eq!(run.output["state"], "succeeded", "{}", run.output);
    assert_eq!(run.outcome.state, JobState::Succeeded);
    assert_eq!(run.outcome.completed, 4);
    assert!(run.outcome.missing_batches.is_empty() && run.outcome.failed_batches.is_empty());
    let report = outcome_report(&run.outcome).expect("a search report");
    assert_eq!(report, local_report(&plan, &params).await);
    assert_golden(&report, &plan);
    assert_eq!((report.targets, report.searched), (8, 8));

    // The whole path ran through the emulator: the test's start call, two sub-managers, one
    // worker per batch, monitor polls and one combine, and the manager started the execution.
    let calls = stack.gateway.calls();
    assert_eq!(count(&calls, MANAGER, "RequestResponse", false), 1);
    assert_eq!(count(&calls, MANAGER, "Event", false), 2);
    assert_eq!(count(&calls, WORKER, "Event", false), 4);
    assert!(count(&calls, MONITOR, "RequestResponse", false) >= 1);
    assert_eq!(count(&calls, COMBINER, "RequestResponse", false), 1);
    assert!(calls.iter().all(|c| c.status == 200), "{calls:?}");
    assert_eq!(
        stack.sfn.started(),
        std::slice::from_ref(&run.outcome.job_id)
    );

    // The outcome's cost drivers equal what the test counted: invocations per function as the
    // emulator saw them, the workers' reads as the report adds them up, the transitions of the
    // polls it made.
    let usage = &run.outcome.usage;
    eprintln!(
        "usage: {}\ncostUsd: {}",
        serde_json::to_string(usage).unwrap(),
        serde_json::to_string(&run.outcome.cost_usd).unwrap()
    );
    let invocations = |role: &str| usage.functions.get(role).map_or(0, |f| f.invocations);
    assert_eq!(invocations("worker"), 4);
    assert_eq!(invocations("manager"), 3);
    let polls = count(&calls, MONITOR, "RequestResponse", false) as u64;
    assert_eq!(invocations("monitor"), polls);
    assert_eq!(invocations("combiner"), 1);
    assert_eq!(usage.s3_get_requests, report.reads.requests);
    assert_eq!(usage.s3_bytes_read, report.reads.bytes);
    assert_eq!(
        usage.state_transitions,
        polls * burst::cost::TRANSITIONS_PER_POLL + burst::cost::COMBINE_TRANSITIONS
    );
    assert!(
        usage.dynamodb_write_units >= 4.0,
        "one row per batch: {usage:?}"
    );
    assert_eq!(
        run.outcome.cost_usd,
        usage.cost(&burst::cost::Prices::default())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_invocations_are_retried_and_the_job_ends_with_the_same_hits() {
    let plan = support::stack::sample_library(LIBRARY_PREFIX);
    let masks = [(MASK_KEY, mask_file())];
    let options = StackOptions {
        // The first three worker invocations (from the sub-managers' LambdaInvoker) and the
        // first two monitor polls (from the state machine's Task) are throttled.
        throttle: vec![(WORKER, 3), (MONITOR, 2)],
        ..StackOptions::default()
    };
    let Some(stack) = Stack::start("throttled_job", options, &plan, &masks).await else {
        return;
    };
    let params = parameters(&plan);
    let run = stack.run(start_event(&params), JOB_TIMEOUT).await;

    assert_eq!(run.outcome.state, JobState::Succeeded);
    assert_eq!(run.outcome.completed, 4);
    let report = outcome_report(&run.outcome).expect("a search report");
    assert_eq!(report, local_report(&plan, &params).await);
    assert_golden(&report, &plan);

    let calls = stack.gateway.calls();
    assert_eq!(count(&calls, WORKER, "Event", true), 3);
    assert_eq!(
        count(&calls, WORKER, "Event", false),
        4,
        "each batch ran once"
    );
    assert_eq!(count(&calls, MONITOR, "RequestResponse", true), 2);
    assert!(count(&calls, MONITOR, "RequestResponse", false) >= 1);
    assert!(
        calls.iter().all(|c| c.throttled == (c.status == 429)),
        "{calls:?}"
    );
}

/// What the tests above rely on, and why the stack starts several manager instances: the
/// emulator answers an `Event` invocation only once an instance has run it, with the function's
/// own answer (a function error comes back as a bare 500), where AWS Lambda queues the event
/// and answers 202 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_answers_event_invocations_only_after_they_ran() {
    let Some(tools) = support::Tools::find("emulator_event_semantics") else {
        return;
    };
    let logs = support::stack::log_dir("emulator_event_semantics");
    let emulator = support::LambdaEmulator::start(&tools, &logs).await;
    let invoke = tokio::spawn(
        reqwest::Client::new()
            .post(format!(
                "{}/2015-03-31/functions/{MONITOR}/invocations",
                emulator.endpoint
            ))
            .header("X-Amz-Invocation-Type", "Event")
            .body(r#"{"not": "a monitor state"}"#)
            .send(),
    );
    let delay = Duration::from_secs(1);
    tokio::time::sleep(delay).await;
    assert!(!invoke.is_finished(), "answered before any instance ran");
    let started = Instant::now();
    // The monitor starts with a deployment's variables; this event fails before any I/O.
    let env: Vec<(String, String)> = [
        ("BURST_TASKS_TABLE", "t"),
        ("BURST_SEARCH_BUCKET", "b"),
        ("BURST_MANAGER_FUNCTION", MANAGER),
        ("BURST_MONITOR_FUNCTION", MONITOR),
        ("BURST_AWS_ENDPOINT", "http://127.0.0.1:9"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    emulator.start_function(MONITOR, &support::stack::executable(MONITOR), &env, 1);
    let answer = tokio::time::timeout(Duration::from_secs(30), invoke)
        .await
        .unwrap_or_else(|_| panic!("no answer\n{}", emulator.log_tails(20)))
        .unwrap()
        .expect("an HTTP answer");
    eprintln!(
        "answered {:?} after the instance started",
        started.elapsed()
    );
    assert_eq!(answer.status(), 500, "not 202: the function's error");
    assert!(answer.headers().get("x-amz-function-error").is_none());
    let body: Value = answer.json().await.expect("a JSON error");
    assert_eq!(body["errorType"], "Burst.Malformed", "{body}");
}

/// Per hit: (file name, matching pixels, mirrored), names without their folders.
fn hits_by_file(report: &SearchReport) -> Vec<(String, i64, bool)> {
    report.masks[0]
        .results
        .iter()
        .map(|h| {
            let name = h.image_name.rsplit('/').next().unwrap().to_owned();
            (name, h.matching_pixels, h.mirrored)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_stored_as_index_shards_is_searched_by_the_lambda_worker_with_ranged_reads() {
    use cdsearch::index::Codec;
    use cdsearch::store::describe_library;
    use cdsearch::store::index_upload::{upload_index, IndexSource, IndexUploadOptions};

    let plan = support::stack::sample_library(LIBRARY_PREFIX);
    let masks = [(MASK_KEY, mask_file())];
    let Some(stack) = Stack::start("index_job", StackOptions::default(), &plan, &masks).await
    else {
        return;
    };
    let library: Arc<dyn ObjectStore> = Arc::new(burst_aws::S3ObjectStore::new(
        &stack.backends.clients,
        LIBRARY_BUCKET,
    ));
    let entries = cdsearch::library::discover(&[support::repo_root().join("sample/library")])
        .expect("the sample library");
    let index_prefix = "JRC2018_Unisex_20x_HR/sample_index";
    let options = IndexUploadOptions {
        prefix: index_prefix.into(),
        shard_targets: 3,
        item_prefixes: 100,
        images: false,
        concurrency: 2,
    };
    let source = IndexSource::Images(&entries, Codec::Stored);
    upload_index(library.clone(), source, &options, Arc::new(|_| ()))
        .await
        .expect("index upload to moto");
    let mut params = parameters(&plan);
    params.libraries[0] =
        describe_library(library.as_ref(), LIBRARY_BUCKET, index_prefix, "sample")
            .await
            .expect("the index is described from its manifest");
    assert!(params.libraries[0].index.is_some());

    let run = stack.run(start_event(&params), JOB_TIMEOUT).await;
    assert_eq!(run.outcome.state, JobState::Succeeded, "{:?}", run.outcome);
    let report = outcome_report(&run.outcome).expect("a search report");
    assert_golden(&report, &plan);
    let images = local_report(&plan, &parameters(&plan)).await;
    assert_eq!(hits_by_file(&report), hits_by_file(&images));
    assert_eq!((report.targets, report.searched), (8, 8));
    // 4 batches of 2 over shards of 3: each reads its tables of contents and ranged pieces.
    assert!(
        report.reads.requests >= 4 && report.reads.requests <= 16,
        "{:?}",
        report.reads
    );
    assert!(report.reads.bytes > 0);
}
