//! The four handlers, each a plain async function from the event to the response: the Lambda
//! binaries wrap them in `service_fn`, tests call them directly.

use std::time::Instant;

use async_trait::async_trait;
use burst::traits::{Combiner, PartialResult, Worker};
use burst::{BurstError, DispatchResponse, PutOutcome, TaskError, WorkerEvent};
use burst_aws::metrics::{Metric, MetricRecord, Unit};
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::backends::AwsBackends;

/// A framework error as Lambda reports it: `errorType` is burst's error name (e.g.
/// `Burst.Throttled`), which the state machine's Retry and Catch rules match.
pub fn diagnostic(error: BurstError) -> Diagnostic {
    Diagnostic {
        error_type: error.error_name().to_owned(),
        error_message: error.to_string(),
    }
}

fn job_id_of(event: &Value) -> String {
    event["jobId"].as_str().unwrap_or_default().to_owned()
}

/// The manager (dispatch): starts a job or dispatches one node of its spawn tree.
pub async fn manager(backends: &AwsBackends, event: Value) -> Result<DispatchResponse, Diagnostic> {
    let span = tracing::info_span!("manager", jobId = %job_id_of(&event), level = event["level"].as_u64().unwrap_or(0));
    async {
        let response = burst::manager::handle(&backends.burst, &backends.deployment, event)
            .await
            .map_err(diagnostic)?;
        tracing::info!(
            numBatches = response.num_batches,
            branchingFactor = response.branching_factor,
            "dispatched"
        );
        Ok(response)
    }
    .instrument(span)
    .await
}

/// The worker: runs one batch and writes its task row.
pub async fn worker(
    backends: &AwsBackends,
    user_worker: &dyn Worker,
    event: Value,
) -> Result<Value, Diagnostic> {
    let span = tracing::info_span!(
        "worker",
        jobId = %job_id_of(&event),
        batchId = event["batchId"].as_u64().unwrap_or(0),
        attempt = event["attempt"].as_u64().unwrap_or(1)
    );
    async {
        let metered = Metered { inner: user_worker };
        let outcome = burst::worker::handle(backends.burst.tasks.as_ref(), &metered, event)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "batch failed");
                diagnostic(e)
            })?;
        let written = outcome == PutOutcome::Inserted;
        tracing::info!(written, "batch done");
        Ok(json!({ "written": written }))
    }
    .instrument(span)
    .await
}

/// The monitor: one poll of the task table (or the error path's failure report).
pub async fn monitor(backends: &AwsBackends, event: Value) -> Result<Value, Diagnostic> {
    let span = tracing::info_span!("monitor", jobId = %job_id_of(&event));
    async {
        let state = burst::monitor::handle(&backends.burst, event)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "monitor failed");
                diagnostic(e)
            })?;
        let (completed, remaining) = (state["completed"].as_f64(), state["numRemaining"].as_f64());
        if let (Some(completed), Some(remaining)) = (completed, remaining) {
            tracing::info!(completed, remaining, "polled");
            MetricRecord {
                dimensions: vec![("Function", "monitor".into())],
                metrics: vec![
                    Metric::new("Completed", completed, Unit::Count),
                    Metric::new("Remaining", remaining, Unit::Count),
                ],
                properties: vec![("jobId", state["jobId"].clone())],
            }
            .emit();
        }
        Ok(state)
    }
    .instrument(span)
    .await
}

/// The combiner: merges the job's rows, stores the outcome, updates the job status.
pub async fn combiner(
    backends: &AwsBackends,
    user_combiner: &dyn Combiner,
    event: Value,
) -> Result<Value, Diagnostic> {
    let span = tracing::info_span!("combiner", jobId = %job_id_of(&event));
    async {
        let summary = burst::combine::handle_json(&backends.burst, user_combiner, event)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "combine failed");
                diagnostic(e)
            })?;
        tracing::info!(state = %summary["state"], outcomeKey = %summary["outcomeKey"], "combined");
        Ok(summary)
    }
    .instrument(span)
    .await
}

/// Wraps a worker to emit its batch metrics (embedded metric format): batches, hits, duration.
struct Metered<'a> {
    inner: &'a dyn Worker,
}

#[async_trait]
impl Worker for Metered<'_> {
    async fn process(&self, event: &WorkerEvent) -> Result<PartialResult, TaskError> {
        let started = Instant::now();
        let result = self.inner.process(event).await;
        let (succeeded, hits) = match &result {
            Ok(partial) => (1.0, partial.nresults as f64),
            Err(_) => (0.0, 0.0),
        };
        MetricRecord {
            dimensions: vec![("Function", "worker".into())],
            metrics: vec![
                Metric::new("Batches", 1.0, Unit::Count),
                Metric::new("BatchesSucceeded", succeeded, Unit::Count),
                Metric::new("Hits", hits, Unit::Count),
                Metric::new(
                    "Items",
                    (event.end_index - event.start_index) as f64,
                    Unit::Count,
                ),
                Metric::new(
                    "BatchDuration",
                    started.elapsed().as_secs_f64() * 1000.0,
                    Unit::Milliseconds,
                ),
            ],
            properties: vec![
                ("jobId", json!(event.job_id)),
                ("batchId", json!(event.batch_id)),
            ],
        }
        .emit();
        result
    }
}
