//! Color depth search as a job on the burst framework: NeuronBridge's job
//! parameters, the worker that scores one batch of targets, and the combiner
//! that merges the batches' hits per mask.
//!
//! Items of a job are numbered across its libraries in order (library `i`
//! holds the global indexes from the sum of the `lsize`s before it). A worker
//! maps its index range onto (library, local range) pieces, reads the targets
//! of each piece through a [`LibraryResolver`] (local files and indexes, or an
//! object store in NeuronBridge's layout), and scores them with
//! [`crate::search::search`], the same code as a direct search. Its partial
//! result, and the combiner's result, are a [`SearchReport`] in JSON.
//!
//! With `shape: true` in the job parameters ([`ShapeJobParameters`]), the
//! [`ShapeSearchCombiner`] runs the shape stage ([`crate::shape_stage`]) on
//! the merged hits: it fetches the best `shapeTop` targets of each mask and
//! their derived images through the resolver, scores them, and re-ranks.

mod combiner;
mod params;
mod resolver;
pub mod sizing;
mod sources;
mod worker;

use std::sync::Arc;

pub use combiner::{merge_reports, SearchCombiner, ShapeSearchCombiner, SHAPE_FETCH_CONCURRENCY};
pub use params::{
    JobError, LibraryParameters, SearchJobParameters, ShapeJobParameters,
    DEFAULT_MAX_RESULTS_PER_MASK,
};
pub use resolver::{LibraryResolver, LocalResolver};
pub(crate) use sources::clip;
pub use sources::{FetchedTargets, SubSource};
pub use worker::{prepare_mask, SearchWorker, MASK_SETS_KEPT};

use crate::results::SearchReport;

/// Function name under which the color depth search worker is registered.
pub const WORKER_NAME: &str = "cds-worker";
/// Function name under which the color depth search combiner is registered.
pub const COMBINER_NAME: &str = "cds-combiner";

/// A job request for a search: items are the targets of all libraries; the
/// job parameters hold `params` and the shape stage's settings `shape`.
pub fn search_request(
    params: &SearchJobParameters,
    shape: &ShapeJobParameters,
    batch_size: u64,
) -> Result<burst::JobRequest, JobError> {
    params.validate()?;
    let mut request = burst::JobRequest::new(
        WORKER_NAME,
        COMBINER_NAME,
        0,
        params.total_items(),
        batch_size.max(1),
    );
    request.job_parameters =
        serde_json::to_value(params).map_err(|e| JobError::Invalid(e.to_string()))?;
    shape.add_to(&mut request.job_parameters);
    Ok(request)
}

/// A batch size for `items` targets on this machine: a few batches per core,
/// so that progress moves and stragglers are short, and no batch too small to
/// amortize its overhead.
pub fn local_batch_size(items: u64) -> u64 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    items.div_ceil(cores * 8).clamp(1, 2_000)
}

/// A local runtime with the color depth search worker and combiner (with
/// the shape stage) registered, reading through `resolver`.
pub fn local_runtime(resolver: Arc<dyn LibraryResolver>) -> burst::local::LocalRuntimeBuilder {
    burst::local::LocalRuntime::builder()
        .worker(WORKER_NAME, Arc::new(SearchWorker::new(resolver.clone())))
        .combiner(COMBINER_NAME, Arc::new(ShapeSearchCombiner::new(resolver)))
}

/// The search report in a job outcome, or why there is none.
pub fn outcome_report(outcome: &burst::JobOutcome) -> Result<SearchReport, JobError> {
    let result = outcome.result.as_ref().ok_or_else(|| {
        JobError::Invalid(format!(
            "job {} ended without a result: {}",
            outcome.job_id,
            outcome.error.as_deref().unwrap_or("no error reported")
        ))
    })?;
    serde_json::from_value(result.clone())
        .map_err(|e| JobError::Invalid(format!("job {} result: {e}", outcome.job_id)))
}
