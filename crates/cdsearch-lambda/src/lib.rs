//! The AWS Lambda functions of burst jobs — manager (dispatch), worker, monitor, combiner — as
//! plain async handlers ([`handlers`]) over `burst` (the logic) and `burst-aws` (the backends).
//! Each binary in `src/bin/` is only `lambda_runtime::run(service_fn(..))` around one of them;
//! the worker and combiner are color depth search's (`cdsearch::job`).
//!
//! The `api` binary serves the search service's HTTP API
//! (`cdsearch_service::router` over `cdsearch_service::platform::AwsPlatform`), the user
//! being the verified JWT's subject ([`gateway`]).
//!
//! This crate wires; it holds no job logic and no image code.

pub mod backends;
pub mod config;
pub mod gateway;
pub mod handlers;
pub mod logging;

use std::sync::Arc;

use cdsearch::job::{SearchWorker, ShapeSearchCombiner};
use cdsearch::store::StoreResolver;

pub use backends::AwsBackends;
pub use config::FunctionEnv;

/// What every function does at a cold start: JSON logs, configuration from the environment,
/// the clients and the backends of its `role` (e.g. [`AwsBackends::worker`]).
pub async fn start(
    role: fn(&FunctionEnv, burst_aws::AwsClients) -> AwsBackends,
) -> Result<AwsBackends, config::MissingVar> {
    logging::init();
    let env = FunctionEnv::from_env()?;
    Ok(AwsBackends::from_env(&env, role))
}

/// Reads masks, libraries and derived images from the S3 buckets named in a job.
fn store_resolver(backends: &AwsBackends) -> Arc<StoreResolver> {
    Arc::new(cdsearch_aws::s3_library_resolver(&backends.clients))
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
