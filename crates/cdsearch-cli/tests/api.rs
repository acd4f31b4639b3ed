//! The HTTP API over real HTTP on 127.0.0.1: searches give what
//! `cdsearch search` gives, every validation error is named, idempotency,
//! auth, limits, concurrent submissions, statuses and restarts.

mod api_common;
mod shape_common;

use api_common::*;
use cdsearch::progress::Progress;
use cdsearch_service::model::SearchOutcome;
use cdsearch_service::runner::{RunError, SearchJob};
use cdsearch_service::{Limits, SearchRunner};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Uploaded masks: file name and bytes.
type Uploads = Vec<(&'static str, Vec<u8>)>;

fn sample_params() -> Value {
    json!({"libraries": ["sample"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_mask_gives_the_cli_ranking() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let r = server
        .submit(ALICE, &sample_params(), &[(MASK, mask_bytes(MASK))])
        .await;
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let submitted: Value = r.json().await.unwrap();
    let id = submitted["id"].as_str().unwrap();
    assert_eq!(location, format!("/searches/{id}"));
    assert_eq!(submitted["params"]["maskThresholds"], json!([100]));
    assert_eq!(submitted["params"]["maxResultsPerMask"], 500);

    let done = server.wait(ALICE, id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["progress"]["batchesDone"], 8);
    assert_eq!(done["progress"]["batchesTotal"], 8);
    assert!(done["elapsedSecs"].as_f64().unwrap() > 0.0);

    let results = server
        .get_json(ALICE, &format!("/searches/{id}/results"))
        .await;
    let mask = &results["masks"][0];
    assert_eq!(mask["mask"]["name"], MASK);
    assert_eq!(mask["maskPixels"], 10299);
    let hits = page_hits(mask);
    assert_eq!(hits[0], ("12191_JRC2018U.tif".to_owned(), 10299));
    assert_eq!(hits[1], ("12191_JRC2018U_FL.tif".to_owned(), 8426));
    assert_eq!(hits, cli_hits(MASK, 500));
    assert_eq!(results["targets"], 8);
    let top = &mask["results"][0];
    assert_eq!(top["rank"], 1);
    assert_eq!(top["libraryName"], "sample");
    assert_eq!(top["matchingRatio"], 1.0);
    assert_eq!(
        top["thumbnailURL"],
        "/libraries/sample/thumbnails/12191_JRC2018U.tif"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_masks_json_body_pages_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let r = server
        .client
        .post(server.url("/searches"))
        .bearer_auth(ALICE)
        .json(&json!({"libraries": ["sample"], "maskRefs": [MASK]}))
        .send()
        .await
        .unwrap();
    let id = submitted_id(r).await;
    assert_eq!(server.wait(ALICE, &id).await["status"], "done");
    let expected = cli_hits(MASK, 500);

    let page2 = server
        .get_json(ALICE, &format!("/searches/{id}/results?page=2&perPage=2"))
        .await;
    assert_eq!(page2["pages"], 3);
    assert_eq!(page2["masks"][0]["totalHits"], expected.len());
    assert_eq!(page_hits(&page2["masks"][0]), expected[2..4]);
    assert_eq!(page2["masks"][0]["results"][0]["rank"], 3);

    let r = server
        .get(ALICE, &format!("/searches/{id}/results?format=csv"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "mask,rank,target,matchingPixels,matchingRatio,mirrored,library"
    );
    assert_eq!(
        lines[1],
        format!("{MASK},1,12191_JRC2018U.tif,10299,1,false,sample")
    );
    assert_eq!(lines.len(), expected.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_validation_error_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_masks: 2,
        submit_burst: 100,
        ..Limits::default()
    };
    let server = TestServer::start(dir.path(), limits).await;
    let mask = mask_bytes(MASK);

    let bad = json!({
        "libraries": ["sample", "nope"],
        "maskRefs": ["missing.tif"],
        "maskThresholds": [1, 2, 3],
        "dataThreshold": 256,
        "pixColorFluctuation": -1,
        "xyShift": 1,
        "mirrorMask": "yes",
        "minMatchingPixRatio": 150,
        "maxResultsPerMask": 0,
        "colour": "red"
    });
    let fields = bad_fields(server.submit(ALICE, &bad, &[(MASK, mask.clone())]).await).await;
    assert_eq!(
        fields,
        [
            "colour",
            "libraries[1]",
            "maskRefs[0]",
            "maskThresholds",
            "dataThreshold",
            "pixColorFluctuation",
            "xyShift",
            "mirrorMask",
            "minMatchingPixRatio",
            "maxResultsPerMask"
        ]
    );

    let cases: Vec<(Value, Uploads, Vec<&str>)> = vec![
        (json!({}), vec![(MASK, mask.clone())], vec!["libraries"]),
        (
            json!({"libraries": []}),
            vec![(MASK, mask.clone())],
            vec!["libraries"],
        ),
        (sample_params(), vec![], vec!["masks"]),
        (
            sample_params(),
            vec![
                ("a.tif", mask.clone()),
                ("b.tif", mask.clone()),
                ("c.tif", mask.clone()),
            ],
            vec!["masks"],
        ),
        (
            json!({"libraries": ["sample"], "maskThreshold": 1, "maskThresholds": [1]}),
            vec![(MASK, mask.clone())],
            vec!["maskThresholds"],
        ),
        (
            json!({"libraries": ["sample"], "maskThresholds": [1, 999]}),
            vec![("a.tif", mask.clone()), ("b.tif", mask.clone())],
            vec!["maskThresholds[1]"],
        ),
        (
            json!({"libraries": ["sample"], "maskThreshold": "high"}),
            vec![(MASK, mask.clone())],
            vec!["maskThreshold"],
        ),
        (
            json!({"libraries": "sample"}),
            vec![(MASK, mask.clone())],
            vec!["libraries"],
        ),
        (
            json!({"libraries": ["sample"], "maskRefs": [MASK, MASK]}),
            vec![],
            vec!["maskRefs[1]"],
        ),
        (
            sample_params(),
            vec![("junk.png", b"not an image".to_vec())],
            vec!["mask[0]"],
        ),
        (json!([1, 2]), vec![(MASK, mask.clone())], vec!["body"]),
    ];
    for (params, masks, expected) in cases {
        let fields = bad_fields(server.submit(ALICE, &params, &masks).await).await;
        assert_eq!(fields, expected, "params {params}");
    }

    let form = reqwest::multipart::Form::new()
        .text("params", "{not json")
        .text("extra", "1");
    let r = server
        .client
        .post(server.url("/searches"))
        .bearer_auth(ALICE)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad_fields(r).await,
        ["params", "extra", "libraries", "masks"]
    );

    let r = server
        .client
        .post(server.url("/searches"))
        .bearer_auth(ALICE)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "no media type");
    let refused: Value = r.json().await.unwrap();
    assert_eq!(refused["error"], "unsupported_media_type");
    let r = server
        .client
        .post(server.url("/searches"))
        .bearer_auth(ALICE)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_fields(r).await, ["body"]);
    let r = server
        .client
        .post(server.url("/searches"))
        .bearer_auth(ALICE)
        .header("idempotency-key", "has space")
        .json(&json!({"libraries": ["sample"], "maskRefs": [MASK]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_fields(r).await, ["Idempotency-Key"]);

    let r = server
        .get(ALICE, "/libraries/sample/thumbnails/testMIP.png?size=5")
        .await;
    assert_eq!(bad_fields(r).await, ["size"]);
    let r = server.get(ALICE, "/searches").await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!([]),
        "no invalid request created a search"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_returns_the_same_search() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let post = |key: &'static str, body: Value| {
        server
            .client
            .post(server.url("/searches"))
            .bearer_auth(ALICE)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let body = json!({"libraries": ["sample"], "maskRefs": [MASK]});
    let first = post("retry-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let second = post("retry-1", body.clone()).await.unwrap();
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    let other = post(
        "retry-1",
        json!({"libraries": ["sample"], "maskRefs": [MASK], "xyShift": 2}),
    )
    .await
    .unwrap();
    assert_eq!(other.status(), 422);
    assert_eq!(
        other.json::<Value>().await.unwrap()["error"],
        "idempotency_key_reused"
    );
    let list = server.get_json(ALICE, "/searches").await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "one job for the retried submission"
    );
    // Keys are per user: Bob's same key is a different search.
    let bob = server
        .client
        .post(server.url("/searches"))
        .bearer_auth(BOB)
        .header("idempotency-key", "retry-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(bob.status(), 202);
    assert_ne!(bob.json::<Value>().await.unwrap()["id"], first["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_required_and_users_see_only_their_searches() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    for path in [
        "/searches",
        "/libraries",
        "/masks",
        "/libraries/sample/images/testMIP.png",
    ] {
        let r = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");
        let r = server.get("wrong-key-123", path).await;
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = server
        .submit(ALICE, &sample_params(), &[(MASK, mask_bytes(MASK))])
        .await;
    let id = submitted_id(r).await;
    for path in [
        format!("/searches/{id}"),
        format!("/searches/{id}/results"),
        format!("/searches/{id}/masks/0/image"),
    ] {
        let r = server.get(BOB, &path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    }
    assert_eq!(server.get_json(BOB, "/searches").await, json!([]));
    assert_eq!(
        server.get_json(ALICE, "/searches").await[0]["id"],
        id.as_str()
    );
    // The token may also come as a query parameter (for <img> links).
    let r = server
        .client
        .get(server.url(&format!(
            "/searches/{id}/masks/0/thumbnail?size=64&access_token={ALICE}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_give_clear_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_upload_bytes: 100_000,
        submit_burst: 3,
        submits_per_minute: 1,
        ..Limits::default()
    };
    let server = TestServer::start(dir.path(), limits).await;
    let big = mask_bytes("VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif");
    assert!(big.len() > 100_000);
    let r = server
        .submit(ALICE, &sample_params(), &[("big.tif", big)])
        .await;
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");
    assert!(
        body["message"].as_str().unwrap().contains("100000 bytes"),
        "{body}"
    );

    // The 413 came before the handler (from Content-Length): no submission
    // was counted, so the whole burst of 3 remains.
    let body = json!({"libraries": ["sample"], "maskRefs": [MASK]});
    for _ in 0..3 {
        let r = server
            .client
            .post(server.url("/searches"))
            .bearer_auth(ALICE)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let r = server
        .client
        .post(server.url("/searches"))
        .bearer_auth(ALICE)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "rate_limited");
    let r = server
        .client
        .post(server.url("/searches"))
        .bearer_auth(BOB)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "limits are per key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_all_finish_with_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(TestServer::start(dir.path(), Limits::default()).await);
    let expected = cli_hits(MASK, 500);
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let key = if i % 2 == 0 { ALICE } else { BOB };
                let r = server
                    .submit(key, &sample_params(), &[(MASK, mask_bytes(MASK))])
                    .await;
                let id = submitted_id(r).await;
                assert_eq!(server.wait(key, &id).await["status"], "done");
                let results = server
                    .get_json(key, &format!("/searches/{id}/results"))
                    .await;
                (id, page_hits(&results["masks"][0]))
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        let (id, hits) = task.await.unwrap();
        assert_eq!(hits, expected);
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6);
    assert_eq!(
        server
            .get_json(ALICE, "/searches")
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_searches_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let r = server
        .submit(ALICE, &sample_params(), &[(MASK, mask_bytes(MASK))])
        .await;
    let id = submitted_id(r).await;
    assert_eq!(server.wait(ALICE, &id).await["status"], "done");
    let before = server
        .get_json(ALICE, &format!("/searches/{id}/results"))
        .await;
    server.stop();

    let again = TestServer::start(dir.path(), Limits::default()).await;
    let s = again.get_json(ALICE, &format!("/searches/{id}")).await;
    assert_eq!(s["status"], "done");
    assert_eq!(s["progress"]["batchesDone"], 8);
    let after = again
        .get_json(ALICE, &format!("/searches/{id}/results"))
        .await;
    assert_eq!(after, before);
    let mask = again
        .get(ALICE, &format!("/searches/{id}/masks/0/image"))
        .await;
    assert_eq!(mask.status(), 200);
}

/// A runner that fails every search.
struct Failing;

impl SearchRunner for Failing {
    fn run(&self, job: &SearchJob, _progress: &dyn Progress) -> Result<SearchOutcome, RunError> {
        Err(RunError::Failed(format!(
            "library {} is offline",
            job.params.libraries[0]
        )))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_timed_out_searches_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_runner(dir.path(), Limits::default(), Arc::new(Failing)).await;
    let r = server
        .submit(ALICE, &sample_params(), &[(MASK, mask_bytes(MASK))])
        .await;
    let id = submitted_id(r).await;
    let s = server.wait(ALICE, &id).await;
    assert_eq!(s["status"], "failed");
    assert_eq!(s["errors"], json!(["library sample is offline"]));
    let r = server.get(ALICE, &format!("/searches/{id}/results")).await;
    assert_eq!(r.status(), 409);
    server.stop();

    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        search_timeout: Duration::ZERO,
        ..Limits::default()
    };
    let server = TestServer::start(dir.path(), limits).await;
    let r = server
        .submit(ALICE, &sample_params(), &[(MASK, mask_bytes(MASK))])
        .await;
    let id = submitted_id(r).await;
    let s = server.wait(ALICE, &id).await;
    assert_eq!(s["status"], "timed_out");
    assert!(
        s["errors"][0].as_str().unwrap().contains("time-out of 0 s"),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libraries_masks_images_and_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    assert_eq!(
        server.get_json(ALICE, "/libraries").await,
        json!([{"name": "sample", "imageCount": 8}])
    );
    let masks = server.get_json(ALICE, "/masks").await;
    let names: Vec<&str> = masks
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [MASK, "VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif"]
    );

    let png =
        |bytes: &[u8]| image::load_from_memory_with_format(bytes, image::ImageFormat::Png).unwrap();
    let r = server
        .get(ALICE, &format!("/libraries/sample/images/{MASK}"))
        .await;
    assert_eq!(r.headers()["content-type"], "image/png");
    let full = png(&r.bytes().await.unwrap());
    assert_eq!((full.width(), full.height()), (1210, 566));
    let r = server
        .get(
            ALICE,
            &format!("/libraries/sample/thumbnails/{MASK}?size=121"),
        )
        .await;
    let thumb = png(&r.bytes().await.unwrap());
    assert_eq!((thumb.width(), thumb.height()), (121, 57));
    let r = server
        .get(ALICE, &format!("/masks/thumbnails/{MASK}"))
        .await;
    assert_eq!(png(&r.bytes().await.unwrap()).width(), 256);
    let r = server
        .get(ALICE, "/libraries/sample/images/..%2F..%2FCargo.toml")
        .await;
    assert_eq!(r.status(), 404);
    let r = server.get(ALICE, "/libraries/other/images/x.png").await;
    assert_eq!(r.status(), 404);

    let doc = server.openapi().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/searches",
        "/searches/{id}",
        "/searches/{id}/results",
        "/libraries",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["SearchRequest"]["properties"]["xyShift"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let page = server
        .client
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<script src=\"/app.js\""));
}

/// A runner whose searches never end (the server "stops" while they run).
struct Stuck;

impl SearchRunner for Stuck {
    fn run(&self, _job: &SearchJob, _progress: &dyn Progress) -> Result<SearchOutcome, RunError> {
        loop {
            std::thread::park();
        }
    }
}

/// Polls until the search is running.
async fn wait_running(server: &TestServer, id: &str) {
    for _ in 0..400 {
        let s = server.get_json(ALICE, &format!("/searches/{id}")).await;
        if s["status"] == "running" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("search {id} never started running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_running_at_a_restart_is_marked_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_runner(dir.path(), Limits::default(), Arc::new(Stuck)).await;
    let r = server
        .submit(ALICE, &sample_params(), &[(MASK, mask_bytes(MASK))])
        .await;
    let id = submitted_id(r).await;
    wait_running(&server, &id).await;
    server.stop();

    let again = TestServer::start(dir.path(), Limits::default()).await;
    let s = again.wait(ALICE, &id).await;
    assert_eq!(s["status"], "failed", "{s}");
    assert_eq!(
        s["errors"],
        json!(["interrupted: the server stopped while this search was running; submit it again"])
    );
    let r = again.get(ALICE, &format!("/searches/{id}/results")).await;
    assert_eq!(r.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_ended_while_the_server_was_down_gives_its_results_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let r = server
        .submit(ALICE, &sample_params(), &[(MASK, mask_bytes(MASK))])
        .await;
    let id = submitted_id(r).await;
    assert_eq!(server.wait(ALICE, &id).await["status"], "done");
    let before = server
        .get_json(ALICE, &format!("/searches/{id}/results"))
        .await;
    server.stop();

    // As if the server had stopped after the job ended but before it stored
    // the search's results: the record says running, no results file.
    let search_dir = dir.path().join("searches").join(&id);
    let record_path = search_dir.join("search.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    record["status"] = json!("running");
    record["finishedMs"] = Value::Null;
    std::fs::write(&record_path, record.to_string()).unwrap();
    std::fs::remove_file(search_dir.join("results.json")).unwrap();

    let again = TestServer::start(dir.path(), Limits::default()).await;
    let s = again.wait(ALICE, &id).await;
    assert_eq!(s["status"], "done", "{s}");
    assert_eq!(s["progress"], json!({"batchesDone": 8, "batchesTotal": 8}));
    let after = again
        .get_json(ALICE, &format!("/searches/{id}/results"))
        .await;
    assert_eq!(after, before);
}

/// The configuration of the tests with the sample library offered twice.
fn two_libraries(data_dir: &std::path::Path) -> cdsearch_service::ApiConfig {
    let mut config = config(data_dir, Limits::default());
    config
        .libraries
        .push(("copy".into(), vec![crate_path("../../sample/library")]));
    config
}

/// Runs one search over both libraries and returns its first results page.
async fn search_two_libraries(server: &TestServer) -> Value {
    let params = json!({"libraries": ["copy", "sample"], "maxResultsPerMask": 5});
    let r = server
        .submit(ALICE, &params, &[(MASK, mask_bytes(MASK))])
        .await;
    let id = submitted_id(r).await;
    assert_eq!(server.wait(ALICE, &id).await["status"], "done");
    let mut results = server
        .get_json(ALICE, &format!("/searches/{id}/results"))
        .await;
    // Drop the links that name the search.
    results["searchId"] = Value::Null;
    results["masks"][0]["mask"] = Value::Null;
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_of_several_libraries_name_their_library_on_both_runners() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::open(two_libraries(dir.path()), job_runner(dir.path())).await;
    let results = search_two_libraries(&server).await;
    let cli = cli_hits(MASK, 3);
    let hits: Vec<(String, String, i64)> = results["masks"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["libraryName"].as_str().unwrap().to_owned(),
                h["imageName"].as_str().unwrap().to_owned(),
                h["matchingPixels"].as_i64().unwrap(),
            )
        })
        .collect();
    // Equal scores keep the requested library order.
    let expected: Vec<(String, String, i64)> = [&cli[0], &cli[0], &cli[1], &cli[1], &cli[2]]
        .iter()
        .zip(["copy", "sample", "copy", "sample", "copy"])
        .map(|((image, pixels), library)| (library.to_owned(), image.clone(), *pixels))
        .collect();
    assert_eq!(hits, expected);
    assert_eq!(results["targets"], 16);
    assert_eq!(
        results["masks"][0]["results"][1]["thumbnailURL"],
        format!("/libraries/sample/thumbnails/{}", cli[0].0)
    );
    server.stop();

    let dir = tempfile::tempdir().unwrap();
    let direct = TestServer::open(
        two_libraries(dir.path()),
        Arc::new(cdsearch_service::DirectRunner),
    )
    .await;
    assert_eq!(search_two_libraries(&direct).await, results);
}

/// The shape-stage fields of a hit, and what identifies it.
const SHAPE_HIT_FIELDS: [&str; 8] = [
    "imageName",
    "matchingPixels",
    "shapeScored",
    "gradientAreaGap",
    "highExpressionArea",
    "shapeScore",
    "shapeMirrored",
    "normalizedScore",
];

/// The [`SHAPE_HIT_FIELDS`] of every hit of a mask's results, in rank order.
fn shape_hits(mask: &Value) -> Vec<Vec<Value>> {
    mask["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| SHAPE_HIT_FIELDS.iter().map(|f| h[*f].clone()).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shape_search_gives_the_cli_shape_ranking() {
    use shape_common::{build_library, cdsearch, fixture, MASKS, UNSHAPED};

    let library = tempfile::tempdir().unwrap();
    build_library(library.path());
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), Limits::default());
    config
        .libraries
        .push(("shapes".into(), vec![library.path().to_path_buf()]));
    let server = TestServer::open(config, job_runner(dir.path())).await;

    let bad = json!({"libraries": ["shapes"], "shape": true, "shapeTop": 0});
    let mask = std::fs::read(fixture(MASKS[0])).unwrap();
    let r = server.submit(ALICE, &bad, &[("m.tif", mask.clone())]).await;
    assert_eq!(bad_fields(r).await, ["shapeTop"]);
    let bad = json!({"libraries": ["shapes"], "shape": "yes", "shapeTop": 1001});
    let r = server.submit(ALICE, &bad, &[("m.tif", mask)]).await;
    assert_eq!(bad_fields(r).await, ["shape", "shapeTop"]);

    let params = json!({"libraries": ["shapes"], "shape": true, "minMatchingPixRatio": 0});
    let uploads: Uploads = MASKS
        .iter()
        .map(|m| {
            (
                m.trim_start_matches("ems/"),
                std::fs::read(fixture(m)).unwrap(),
            )
        })
        .collect();
    let id = submitted_id(server.submit(ALICE, &params, &uploads).await).await;
    let done = server.wait(ALICE, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["params"]["shape"], true);
    assert_eq!(done["params"]["shapeTop"], 300);
    let results = server
        .get_json(ALICE, &format!("/searches/{id}/results"))
        .await;

    let mut args = vec![
        "search",
        "--library",
        library.path().to_str().unwrap(),
        "--shape",
        "--min-ratio",
        "0",
        "--format",
        "json",
    ];
    let mask_paths: Vec<String> = MASKS
        .iter()
        .map(|m| fixture(m).to_string_lossy().into_owned())
        .collect();
    for path in &mask_paths {
        args.extend(["--mask", path.as_str()]);
    }
    let cli: Value = serde_json::from_slice(&cdsearch(&args).stdout).unwrap();
    for (api_mask, cli_mask) in results["masks"]
        .as_array()
        .unwrap()
        .iter()
        .zip(cli["masks"].as_array().unwrap())
    {
        let hits = shape_hits(api_mask);
        assert_eq!(hits.len(), 4, "{api_mask:#}");
        assert_eq!(hits, shape_hits(cli_mask), "API and CLI agree");
        assert!(hits[..3].iter().all(|h| h[2] == true), "{hits:?}");
        assert_eq!(hits[3][0], UNSHAPED);
        assert_eq!(hits[3][2], false);
    }

    let csv = server
        .get(ALICE, &format!("/searches/{id}/results?format=csv"))
        .await
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "mask,rank,target,matchingPixels,matchingRatio,mirrored,library,\
         shapeScored,gradientAreaGap,highExpressionArea,shapeScore,normalizedScore"
    );
    let first = &results["masks"][0]["results"][0];
    let cells: Vec<&str> = lines.next().unwrap().split(',').collect();
    let text = |field: &str| first[field].to_string().trim_matches('"').to_owned();
    assert_eq!(
        cells[..4],
        [
            "12191_JRC2018U.tif",
            "1",
            text("imageName").as_str(),
            text("matchingPixels").as_str()
        ]
    );
    let ratio: f64 = cells[4].parse().unwrap();
    assert_eq!(ratio, first["matchingRatio"].as_f64().unwrap());
    assert_eq!(
        cells[5..11],
        [
            text("mirrored").as_str(),
            "shapes",
            "true",
            text("gradientAreaGap").as_str(),
            text("highExpressionArea").as_str(),
            text("shapeScore").as_str()
        ]
    );
    let normalized: f32 = cells[11].parse().unwrap();
    assert_eq!(
        normalized,
        first["normalizedScore"].as_f64().unwrap() as f32
    );
    assert!(
        lines.any(|l| l.contains(UNSHAPED) && l.contains(",false,-1,-1,-1,")),
        "{csv}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_direct_runner_refuses_the_shape_stage_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_runner(
        dir.path(),
        Limits::default(),
        Arc::new(cdsearch_service::DirectRunner),
    )
    .await;
    let params = json!({"libraries": ["sample"], "shape": true});
    let r = server
        .submit(ALICE, &params, &[(MASK, mask_bytes(MASK))])
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["fields"][0]["field"], "shape", "{body}");
    assert!(
        body["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--runtime local"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_search_and_neuronbridge_results() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let params = json!({"libraries": ["sample"], "label": " EM 12191 ", "mirrorMask": true});
    let r = server
        .submit(ALICE, &params, &[(MASK, mask_bytes(MASK))])
        .await;
    let id = submitted_id(r).await;
    let done = server.wait(ALICE, &id).await;
    assert_eq!(done["params"]["label"], "EM 12191");
    let listed = server.get_json(ALICE, "/searches").await;
    assert_eq!(listed[0]["params"]["label"], "EM 12191");

    let page = server
        .get_json(ALICE, &format!("/searches/{id}/results"))
        .await;
    let nb = server
        .get_json(
            ALICE,
            &format!("/searches/{id}/results?format=neuronbridge"),
        )
        .await;
    let masks = nb.as_array().expect("one entry per mask");
    assert_eq!(masks.len(), 1);
    let input = &masks[0]["inputImage"];
    assert_eq!(input["id"], MASK);
    assert_eq!(
        input["files"]["ColorDepthMip"],
        format!("/searches/{id}/masks/0/image")
    );
    let rows: Vec<(String, i64, bool, f64)> = masks[0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["image"]["libraryName"], "sample");
            assert_eq!(
                m["files"]["ColorDepthMipInput"],
                input["files"]["ColorDepthMip"]
            );
            assert_eq!(
                m["files"]["ColorDepthMipMatch"],
                m["image"]["files"]["ColorDepthMip"]
            );
            (
                m["image"]["id"].as_str().unwrap().to_owned(),
                m["matchingPixels"].as_i64().unwrap(),
                m["mirrored"].as_bool().unwrap(),
                m["normalizedScore"].as_f64().unwrap(),
            )
        })
        .collect();
    // The JSON page's hits, in matchingPixels order (the same order here).
    let expected: Vec<(String, i64, bool, f64)> = page["masks"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["imageName"].as_str().unwrap().to_owned(),
                h["matchingPixels"].as_i64().unwrap(),
                h["mirrored"].as_bool().unwrap(),
                h["matchingPixels"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, expected);
    assert_eq!(
        rows[0],
        ("12191_JRC2018U.tif".to_owned(), 10299, false, 10299.0)
    );
    assert!(rows.iter().any(|r| r.2), "a mirrored hit");
    assert_eq!(
        masks[0]["results"][0]["image"]["files"]["ColorDepthMipThumbnail"],
        "/libraries/sample/thumbnails/12191_JRC2018U.tif"
    );

    let bad = server
        .get(ALICE, &format!("/searches/{id}/results?format=xml"))
        .await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(body.to_string().contains("neuronbridge"), "{body}");
}
