//! The HTTP API at its edges, over real HTTP on 127.0.0.1: every error is
//! JSON, no server path in any answer, media types matched per RFC, an
//! oversized body refused before it is read, uploads streamed to disk, the
//! thumbnail cache bounded, API keys in URLs only where a browser needs
//! them; and storage: DELETE, retention, the cap (507), the OpenAPI
//! document stating what the server enforces.

mod api_common;

use api_common::*;
use cdsearch::progress::Progress;
use cdsearch_service::model::SearchOutcome;
use cdsearch_service::runner::{RunError, SearchJob};
use cdsearch_service::{Limits, SearchRunner};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Asserts a JSON error answer with `status` and `code`; returns its body.
async fn json_error(r: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status(), status, "{}", r.url());
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/json", "{}", r.url());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(!body["message"].as_str().unwrap().is_empty(), "{body}");
    body
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let body = json_error(server.get(ALICE, "/nowhere").await, 404, "not_found").await;
    assert!(
        body["message"].as_str().unwrap().contains("/nowhere"),
        "{body}"
    );

    let r = server.delete(ALICE, "/libraries").await;
    assert_eq!(r.headers()["allow"], "GET,HEAD");
    let body = json_error(r, 405, "method_not_allowed").await;
    assert!(
        body["message"].as_str().unwrap().contains("DELETE"),
        "{body}"
    );
    let r = server
        .client
        .patch(server.url("/searches/x"))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    json_error(r, 405, "method_not_allowed").await;

    for path in [
        "/searches/x/masks/-1/image",
        "/searches/x/masks/1e3/thumbnail",
        "/searches/x/masks/99999999999999999999999/image",
    ] {
        let body = json_error(server.get(ALICE, path).await, 400, "invalid_request").await;
        assert!(
            body["message"].as_str().unwrap().contains("parse"),
            "{body}"
        );
    }
    json_error(
        server.get("nope-nope-nope", "/searches").await,
        401,
        "unauthorized",
    )
    .await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_types_are_matched_per_rfc() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let body = json!({"libraries": ["sample"], "maskRefs": [MASK]}).to_string();
    let post = |content_type: &'static str| {
        server
            .client
            .post(server.url("/searches"))
            .bearer_auth(ALICE)
            .header("content-type", content_type)
            .body(body.clone())
            .send()
    };
    for accepted in [
        "application/json",
        "APPLICATION/JSON",
        "Application/Json; charset=utf-8",
    ] {
        assert_eq!(post(accepted).await.unwrap().status(), 202, "{accepted}");
    }
    for refused in ["application/jsonx", "text/plain", "application/json-seq"] {
        let body = json_error(post(refused).await.unwrap(), 415, "unsupported_media_type").await;
        assert!(
            body["message"].as_str().unwrap().contains(refused),
            "{body}"
        );
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_content_length_is_refused_before_the_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_upload_bytes: 1 << 20,
        ..Limits::default()
    };
    let server = TestServer::start(dir.path(), limits).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // Headers only: 50 MB announced, not one byte of it sent.
    let head = format!(
        "POST /searches HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ALICE}\r\n\
         Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server waited for the body");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"error\":\"payload_too_large\"") && answer.contains("50000000"),
        "{answer}"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_in_the_query_only_for_what_a_browser_loads_by_url() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let id = submitted_id(
        server
            .submit(
                ALICE,
                &json!({"libraries": ["sample"]}),
                &[(MASK, mask_bytes(MASK))],
            )
            .await,
    )
    .await;
    server.wait(ALICE, &id).await;
    let plain = |path: String| server.client.get(server.url(&path)).send();
    for path in [
        format!("/libraries/sample/thumbnails/{MASK}?size=64&access_token={ALICE}"),
        format!("/masks/images/{MASK}?access_token={ALICE}"),
        format!("/searches/{id}/masks/0/image?access_token={ALICE}"),
        format!("/searches/{id}/results?format=csv&access_token={ALICE}"),
    ] {
        assert_eq!(plain(path.clone()).await.unwrap().status(), 200, "{path}");
    }
    for path in [
        format!("/searches?access_token={ALICE}"),
        format!("/searches/{id}?access_token={ALICE}"),
        format!("/libraries?access_token={ALICE}"),
    ] {
        json_error(plain(path).await.unwrap(), 401, "unauthorized").await;
    }
    let r = server
        .client
        .post(server.url(&format!("/searches?access_token={ALICE}")))
        .json(&json!({"libraries": ["sample"], "maskRefs": [MASK]}))
        .send()
        .await
        .unwrap();
    let body = json_error(r, 401, "unauthorized").await;
    assert!(
        body["message"].as_str().unwrap().contains("access_token"),
        "{body}"
    );
    let r = server
        .client
        .delete(server.url(&format!("/searches/{id}?access_token={ALICE}")))
        .send()
        .await
        .unwrap();
    json_error(r, 401, "unauthorized").await;
    assert_eq!(
        server.get(ALICE, &format!("/searches/{id}")).await.status(),
        200
    );
    server.stop();
}

/// A PNG of `w`×`h` pixels, mid grey.
fn png(w: u32, h: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(w, h, image::Rgb([150, 150, 150]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_name_libraries_and_masks_never_server_paths() {
    let dir = tempfile::tempdir().unwrap();
    let library = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate_path("../../sample/library").join(MASK),
        library.path().join(MASK),
    )
    .unwrap();
    // Not comparable with the mask (another size), and not an image at all.
    std::fs::write(library.path().join("small.png"), png(40, 20)).unwrap();
    std::fs::write(
        library.path().join("corrupt.tif"),
        b"II*\0not really a tiff",
    )
    .unwrap();
    let mut config = config(dir.path(), Limits::default());
    config.libraries = vec![("mine".into(), vec![library.path().to_path_buf()])];
    let server = TestServer::open(config, job_runner(dir.path())).await;
    let id = submitted_id(
        server
            .submit(
                ALICE,
                &json!({"libraries": ["mine"]}),
                &[("upload.tif", mask_bytes(MASK))],
            )
            .await,
    )
    .await;
    assert_eq!(server.wait(ALICE, &id).await["status"], "done");
    let results = server
        .get(ALICE, &format!("/searches/{id}/results"))
        .await
        .text()
        .await
        .unwrap();
    let page: Value = serde_json::from_str(&results).unwrap();
    let skipped = page["skipped"].as_array().unwrap();
    let reasons: Vec<(&str, &str)> = skipped
        .iter()
        .map(|s| {
            (
                s["imageName"].as_str().unwrap(),
                s["reason"].as_str().unwrap(),
            )
        })
        .collect();
    let mut names: Vec<&str> = reasons.iter().map(|(n, _)| *n).collect();
    names.sort();
    assert_eq!(names, ["corrupt.tif", "small.png"], "{results}");
    assert!(reasons.iter().all(|(_, r)| !r.is_empty()), "{results}");
    let corrupt = server
        .get(ALICE, "/libraries/mine/images/corrupt.tif")
        .await;
    let body = json_error(corrupt, 500, "internal").await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("\"corrupt.tif\"") && message.contains("library \"mine\""),
        "{message}"
    );
    let thumb = server
        .get(ALICE, "/libraries/mine/thumbnails/corrupt.tif")
        .await;
    let thumb = json_error(thumb, 500, "internal").await.to_string();
    for answer in [results, body.to_string(), thumb] {
        for root in [dir.path(), library.path()] {
            let root = root.to_str().unwrap();
            assert!(!answer.contains(root), "{root} in {answer}");
        }
        assert!(!answer.contains("/tmp/"), "{answer}");
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_go_to_disk_once_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let bytes = mask_bytes(MASK);
    let id = submitted_id(
        server
            .submit(
                ALICE,
                &json!({"libraries": ["sample"]}),
                &[("a.tif", bytes.clone())],
            )
            .await,
    )
    .await;
    let stored = dir.path().join("searches").join(&id).join("mask-0.tif");
    assert_eq!(std::fs::read(stored).unwrap(), bytes);
    let bad = server
        .submit(
            ALICE,
            &json!({"libraries": ["sample"]}),
            &[
                ("a.tif", bytes.clone()),
                ("b.png", b"not an image".to_vec()),
            ],
        )
        .await;
    assert_eq!(bad_fields(bad).await, ["mask[1]"]);
    let uploads: Vec<_> = std::fs::read_dir(dir.path().join("uploads"))
        .unwrap()
        .collect();
    assert!(uploads.is_empty(), "{uploads:?}");
    let searches = std::fs::read_dir(dir.path().join("searches"))
        .unwrap()
        .count();
    assert_eq!(searches, 1, "the refused search stored nothing");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_thumbnail_cache_keeps_only_the_fixed_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let cache = dir.path().join("cache");
    for size in 100..130 {
        let r = server
            .get(
                ALICE,
                &format!("/libraries/sample/thumbnails/{MASK}?size={size}"),
            )
            .await;
        assert_eq!(r.status(), 200);
        let thumb = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(thumb.width().max(thumb.height()), size);
    }
    assert_eq!(files_under(&cache).len(), 1, "only size 128 is cached");
    for size in [64, 128, 256, 512, 64] {
        let r = server
            .get(ALICE, &format!("/masks/thumbnails/{MASK}?size={size}"))
            .await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(files_under(&cache).len(), 5);
    server.stop();
}

/// A runner whose searches run until released.
struct Gate(std::sync::Mutex<bool>, std::sync::Condvar);

impl SearchRunner for Gate {
    fn run(&self, _job: &SearchJob, _progress: &dyn Progress) -> Result<SearchOutcome, RunError> {
        let open = self.0.lock().unwrap();
        drop(self.1.wait_while(open, |open| !*open).unwrap());
        Err(RunError::Failed("released".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_a_search_of_its_owner_only_and_not_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate(
        std::sync::Mutex::new(false),
        std::sync::Condvar::new(),
    ));
    let server = TestServer::with_runner(dir.path(), Limits::default(), gate.clone()).await;
    let submit = |key: Option<&'static str>| {
        let mut r = server
            .client
            .post(server.url("/searches"))
            .bearer_auth(ALICE)
            .json(&json!({"libraries": ["sample"], "maskRefs": [MASK]}));
        if let Some(key) = key {
            r = r.header("Idempotency-Key", key);
        }
        r.send()
    };
    let running = submitted_id(submit(None).await.unwrap()).await;
    let queued = submitted_id(submit(Some("k-1")).await.unwrap()).await;
    for _ in 0..200 {
        if server
            .get_json(ALICE, &format!("/searches/{running}"))
            .await["status"]
            == "running"
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = json_error(server.delete_search(ALICE, &running).await, 409, "conflict").await;
    assert!(
        body["message"].as_str().unwrap().contains("running"),
        "{body}"
    );
    json_error(server.delete_search(BOB, &queued).await, 404, "not_found").await;
    assert!(dir.path().join("searches").join(&queued).is_dir());

    let r = server.delete_search(ALICE, &queued).await;
    assert_eq!(r.status(), 204);
    assert!(!dir.path().join("searches").join(&queued).exists());
    json_error(
        server.get(ALICE, &format!("/searches/{queued}")).await,
        404,
        "not_found",
    )
    .await;
    json_error(server.delete_search(ALICE, &queued).await, 404, "not_found").await;
    let listed = server.get_json(ALICE, "/searches").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // The key of a deleted search starts a new one.
    let again = submitted_id(submit(Some("k-1")).await.unwrap()).await;
    assert_ne!(again, queued);

    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    assert_eq!(server.wait(ALICE, &running).await["status"], "failed");
    assert_eq!(server.delete_search(ALICE, &running).await.status(), 204);
    assert!(!dir.path().join("searches").join(&running).exists());
    server.wait(ALICE, &again).await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_past_their_retention_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        retention: Some(Duration::from_millis(1500)),
        sweep_interval: Duration::from_millis(100),
        ..Limits::default()
    };
    let server = TestServer::start(dir.path(), limits).await;
    let id = submitted_id(
        server
            .submit(
                ALICE,
                &json!({"libraries": ["sample"]}),
                &[(MASK, mask_bytes(MASK))],
            )
            .await,
    )
    .await;
    let done = server.wait(ALICE, &id).await;
    assert_eq!(done["status"], "done");
    let finished = Instant::now();
    let deadline = finished + Duration::from_secs(20);
    loop {
        let r = server.get(ALICE, &format!("/searches/{id}")).await;
        if r.status() == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "search {id} was never swept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        finished.elapsed() >= Duration::from_millis(1000),
        "swept before its retention"
    );
    assert!(!dir.path().join("searches").join(&id).exists());
    let (tasks, outcome) = job_state(dir.path(), &id);
    assert!(!tasks.exists(), "the swept search's job state is gone");
    assert!(!outcome.exists());
    server.stop();
}

/// Bytes of the files under `dir`, recursively.
fn bytes_under(dir: &Path) -> u64 {
    files_under(dir)
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum()
}

/// Where the default runner keeps the task-table entries of search `id`'s
/// job, and its outcome object.
fn job_state(data: &Path, id: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let runtime = data.join("runtime");
    (
        runtime.join("tasks").join(id),
        runtime
            .join("objects")
            .join(burst::outcome::outcome_key(id)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_data_directory_answers_507_until_searches_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mask = mask_bytes(MASK);
    // Room for one search's upload and a little more (its multipart framing,
    // its record): the upload counts once, received and then moved into the
    // search. A finished search (mask, record, results, its job's state)
    // leaves no room for a second one, and only deleting its job's state as
    // well makes room again.
    let slack = 1024;
    let limits = Limits {
        max_data_bytes: Some(mask.len() as u64 + slack),
        ..Limits::default()
    };
    // The default runner: burst jobs on the local runtime under `runtime/`.
    let server = TestServer::start(dir.path(), limits).await;
    let params = json!({"libraries": ["sample"]});
    let first = submitted_id(server.submit(ALICE, &params, &[(MASK, mask.clone())]).await).await;
    assert_eq!(server.wait(ALICE, &first).await["status"], "done");
    let (tasks, outcome) = job_state(dir.path(), &first);
    assert!(tasks.join("status.json").is_file());
    assert!(outcome.is_file());
    let runtime_bytes = bytes_under(&dir.path().join("runtime"));
    assert!(
        runtime_bytes > slack,
        "the job state ({runtime_bytes} bytes) would fit in the slack"
    );
    let full = server.submit(ALICE, &params, &[(MASK, mask.clone())]).await;
    let body = json_error(full, 507, "insufficient_storage").await;
    assert!(body["message"].as_str().unwrap().contains("full"), "{body}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("searches"))
            .unwrap()
            .count(),
        1
    );
    let r = server.delete_search(ALICE, &first).await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        files_under(&dir.path().join("runtime")),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(bytes_under(dir.path()), 0, "the delete freed every byte");
    let second = submitted_id(server.submit(ALICE, &params, &[(MASK, mask.clone())]).await).await;
    assert_eq!(server.wait(ALICE, &second).await["status"], "done");
    // Full again, and room again once the second is deleted.
    let full = server.submit(ALICE, &params, &[(MASK, mask.clone())]).await;
    json_error(full, 507, "insufficient_storage").await;
    let r = server.delete_search(ALICE, &second).await;
    assert_eq!(r.status(), 204);
    let third = server.submit(ALICE, &params, &[(MASK, mask)]).await;
    assert_eq!(third.status(), 202, "room again after the delete");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_job_state_of_the_search_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let params = json!({"libraries": ["sample"]});
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = server
            .submit(ALICE, &params, &[(MASK, mask_bytes(MASK))])
            .await;
        ids.push(submitted_id(r).await);
    }
    let [gone, kept, stale] = <[String; 3]>::try_from(ids).unwrap();
    for id in [&gone, &kept, &stale] {
        assert_eq!(server.wait(ALICE, id).await["status"], "done");
        let (tasks, outcome) = job_state(dir.path(), id);
        assert!(tasks.join("rows").is_dir(), "{id}");
        assert!(tasks.join("status.json").is_file(), "{id}");
        assert!(outcome.is_file(), "{id}");
    }
    assert_eq!(server.delete_search(ALICE, &gone).await.status(), 204);
    let (tasks, outcome) = job_state(dir.path(), &gone);
    assert!(!tasks.exists());
    assert!(!outcome.exists());
    assert!(!outcome.parent().unwrap().exists());
    let leftovers: Vec<_> = files_under(&dir.path().join("runtime"))
        .into_iter()
        .filter(|f| f.to_string_lossy().contains(gone.as_str()))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (tasks, outcome) = job_state(dir.path(), &kept);
    assert!(tasks.join("status.json").is_file());
    assert!(outcome.is_file());
    assert_eq!(
        server
            .get(ALICE, &format!("/searches/{kept}/results"))
            .await
            .status(),
        200
    );

    // A job whose status still says it runs, as a server that stopped
    // during the job leaves it, is marked failed and deleted with its search.
    let (tasks, outcome) = job_state(dir.path(), &stale);
    let status_file = tasks.join("status.json");
    let mut status: Value = serde_json::from_slice(&std::fs::read(&status_file).unwrap()).unwrap();
    status["state"] = json!("running");
    std::fs::write(&status_file, serde_json::to_vec(&status).unwrap()).unwrap();
    assert_eq!(server.delete_search(ALICE, &stale).await.status(), 204);
    assert!(!tasks.exists());
    assert!(!outcome.exists());
    assert!(!dir.path().join("searches").join(&stale).exists());
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_states_what_the_server_enforces() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_masks: 3,
        ..Limits::default()
    };
    let server = TestServer::start(dir.path(), limits).await;
    let doc = server.openapi().await;
    let request = &doc["components"]["schemas"]["SearchRequest"];
    let props = &request["properties"];
    assert_eq!(props["libraries"]["minItems"], 1);
    assert_eq!(props["libraries"]["items"]["enum"], json!(["sample"]));
    assert_eq!(props["maxResultsPerMask"]["minimum"], 1);
    assert_eq!(props["maxResultsPerMask"]["maximum"], 10000);
    assert_eq!(props["shapeTop"]["minimum"], 1);
    assert_eq!(props["xyShift"]["enum"], json!([0, 2, 4]));
    assert_eq!(props["maskThresholds"]["maxItems"], 3);
    assert_eq!(
        request["not"],
        json!({"required": ["maskThreshold", "maskThresholds"]})
    );
    assert_eq!(request["additionalProperties"], false);
    let post = &doc["paths"]["/searches"]["post"];
    for status in ["400", "401", "409", "413", "415", "422", "429", "507"] {
        assert!(
            post["responses"][status].is_object(),
            "POST /searches {status}"
        );
    }
    let json_body = &post["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(json_body["required"], json!(["libraries", "maskRefs"]));
    let results = &doc["paths"]["/searches/{id}/results"]["get"];
    let param = |name: &str| {
        results["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(param("page")["schema"]["minimum"], 1);
    assert_eq!(
        param("format")["schema"]["enum"],
        json!(["json", "csv", "neuronbridge"])
    );
    let thumb = &doc["paths"]["/libraries/{library}/thumbnails/{image}"]["get"];
    let size = thumb["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "size")
        .unwrap();
    assert_eq!(
        (&size["schema"]["minimum"], &size["schema"]["maximum"]),
        (&json!(16), &json!(1024))
    );
    assert!(doc["paths"]["/searches/{id}"]["delete"]["responses"]["204"].is_object());
    server.stop();
}

/// Submission limits a burst of test submissions does not reach.
const LENIENT_SUBMITS: &[&str] = &["--submit-burst", "1000", "--submits-per-minute", "100000"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_right_after_acknowledged_submissions_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, base) = spawn_serve(&data, LENIENT_SUBMITS).await;
    let client = reqwest::Client::new();
    let submissions = (0..40).map(|i| {
        let client = client.clone();
        let url = format!("{base}/searches");
        async move {
            let r = client
                .post(url)
                .bearer_auth(ALICE)
                .header("Idempotency-Key", format!("crash-{i}"))
                .json(&json!({"libraries": ["sample"], "maskRefs": [MASK]}))
                .send()
                .await
                .unwrap();
            submitted_id(r).await
        }
    });
    let mut acknowledged = futures_join(submissions).await;
    // SIGKILL at once: no shutdown, no flush.
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let (_again, base) = spawn_serve(&data, LENIENT_SUBMITS).await;
    let listed: Value = client
        .get(format!("{base}/searches"))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ids: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    acknowledged.sort();
    assert_eq!(ids, acknowledged);
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join<F: std::future::Future<Output = String> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<String> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
