//! A test server on 127.0.0.1 (free port, temporary data directory) over the
//! sample library, and an HTTP client for it.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use cdsearch_service::{ApiConfig, ApiKeys, JobRunner, Limits, SearchRunner, Service};
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Alice's API key.
pub const ALICE: &str = "alice-key-0001";
/// Bob's API key.
pub const BOB: &str = "bob-key-00002";

/// A path under the crate.
pub fn crate_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The sample mask used throughout.
pub const MASK: &str = "12191_JRC2018U.tif";

/// Bytes of a sample mask.
pub fn mask_bytes(name: &str) -> Vec<u8> {
    std::fs::read(crate_path("../../sample/masks").join(name)).unwrap()
}

/// A server and its base URL; the server stops with the test's runtime.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The task serving the router.
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The default runner over `data_dir/runtime`, its monitor polling fast.
pub fn job_runner(data_dir: &Path) -> Arc<dyn SearchRunner> {
    let runner =
        JobRunner::with_poll_interval(&data_dir.join("runtime"), Duration::from_millis(20))
            .unwrap();
    Arc::new(runner)
}

/// The configuration used by tests: library "sample", stored masks, two users.
pub fn config(data_dir: &Path, limits: Limits) -> ApiConfig {
    let mut keys = ApiKeys::default();
    keys.insert("alice", ALICE);
    keys.insert("bob", BOB);
    ApiConfig {
        data_dir: data_dir.to_path_buf(),
        libraries: vec![("sample".into(), vec![crate_path("../../sample/library")])],
        store_libraries: Vec::new(),
        masks: vec![crate_path("../../sample/masks")],
        keys,
        token_verifier: None,
        sign_in: None,
        limits,
    }
}

impl TestServer {
    /// Starts a server with the default runner (burst jobs on the local
    /// runtime, under `data_dir/runtime`).
    pub async fn start(data_dir: &Path, limits: Limits) -> Self {
        Self::with_runner(data_dir, limits, job_runner(data_dir)).await
    }

    /// Starts a server with `runner`.
    pub async fn with_runner(
        data_dir: &Path,
        limits: Limits,
        runner: Arc<dyn SearchRunner>,
    ) -> Self {
        Self::open(config(data_dir, limits), runner).await
    }

    /// Starts a server with `config` and `runner`.
    pub async fn open(config: ApiConfig, runner: Arc<dyn SearchRunner>) -> Self {
        let service = Service::open(config, runner).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(cdsearch_service::serve(listener, service));
        Self {
            base,
            client: reqwest::Client::new(),
            task,
        }
    }

    /// Stops serving.
    pub fn stop(self) {
        self.task.abort();
    }

    /// `url` under the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET with a key.
    pub async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// DELETE with a key.
    pub async fn delete(&self, key: &str, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// DELETE search `id` with a key.
    pub async fn delete_search(&self, key: &str, id: &str) -> reqwest::Response {
        self.delete(key, &format!("/searches/{id}")).await
    }

    /// The OpenAPI document, fetched without a key.
    pub async fn openapi(&self) -> Value {
        let r = self
            .client
            .get(self.url("/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET /openapi.json");
        r.json().await.unwrap()
    }

    /// GET JSON with a key, asserting 200.
    pub async fn get_json(&self, key: &str, path: &str) -> Value {
        let r = self.get(key, path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// POST /searches as multipart: `params` JSON and uploaded masks.
    pub async fn submit(
        &self,
        key: &str,
        params: &Value,
        masks: &[(&str, Vec<u8>)],
    ) -> reqwest::Response {
        let mut form = Form::new().text("params", params.to_string());
        for (name, bytes) in masks {
            form = form.part(
                "mask",
                Part::bytes(bytes.clone()).file_name(name.to_string()),
            );
        }
        self.client
            .post(self.url("/searches"))
            .bearer_auth(key)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Polls a search until it is final; returns its last view.
    pub async fn wait(&self, key: &str, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let s = self.get_json(key, &format!("/searches/{id}")).await;
            if !["queued", "running"].contains(&s["status"].as_str().unwrap()) {
                return s;
            }
            assert!(Instant::now() < deadline, "search {id} did not finish: {s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The ranked hits of `cdsearch search` (JSON) for one mask over the sample
/// library with default parameters and `top` hits.
pub fn cli_hits(mask: &str, top: usize) -> Vec<(String, i64)> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .arg("search")
        .arg("--mask")
        .arg(crate_path("../../sample/masks").join(mask))
        .arg("--library")
        .arg(crate_path("../../sample/library"))
        .args(["--format", "json", "--top", &top.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["masks"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["imageName"].as_str().unwrap().to_owned(),
                h["matchingPixels"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// (imageName, matchingPixels) of a mask's results page.
pub fn page_hits(mask_page: &Value) -> Vec<(String, i64)> {
    mask_page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["imageName"].as_str().unwrap().to_owned(),
                h["matchingPixels"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The `field` names of a 400 answer.
pub async fn bad_fields(r: reqwest::Response) -> Vec<String> {
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(!f["message"].as_str().unwrap().is_empty());
            f["field"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The id of a search in a `POST /searches` answer, asserting 202.
pub async fn submitted_id(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Starts the `cdsearch serve` binary from the workspace root on a free port
/// over `data` (`--runtime direct`, Alice's key, `extra` arguments after);
/// resolves with the child (killed on drop) and its base URL once the
/// server prints it.
pub async fn spawn_serve(data: &Path, extra: &[&str]) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .current_dir(crate_path("../.."))
        .args(["serve", "--addr", "127.0.0.1:0", "--runtime", "direct"])
        .arg("--data-dir")
        .arg(data)
        .args(["--api-key", &format!("alice:{ALICE}")])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line)
        .await
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    (child, base)
}
