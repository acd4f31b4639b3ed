//! `cdsearch serve`: the search service (HTTP API and web client) on a local port.

use crate::search::Runtime;
use anyhow::{bail, Context};
use cdsearch_service::{
    ApiConfig, ApiKeys, DirectRunner, JobRunner, Limits, SearchRunner, Service,
};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Options of `cdsearch serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Directory where searches and results are stored (created if missing).
    #[arg(long, default_value = "cdsearch-data")]
    data_dir: PathBuf,
    /// A library to offer, as NAME=DIR (repeatable). Default: sample=sample/library.
    #[arg(long = "library", value_name = "NAME=DIR")]
    libraries: Vec<String>,
    /// Directory of stored masks that searches may reference. Default: sample/masks.
    #[arg(long = "masks", value_name = "DIR")]
    masks: Vec<PathBuf>,
    /// An API key as USER:TOKEN (repeatable); also read from CDSEARCH_API_KEYS
    /// (comma-separated). Without any, a key for user "local" is made up and printed.
    #[arg(long = "api-key", value_name = "USER:TOKEN")]
    api_keys: Vec<String>,
    /// Largest request body (uploads) in MiB.
    #[arg(long, default_value_t = Limits::default().max_upload_bytes >> 20)]
    max_upload_mib: usize,
    /// Most masks in one search.
    #[arg(long, default_value_t = Limits::default().max_masks)]
    max_masks: usize,
    /// Searches one API key may submit per minute (bursts of --submit-burst).
    #[arg(long, default_value_t = Limits::default().submits_per_minute)]
    submits_per_minute: u32,
    /// Searches one API key may submit at once.
    #[arg(long, default_value_t = Limits::default().submit_burst)]
    submit_burst: u32,
    /// Requests one API key may make per minute (bursts of --request-burst).
    #[arg(long, default_value_t = Limits::default().requests_per_minute)]
    requests_per_minute: u32,
    /// Requests one API key may make at once.
    #[arg(long, default_value_t = Limits::default().request_burst)]
    request_burst: u32,
    /// A search running longer than this many seconds stops as timed out.
    #[arg(long, default_value_t = Limits::default().search_timeout.as_secs())]
    search_timeout_secs: u64,
    /// How searches run: `local` as jobs on the burst framework's local
    /// runtime (kept under DATA_DIR/runtime, so a job that ends while the
    /// server is down is picked up after a restart), `direct` in one
    /// parallel loop. Both give the same ranking.
    #[arg(long, value_enum, default_value_t = Runtime::Local)]
    runtime: Runtime,
}

/// `NAME=DIR` → (name, dir).
fn parse_library(spec: &str) -> anyhow::Result<(String, Vec<PathBuf>)> {
    match spec.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !dir.is_empty() && !name.contains('/') => {
            Ok((name.to_owned(), vec![PathBuf::from(dir)]))
        }
        _ => bail!("invalid --library {spec:?}: expected NAME=DIR (a name without '/')"),
    }
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<(ApiConfig, Option<String>)> {
        let mut libraries = self
            .libraries
            .iter()
            .map(|s| parse_library(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if libraries.is_empty() {
            libraries.push(("sample".to_owned(), vec![PathBuf::from("sample/library")]));
        }
        let masks = if self.masks.is_empty() && PathBuf::from("sample/masks").is_dir() {
            vec![PathBuf::from("sample/masks")]
        } else {
            self.masks.clone()
        };
        let mut keys = match std::env::var("CDSEARCH_API_KEYS") {
            Ok(list) => ApiKeys::parse(&list).context("invalid CDSEARCH_API_KEYS")?,
            Err(_) => ApiKeys::default(),
        };
        for entry in &self.api_keys {
            keys.add_entry(entry).context("invalid --api-key")?;
        }
        let generated = keys.is_empty().then(|| {
            let token = uuid::Uuid::new_v4().simple().to_string();
            keys.insert("local", &token);
            token
        });
        let limits = Limits {
            max_upload_bytes: self.max_upload_mib << 20,
            max_masks: self.max_masks,
            submit_burst: self.submit_burst,
            submits_per_minute: self.submits_per_minute,
            request_burst: self.request_burst,
            requests_per_minute: self.requests_per_minute,
            search_timeout: Duration::from_secs(self.search_timeout_secs),
        };
        let config = ApiConfig {
            data_dir: self.data_dir.clone(),
            libraries,
            masks,
            keys,
            limits,
        };
        Ok((config, generated))
    }
}

/// Runs `cdsearch serve` until interrupted.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let (config, generated) = args.config()?;
    let runner: Arc<dyn SearchRunner> = match args.runtime {
        Runtime::Local => Arc::new(JobRunner::open(&config.data_dir.join("runtime"))?),
        Runtime::Direct => Arc::new(DirectRunner),
    };
    let service = Service::open(config, runner)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        match &generated {
            Some(token) => println!(
                "cdsearch serving on http://{addr}/#token={token}  (API key for user \"local\": {token})"
            ),
            None => println!("cdsearch serving on http://{addr}/"),
        }
        tokio::select! {
            served = cdsearch_service::serve(listener, service) => served.context("server failed"),
            _ = tokio::signal::ctrl_c() => {
                println!("stopping");
                Ok(())
            }
        }
    })
}
