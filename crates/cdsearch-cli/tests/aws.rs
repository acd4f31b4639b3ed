//! `cdsearch library upload|list` and `cdsearch submit` against moto (S3, DynamoDB, Lambda):
//! the sample library uploaded and resumed, listed, read back by the worker through a random
//! key-list copy with the same hits as a local search, and a submitted job started on the
//! stack's manager and followed to its outcome.

mod api_common;
#[path = "../../burst-aws/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use burst::{JobState, ObjectStore, TaskTable};
use burst_aws::stack::{
    Stack, StackFunctions, MANAGER_FUNCTION_VAR, MONITOR_FUNCTION_VAR, SEARCH_BUCKET_VAR,
    TASKS_TABLE_VAR,
};
use burst_aws::{AwsClients, DynamoTaskTable, S3ObjectStore};
use cds::pixel_match::MatchParams;
use cdsearch::job::{local_runtime, outcome_report, COMBINER_NAME, WORKER_NAME};
use cdsearch::library::{derived_name, discover, DerivedKind};
use cdsearch::results::SearchReport;
use cdsearch::search::{search, FileLibrary, Mask, SearchOptions};
use cdsearch::store::layout::{read_key_list, KEY_LIST_COPIES};
use cdsearch::store::upload::upload_library;
use cdsearch::store::StoreResolver;
use cdsearch_aws::{
    follow, library_parameters, name_masks, plan_library_upload, submit,
    submit::{job_request, mask_key},
    FollowOptions, Submission,
};
use common::{repo_root, Moto};

const LIBRARIES: &str = "libraries";
const SEARCHES: &str = "searches";
const TASKS: &str = "tasks";
const SAMPLE_PREFIX: &str = "JRC2018_Unisex/sample";
const STACK: &str = "cds";

fn sample(path: &str) -> PathBuf {
    repo_root().join("sample").join(path)
}

fn sample_masks() -> Vec<PathBuf> {
    vec![
        sample("masks/12191_JRC2018U.tif"),
        sample("masks/VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif"),
    ]
}

/// Runs the CLI with `args`, the endpoint of `moto` added.
fn cdsearch(moto: &Moto, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .args(args)
        .args(["--endpoint", &moto.endpoint])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("cannot run cdsearch");
    assert!(
        output.status.success(),
        "cdsearch {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

async fn create_buckets(clients: &AwsClients) {
    for bucket in [LIBRARIES, SEARCHES] {
        common::create_bucket(clients, bucket).await;
    }
}

/// The name of a hit's target in its library: its key without the library prefix and the
/// numbered prefix.
fn relative(key: &str) -> &str {
    let inside = key
        .strip_prefix(SAMPLE_PREFIX)
        .and_then(|k| k.strip_prefix('/'))
        .unwrap_or_else(|| panic!("{key} is not in {SAMPLE_PREFIX}"));
    inside.split_once('/').map_or(inside, |(_, name)| name)
}

/// Per mask: (mask pixels, hits as (target, matching pixels, ratio, mirrored)), names relative.
type Ranking = Vec<(usize, Vec<(String, i64, f64, bool)>)>;

fn ranking(report: &SearchReport, name: impl Fn(&str) -> &str) -> Ranking {
    report
        .masks
        .iter()
        .map(|m| {
            let hits = m
                .results
                .iter()
                .map(|h| {
                    (
                        name(&h.image_name).to_owned(),
                        h.matching_pixels,
                        h.matching_ratio,
                        h.mirrored,
                    )
                })
                .collect();
            (m.mask_pixels, hits)
        })
        .collect()
}

/// The sample search done locally, in one loop over the image files.
fn local_ranking(params: &MatchParams, top: usize) -> Ranking {
    let masks: Vec<Mask> = sample_masks()
        .iter()
        .map(|p| Mask::load(p, params).unwrap())
        .collect();
    let library = FileLibrary::new(discover(&[sample("library")]).unwrap());
    let options = SearchOptions {
        params: params.clone(),
        top,
    };
    let report = search(&masks, &library, &options, &());
    ranking(&report, str::trim)
}

#[tokio::test]
async fn library_upload_resumes_and_list_counts_the_images() {
    let moto = Moto::start().await;
    create_buckets(&moto.clients().await).await;
    let upload = |dir: &Path, prefix: &str, prefixes: &str| {
        let output = cdsearch(
            &moto,
            &[
                "library",
                "upload",
                dir.to_str().unwrap(),
                "--bucket",
                LIBRARIES,
                "--prefix",
                prefix,
                "--concurrency",
                "4",
                "--prefixes",
                prefixes,
            ],
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let first = upload(&sample("library"), SAMPLE_PREFIX, "100");
    assert!(
        first.contains("8 images; 8 files uploaded, 0 already there; 100 key-list copies written"),
        "{first}"
    );
    let again = upload(&sample("library"), SAMPLE_PREFIX, "100");
    assert!(
        again.contains("8 images; 0 files uploaded, 8 already there; 0 key-list copies written"),
        "a second upload resumes and sends nothing: {again}"
    );

    // Targets with derived images in the reference's sibling folders (grad/, zgap/).
    let lms = repo_root().join("fixtures/cdm/cdsearch/lms");
    let derived = upload(&lms, "JRC2018_Unisex/lm", "10");
    assert!(
        derived.contains("3 images; 7 files uploaded, 0 already there"),
        "3 targets, 3 gradients and 1 z-gap image: {derived}"
    );
    let clients = moto.clients().await;
    let store = S3ObjectStore::new(&clients, LIBRARIES);
    let keys = read_key_list(&store, "JRC2018_Unisex/lm", 17)
        .await
        .unwrap();
    let target = keys
        .iter()
        .find(|k| k.ends_with("/VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01.tif"))
        .unwrap();
    assert_eq!(
        store
            .get(&derived_name(target, DerivedKind::Gradient))
            .await
            .unwrap(),
        std::fs::read(
            repo_root().join(
                "fixtures/cdm/cdsearch/grad/VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01.png"
            )
        )
        .unwrap()
    );

    let sample_prefixes = {
        let plan = plan_library_upload(&sample("library"), SAMPLE_PREFIX, 100).unwrap();
        let mut numbers: Vec<String> = plan
            .items
            .iter()
            .map(|k| k[SAMPLE_PREFIX.len() + 1..][..2].to_owned())
            .collect();
        numbers.sort();
        numbers.dedup();
        numbers.len()
    };
    let listed = cdsearch(
        &moto,
        &["library", "list", "--bucket", LIBRARIES, "--format", "json"],
    );
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let lm_prefixes = listed[0]["itemPrefixes"].as_u64().unwrap();
    assert!((1..=3).contains(&lm_prefixes), "{listed}");
    assert_eq!(
        listed,
        serde_json::json!([
            {"prefix": "JRC2018_Unisex/lm", "form": "images", "images": 3, "indexShards": 0,
             "itemPrefixes": lm_prefixes,
             "keyListCopies": KEY_LIST_COPIES},
            {"prefix": SAMPLE_PREFIX, "form": "images", "images": 8, "indexShards": 0,
             "itemPrefixes": sample_prefixes, "keyListCopies": KEY_LIST_COPIES},
        ])
    );
    let table = cdsearch(
        &moto,
        &[
            "library",
            "list",
            "--bucket",
            LIBRARIES,
            "--prefix",
            SAMPLE_PREFIX,
        ],
    );
    let table = String::from_utf8_lossy(&table.stdout);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec!["library", "form", "images", "shards", "prefixes", "key", "lists"],
            vec![
                SAMPLE_PREFIX,
                "images",
                "8",
                "0",
                &sample_prefixes.to_string(),
                "100"
            ],
        ]
    );
}

/// Configures moto's Lambda to answer without Docker and creates the stack's functions, the
/// manager with the environment template.yaml gives it.
async fn deploy_stack(moto: &Moto, clients: &AwsClients) -> StackFunctions {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};

    let (status, _) = moto
        .api(
            "POST",
            "/moto-api/config",
            r#"{"lambda":{"use_docker":false}}"#,
        )
        .await;
    assert_eq!(status, 201);
    let role = create_role(moto, "cds-functions").await;
    let functions = StackFunctions::of_stack(STACK);
    // An empty zip archive: moto keeps the code, never runs it.
    let mut empty_zip = b"PK\x05\x06".to_vec();
    empty_zip.resize(22, 0);
    let environment = Environment::builder()
        .variables(TASKS_TABLE_VAR, TASKS)
        .variables(SEARCH_BUCKET_VAR, SEARCHES)
        .variables(MANAGER_FUNCTION_VAR, &functions.manager)
        .variables(MONITOR_FUNCTION_VAR, format!("{STACK}-monitor"))
        .build();
    for name in [&functions.manager, &functions.worker, &functions.combiner] {
        clients
            .lambda()
            .create_function()
            .function_name(name)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .role(&role)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(empty_zip.clone()))
                    .build(),
            )
            .environment(environment.clone())
            .send()
            .await
            .unwrap();
    }
    functions
}

/// Creates an IAM role in moto (its Lambda checks that a function's role exists) with a raw
/// query-protocol call; returns its ARN.
async fn create_role(moto: &Moto, name: &str) -> String {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let response = reqwest::Client::new()
        .post(&moto.endpoint)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .form(&[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", policy),
        ])
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    let arn = body
        .split("<Arn>")
        .nth(1)
        .and_then(|rest| rest.split("</Arn>").next())
        .unwrap_or_else(|| panic!("no role ARN in moto's answer: {body}"));
    arn.to_owned()
}

#[tokio::test]
async fn submit_starts_the_job_on_the_stack_s_manager() {
    let moto = Moto::start().await;
    let clients = moto.clients().await;
    create_buckets(&clients).await;
    deploy_stack(&moto, &clients).await;
    cdsearch(
        &moto,
        &[
            "library",
            "upload",
            sample("library").to_str().unwrap(),
            "--bucket",
            LIBRARIES,
            "--prefix",
            SAMPLE_PREFIX,
        ],
    );
    let masks = sample_masks();
    let output = cdsearch(
        &moto,
        &[
            "submit",
            "--mask",
            masks[0].to_str().unwrap(),
            "--mask",
            masks[1].to_str().unwrap(),
            "--library",
            SAMPLE_PREFIX,
            "--bucket",
            LIBRARIES,
            "--stack",
            STACK,
            "--xy-shift",
            "2",
        ],
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let job_id = answer["jobId"].as_str().unwrap();
    assert_eq!(answer["searchBucket"], SEARCHES);
    assert_eq!(answer["tasksTable"], TASKS);
    assert_eq!(answer["outcomeKey"], format!("jobs/{job_id}/outcome.json"));
    let searches = S3ObjectStore::new(&clients, SEARCHES);
    for (i, mask) in masks.iter().enumerate() {
        let key = mask_key(job_id, i, mask.to_str().unwrap());
        assert_eq!(
            searches.get(&key).await.unwrap(),
            std::fs::read(mask).unwrap(),
            "{key}"
        );
    }

    let missing = Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .args(["submit", "--mask", masks[0].to_str().unwrap()])
        .args(["--library", "JRC2018_Unisex/none", "--bucket", LIBRARIES])
        .args(["--stack", STACK, "--endpoint", &moto.endpoint])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        stderr.contains("library JRC2018_Unisex/none in bucket libraries"),
        "{stderr}"
    );
    let no_stack = Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .args(["submit", "--mask", masks[0].to_str().unwrap()])
        .args(["--library", SAMPLE_PREFIX, "--bucket", LIBRARIES])
        .args(["--stack", "nostack", "--endpoint", &moto.endpoint])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&no_stack.stderr);
    assert!(!no_stack.status.success());
    assert!(stderr.contains("nostack-manager"), "{stderr}");
}

/// The deployed stack's part, played by the test: runs the job on the local runtime, with the
/// search worker reading masks and library from moto's S3 through the `StoreResolver` (a
/// random key-list copy per batch), then stores its outcome and status where the stack's
/// combiner does (search bucket, task table). Returns the outcome.
async fn play_stack(
    clients: &AwsClients,
    tasks: &DynamoTaskTable,
    request: burst::JobRequest,
) -> burst::JobOutcome {
    let stores = clients.clone();
    let resolver = StoreResolver::new(
        move |bucket: &str| {
            Ok(Arc::new(S3ObjectStore::new(&stores, bucket)) as Arc<dyn ObjectStore>)
        },
        8,
    );
    let runtime = local_runtime(Arc::new(resolver))
        .poll_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let job_id = request.job_id.clone().unwrap();
    let outcome = runtime.run(request).await.unwrap();
    assert_eq!(outcome.state, JobState::Succeeded, "{outcome:?}");
    let status = runtime
        .backends()
        .tasks
        .get_status(&job_id)
        .await
        .unwrap()
        .unwrap();
    let outcome_key = status.outcome_key.clone().unwrap();
    S3ObjectStore::new(clients, SEARCHES)
        .put(&outcome_key, serde_json::to_vec(&outcome).unwrap())
        .await
        .unwrap();
    tasks.put_status(&status).await.unwrap();
    outcome
}

/// A job submitted with the library functions and followed while the test plays the stack
/// ([`play_stack`]): the same hits as a local search.
#[tokio::test]
async fn a_submitted_job_is_followed_to_the_hits_of_a_local_search() {
    let moto = Moto::start().await;
    let clients = moto.clients().await;
    create_buckets(&clients).await;
    let tasks = DynamoTaskTable::new(&clients, TASKS);
    tasks.create_table().await.unwrap();
    let functions = deploy_stack(&moto, &clients).await;
    assert_eq!(
        (functions.worker.as_str(), functions.combiner.as_str()),
        (WORKER_NAME, COMBINER_NAME),
        "the local runtime runs the job under the stack's function names"
    );
    let stack = Stack::discover(&clients, functions).await.unwrap();
    assert_eq!(stack.search_bucket, SEARCHES);

    let libraries: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&clients, LIBRARIES));
    let plan = plan_library_upload(&sample("library"), SAMPLE_PREFIX, 100).unwrap();
    upload_library(libraries.clone(), &plan, 4, Arc::new(|_| {}))
        .await
        .unwrap();

    let params = MatchParams {
        xy_shift: 2,
        mirror_mask: true,
        ..MatchParams::default()
    };
    let top = 5;
    let names: Vec<String> = sample_masks()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let submission = Submission {
        masks: sample_masks()
            .iter()
            .zip(&names)
            .map(|(p, n)| (n.clone(), std::fs::read(p).unwrap()))
            .collect(),
        params: params.clone(),
        top,
        libraries: vec![
            library_parameters(libraries.as_ref(), LIBRARIES, SAMPLE_PREFIX)
                .await
                .unwrap(),
        ],
        batch_size: Some(3),
        shape: Default::default(),
    };
    assert_eq!(submission.libraries[0].lsize, 8);
    let request = submit(&clients, &stack, &submission).await.unwrap();
    let job_id = request.job_id.clone().unwrap();

    let options = FollowOptions {
        poll: Duration::from_millis(200),
        start_timeout: Duration::from_secs(60),
        timeout: Duration::from_secs(120),
    };
    let following = {
        let (clients, stack, job_id) = (clients.clone(), stack.clone(), job_id.clone());
        tokio::spawn(async move { follow(&clients, &stack, &job_id, &options, |_| {}).await })
    };

    let outcome = play_stack(&clients, &tasks, request).await;
    assert_eq!(outcome.num_batches, 3);

    let followed = following.await.unwrap().unwrap();
    assert_eq!(followed, outcome);
    let mut report = outcome_report(&followed).unwrap();
    name_masks(&mut report, &names);
    assert_eq!(
        report.masks.iter().map(|m| &m.mask_id).collect::<Vec<_>>(),
        names.iter().collect::<Vec<_>>()
    );
    assert_eq!(report.targets, 8);
    assert_eq!(report.searched, 8);
    let remote = ranking(&report, relative);
    assert_eq!(remote, local_ranking(&params, top));
    assert_eq!(
        remote[0].1[0].0, "12191_JRC2018U.tif",
        "each mask finds itself first"
    );
    assert_eq!(
        remote[1].1[0].0,
        "VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif"
    );
}

/// `cdsearch submit --wait`: the CLI follows the job the test runs for the stack (rebuilt from
/// the job id the CLI reports and the same flags) and prints the hits of a local search, masks
/// named as given.
#[tokio::test]
async fn submit_wait_prints_the_ranked_hits() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let moto = Moto::start().await;
    let clients = moto.clients().await;
    create_buckets(&clients).await;
    let tasks = DynamoTaskTable::new(&clients, TASKS);
    tasks.create_table().await.unwrap();
    let stack = Stack::discover(&clients, deploy_stack(&moto, &clients).await)
        .await
        .unwrap();
    let libraries = S3ObjectStore::new(&clients, LIBRARIES);
    let plan = plan_library_upload(&sample("library"), SAMPLE_PREFIX, 100).unwrap();
    upload_library(Arc::new(libraries.clone()), &plan, 4, Arc::new(|_| {}))
        .await
        .unwrap();

    let masks = sample_masks();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .args(["submit", "--wait", "--format", "json", "--top", "5"])
        .args(["--xy-shift", "2", "--mirror", "--batch-size", "4"])
        .args(["--mask", masks[0].to_str().unwrap()])
        .args(["--mask", masks[1].to_str().unwrap()])
        .args([
            "--library",
            SAMPLE_PREFIX,
            "--bucket",
            LIBRARIES,
            "--stack",
            STACK,
        ])
        .args(["--endpoint", &moto.endpoint])
        .env_remove("AWS_ACCESS_KEY_ID")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let job_id = line
        .strip_prefix("job ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no job id in {line:?}"))
        .to_owned();
    assert!(line.contains("started on cds-manager"), "{line}");

    let params = MatchParams {
        xy_shift: 2,
        mirror_mask: true,
        ..MatchParams::default()
    };
    let names: Vec<String> = masks.iter().map(|p| p.display().to_string()).collect();
    let submission = Submission {
        masks: Vec::new(),
        params: params.clone(),
        top: 5,
        libraries: vec![library_parameters(&libraries, LIBRARIES, SAMPLE_PREFIX)
            .await
            .unwrap()],
        batch_size: Some(4),
        shape: Default::default(),
    };
    let keys = names
        .iter()
        .enumerate()
        .map(|(i, name)| mask_key(&job_id, i, name))
        .collect();
    let request = job_request(&stack, &job_id, &submission, keys).unwrap();
    assert_eq!(play_stack(&clients, &tasks, request).await.num_batches, 2);

    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: SearchReport = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report.masks.iter().map(|m| &m.mask_id).collect::<Vec<_>>(),
        names.iter().collect::<Vec<_>>()
    );
    assert_eq!(ranking(&report, relative), local_ranking(&params, 5));
}

/// The ranking of `cdsearch search --format json` over `library` (the sample masks, P2 flags)
/// and the report's JSON.
fn cli_ranking(moto: &Moto, library: &str, extra: &[&str]) -> (Ranking, serde_json::Value) {
    let masks: Vec<String> = sample_masks()
        .iter()
        .map(|m| m.to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["search", "--library", library, "--format", "json"];
    for mask in &masks {
        args.extend(["--mask", mask]);
    }
    args.extend(["--xy-shift", "2", "--mirror", "--mask-threshold", "20"]);
    args.extend(["--data-threshold", "20"]);
    args.extend(extra);
    let out = cdsearch(moto, &args);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let report: SearchReport = serde_json::from_value(json.clone()).expect("a search report");
    (ranking(&report, |name| name), json)
}

#[tokio::test]
async fn a_library_in_a_bucket_is_searched_from_here_in_either_form() {
    let moto = Moto::start().await;
    create_buckets(&moto.clients().await).await;
    let dir = sample("library");
    let index_dir = tempfile::tempdir().unwrap();
    let index = index_dir.path().join("sample.cdsindex");
    let (dir_arg, index_arg) = (dir.to_str().unwrap(), index.to_str().unwrap());
    let built = Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .args(["library", "index", dir_arg, "--out", index_arg])
        .output()
        .unwrap();
    assert!(built.status.success());
    let upload = |source: &str, prefix: &str, format: &str| {
        let args = [
            "library",
            "upload",
            source,
            "--bucket",
            LIBRARIES,
            "--prefix",
            prefix,
            "--format",
            format,
            "--shard-targets",
            "3",
        ];
        String::from_utf8_lossy(&cdsearch(&moto, &args).stderr).into_owned()
    };
    upload(dir_arg, "lib/images", "images");
    upload(dir_arg, "lib/both", "both");
    upload(index_arg, "lib/index", "index");
    let again = upload(index_arg, "lib/index", "index");
    assert!(again.contains("0 shards uploaded"), "resumes: {again}");

    let listed = cdsearch(
        &moto,
        &["library", "list", "--bucket", LIBRARIES, "--format", "json"],
    );
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let forms: Vec<(String, String, u64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let text = |field: &str| l[field].as_str().unwrap().to_owned();
            (
                text("prefix"),
                text("form"),
                l["indexShards"].as_u64().unwrap(),
            )
        })
        .collect();
    let count = discover(std::slice::from_ref(&dir)).unwrap().len() as u64;
    let shards = count.div_ceil(3);
    assert_eq!(
        forms,
        vec![
            ("lib/both".into(), "index+images".into(), shards),
            ("lib/images".into(), "images".into(), 0),
            ("lib/index".into(), "index".into(), shards),
        ]
    );

    let (local, _) = cli_ranking(&moto, dir_arg, &[]);
    let (from_index, json) = cli_ranking(&moto, &format!("s3://{LIBRARIES}/lib/index"), &[]);
    assert_eq!(
        from_index, local,
        "the index in the bucket ranks as the directory"
    );
    assert!(json["reads"]["requests"].as_u64().unwrap() > 0);
    assert!(json["reads"]["bytes"].as_u64().unwrap() > 0);
    let both = format!("s3://{LIBRARIES}/lib/both");
    let (from_both, _) = cli_ranking(&moto, &both, &["--batch-size", "2"]);
    assert_eq!(from_both, local);
    let (from_images, json) = cli_ranking(&moto, &format!("s3://{LIBRARIES}/lib/images/"), &[]);
    let item_name = |key: &str| {
        let inside = key
            .strip_prefix("lib/images/")
            .expect("a key of the library");
        inside
            .split_once('/')
            .map_or(inside, |(_, name)| name)
            .to_owned()
    };
    let images: Ranking = from_images
        .into_iter()
        .map(|(pixels, hits)| {
            let hits = hits
                .into_iter()
                .map(|(key, m, r, mirrored)| (item_name(&key), m, r, mirrored))
                .collect();
            (pixels, hits)
        })
        .collect();
    assert_eq!(
        images, local,
        "the images in the bucket rank as the directory"
    );
    assert!(
        json["reads"]["requests"].as_u64().unwrap() > count,
        "a GET per image"
    );

    let missing = Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .args([
            "search",
            "--library",
            &format!("s3://{LIBRARIES}/lib/none"),
            "--mask",
        ])
        .arg(&sample_masks()[0])
        .args(["--endpoint", &moto.endpoint])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("lib/none") && err.contains("manifest") && err.contains("key list"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_searches_a_library_in_a_bucket_as_its_directory() {
    use api_common::{
        cli_hits, config, job_runner, mask_bytes, page_hits, submitted_id, TestServer, ALICE, MASK,
    };
    use cdsearch_service::{Limits, StoreLibrary};

    let moto = Moto::start().await;
    let clients = moto.clients().await;
    create_buckets(&clients).await;
    let dir = sample("library");
    cdsearch(
        &moto,
        &[
            "library",
            "upload",
            dir.to_str().unwrap(),
            "--bucket",
            LIBRARIES,
            "--prefix",
            "lib/both",
            "--format",
            "both",
            "--shard-targets",
            "3",
        ],
    );
    let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&clients, LIBRARIES));
    let params = cdsearch::store::describe_library(store.as_ref(), LIBRARIES, "lib/both", "cloud")
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = config(data.path(), Limits::default());
    config.libraries.clear();
    config.store_libraries.push(StoreLibrary { params, store });
    let server = TestServer::open(config, job_runner(data.path())).await;

    let libraries = server.get_json(ALICE, "/libraries").await;
    assert_eq!(libraries[0]["name"], "cloud");
    assert_eq!(libraries[0]["imageCount"], 8);
    let r = server
        .submit(
            ALICE,
            &serde_json::json!({"libraries": ["cloud"]}),
            &[(MASK, mask_bytes(MASK))],
        )
        .await;
    let id = submitted_id(r).await;
    let done = server.wait(ALICE, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    let results = server
        .get_json(ALICE, &format!("/searches/{id}/results"))
        .await;
    let mask = &results["masks"][0];
    assert_eq!(
        page_hits(mask),
        cli_hits(MASK, 500),
        "as `cdsearch search` over the directory"
    );
    assert_eq!(mask["results"][0]["libraryName"], "cloud");
    let image = server
        .get(ALICE, "/libraries/cloud/thumbnails/12191_JRC2018U.tif")
        .await;
    assert_eq!(
        image.status(),
        200,
        "the images beside the index serve thumbnails"
    );
}
