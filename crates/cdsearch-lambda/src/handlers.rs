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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use burst::local::{MemoryObjectStore, MemoryTaskTable};
    use burst::manager::Deployment;
    use burst::{BackendError, TaskTable};
    use burst_aws::{AwsSettings, LambdaInvoker, SfnStarter};

    use super::*;

    /// Doubles the batch's item count, or fails on batch 13.
    struct Doubler;

    #[async_trait]
    impl Worker for Doubler {
        async fn process(&self, event: &WorkerEvent) -> Result<PartialResult, TaskError> {
            if event.batch_id == 13 {
                return Err(TaskError::new("batch 13 is unlucky"));
            }
            let items = event.end_index - event.start_index;
            Ok(PartialResult::json(json!({ "double": 2 * items })).with_count(items))
        }
    }

    /// Backends over an in-memory task table (the AWS clients are built but never called).
    async fn backends(tasks: Arc<MemoryTaskTable>) -> AwsBackends {
        let clients = AwsSettings::emulator("http://127.0.0.1:9").clients().await;
        AwsBackends {
            burst: burst::Backends {
                tasks,
                store: Arc::new(MemoryObjectStore::default()),
                invoker: Arc::new(LambdaInvoker::new(&clients)),
                starter: Arc::new(SfnStarter::new(&clients, "arn:unused")),
            },
            deployment: Deployment::default(),
            clients,
        }
    }

    fn event(batch_id: u64) -> Value {
        json!({
            "tasksTableName": "tasks", "jobId": "job-1", "batchId": batch_id,
            "startIndex": 10, "endIndex": 14, "jobParameters": {}
        })
    }

    #[tokio::test]
    async fn the_worker_writes_its_row_once_and_reports_whether_it_did() {
        let tasks = Arc::new(MemoryTaskTable::default());
        let backends = backends(tasks.clone()).await;
        let first = worker(&backends, &Doubler, event(2)).await.unwrap();
        assert_eq!(first, json!({ "written": true }));
        let again = worker(&backends, &Doubler, event(2)).await.unwrap();
        assert_eq!(again, json!({ "written": false }), "a duplicate invocation");
        assert_eq!(tasks.count_rows("job-1").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn handler_errors_carry_burst_error_names_for_the_state_machine() {
        let backends = backends(Arc::new(MemoryTaskTable::default())).await;
        let failed = worker(&backends, &Doubler, event(13)).await.unwrap_err();
        assert_eq!(failed.error_type, "Burst.TaskFailed");
        assert_eq!(failed.error_message, "task failed: batch 13 is unlucky");
        let malformed = worker(&backends, &Doubler, json!({"jobId": 7}))
            .await
            .unwrap_err();
        assert_eq!(malformed.error_type, "Burst.Malformed");
        let throttled = diagnostic(BurstError::Backend(BackendError::Throttled(
            "DynamoDB PutItem on tasks".into(),
        )));
        assert_eq!(throttled.error_type, "Burst.Throttled");
        assert!(throttled
            .error_message
            .contains("DynamoDB PutItem on tasks"));
    }
}
