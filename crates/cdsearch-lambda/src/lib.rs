//! The AWS Lambda functions of burst jobs — manager (dispatch), worker, monitor, combiner — as
//! plain async handlers ([`handlers`]) over `burst` (the logic) and `burst-aws` (the backends).
//! Each binary in `src/bin/` is only `lambda_runtime::run(service_fn(..))` around one of them;
//! the worker and combiner are color depth search's (`cdsearch::job`).
//!
//! The `api` binary serves the search service's HTTP API over [`api::AwsPlatform`].
//!
//! This crate wires; it holds no job logic and no image code.

pub mod api;
pub mod backends;
pub mod config;
pub mod handlers;
pub mod logging;

use std::sync::Arc;

use burst::ObjectStore;
use cdsearch::job::{SearchWorker, ShapeSearchCombiner, StoreResolver};

pub use backends::AwsBackends;
pub use config::FunctionEnv;

/// Objects a worker fetches at once (key lists, images) from S3.
pub const FETCH_CONCURRENCY: usize = 32;

/// What every function does at a cold start: JSON logs, configuration from the environment,
/// clients and backends.
pub async fn start() -> Result<AwsBackends, config::MissingVar> {
    logging::init();
    let env = FunctionEnv::from_env()?;
    Ok(AwsBackends::new(&env).await)
}

/// Reads masks, libraries and derived images from the S3 buckets named in a job.
fn store_resolver(backends: &AwsBackends) -> Arc<StoreResolver> {
    let stores = backends.clone();
    Arc::new(StoreResolver::new(
        move |bucket: &str| Ok(stores.bucket(bucket) as Arc<dyn ObjectStore>),
        FETCH_CONCURRENCY,
    ))
}

/// The color depth search worker, reading masks and libraries from S3 buckets named in the job.
pub fn search_worker(backends: &AwsBackends) -> SearchWorker {
    SearchWorker::new(store_resolver(backends))
}

/// The color depth search combiner: merges the hits per mask and, when the job asks for the
/// shape stage, scores the top hits from their derived images in S3.
pub fn search_combiner(backends: &AwsBackends) -> ShapeSearchCombiner {
    ShapeSearchCombiner::new(store_resolver(backends))
}
