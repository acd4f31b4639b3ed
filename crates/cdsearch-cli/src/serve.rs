//! `cdsearch serve`: the search service (HTTP API and web client) on a local port.

use crate::s3_url::s3_url;
use crate::search::Runtime;
use anyhow::{bail, Context};
use cdsearch_service::{
    ApiConfig, ApiKeys, DirectRunner, JobRunner, Limits, SearchRunner, Service, StoreLibrary,
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
    /// A library to offer, as NAME=DIR or (built with the `aws` feature)
    /// NAME=s3://BUCKET/PREFIX, a library `cdsearch library upload` wrote, in
    /// either form (repeatable). Default: sample=sample/library.
    #[arg(long = "library", value_name = "NAME=DIR|NAME=s3://BUCKET/PREFIX")]
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
    /// Delete finished searches this many days after they ended (a sweep runs
    /// at start and every 10 minutes; fractions allowed, e.g. 0.5). Default:
    /// keep them until deleted with `DELETE /searches/{id}`.
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    retention_days: Option<Duration>,
    /// Most bytes the data directory may hold (searches, results, runtime
    /// state, thumbnails); when full, submissions are answered 507
    /// Insufficient Storage until searches are deleted or expire. Default: no cap.
    #[arg(long, value_name = "BYTES")]
    max_data_bytes: Option<u64>,
    /// How searches run: `local` as jobs on the burst framework's local
    /// runtime (kept under DATA_DIR/runtime, so a job that ends while the
    /// server is down is picked up after a restart), `direct` in one
    /// parallel loop. Both give the same ranking.
    #[arg(long, value_enum, default_value_t = Runtime::Local)]
    runtime: Runtime,
    /// Where AWS is, for `s3://` libraries.
    #[cfg(feature = "aws")]
    #[command(flatten)]
    aws: crate::aws_args::AwsArgs,
}

/// A positive number of days as a duration.
fn parse_days(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(days) if days.is_finite() && days > 0.0 && days < 1e6 => {
            Ok(Duration::from_secs_f64(days * 86_400.0))
        }
        _ => Err(format!("expected a positive number of days, got {text:?}")),
    }
}

/// `NAME=DIR` or `NAME=s3://...` → (name, where).
fn parse_library(spec: &str) -> anyhow::Result<(&str, &str)> {
    match spec.split_once('=') {
        Some((name, place)) if !name.is_empty() && !place.is_empty() && !name.contains('/') => {
            Ok((name, place))
        }
        _ => bail!(
            "invalid --library {spec:?}: expected NAME=DIR or NAME=s3://BUCKET/PREFIX (a name \
             without '/')"
        ),
    }
}

/// The library `name` at `s3://bucket/prefix`, described once.
#[cfg(feature = "aws")]
fn store_library(
    args: &ServeArgs,
    name: &str,
    (bucket, prefix): (String, String),
) -> anyhow::Result<StoreLibrary> {
    let tokio = crate::aws_args::tokio_runtime()?;
    let library =
        crate::aws_args::describe_bucket_library(&tokio, &args.aws, &bucket, &prefix, name)?;
    Ok(StoreLibrary {
        params: library.params,
        store: library.store,
    })
}

/// Without AWS support, a library in a bucket is refused by name.
#[cfg(not(feature = "aws"))]
fn store_library(
    _args: &ServeArgs,
    name: &str,
    (bucket, prefix): (String, String),
) -> anyhow::Result<StoreLibrary> {
    bail!(
        "--library {name}=s3://{bucket}/{prefix}: this cdsearch was built without AWS support; \
         build it with the `aws` feature (cargo install --path crates/cdsearch-cli --features aws)"
    )
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<(ApiConfig, Option<String>)> {
        let (mut libraries, mut store_libraries) = (Vec::new(), Vec::new());
        for spec in &self.libraries {
            let (name, place) = parse_library(spec)?;
            match s3_url(place) {
                Some(url) => store_libraries.push(store_library(self, name, url)?),
                None => libraries.push((name.to_owned(), vec![PathBuf::from(place)])),
            }
        }
        if libraries.is_empty() && store_libraries.is_empty() {
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
            retention: self.retention_days,
            max_data_bytes: self.max_data_bytes,
            ..Limits::default()
        };
        let config = ApiConfig {
            data_dir: self.data_dir.clone(),
            libraries,
            store_libraries,
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
