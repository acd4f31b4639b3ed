//! The four handlers, each a plain async function from a typed event to a typed response (the
//! serde types of `burst::job`): the Lambda binaries wrap them in `service_fn`, tests call them
//! directly. The binaries parse each event with [`parse`], so a malformed one is answered with
//! `Burst.Malformed` and the field it is about, like every other burst error (not with
//! `lambda_runtime`'s generic deserialization error).

use std::time::Instant;

use async_trait::async_trait;
use burst::traits::{Combiner, PartialResult, Worker};
use burst::{
    BurstError, CombineSummary, DispatchResponse, ManagerInput, MonitorRequest, MonitorResponse,
    MonitorState, PutOutcome, TaskError, WorkerEvent,
};
use burst_aws::metrics::{Metric, MetricRecord, Unit};
use lambda_runtime::Diagnostic;
use serde::{Deserialize, Serialize};
use serde_json::json;
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

/// Parses a raw event with `from_value` (e.g. [`WorkerEvent::from_value`]); a malformed event
/// becomes a `Burst.Malformed` error naming the field.
pub fn parse<T>(
    from_value: fn(serde_json::Value) -> Result<T, BurstError>,
    payload: serde_json::Value,
) -> Result<T, Diagnostic> {
    from_value(payload).map_err(diagnostic)
}

/// What the worker function answers: whether this invocation wrote the batch's row (a
/// duplicated or speculative one finds it written and leaves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerResponse {
    /// Whether the row was written by this invocation.
    pub written: bool,
}

/// The job a manager event belongs to (empty for a new job without a chosen id).
fn job_of(input: &ManagerInput) -> (&str, u32) {
    match input {
        ManagerInput::Start(request) => (request.job_id.as_deref().unwrap_or_default(), 0),
        ManagerInput::Node(event) => (&event.job.job_id, event.level),
    }
}

/// The job a monitor request is about.
fn job_of_request(request: &MonitorRequest) -> &str {
    match request {
        MonitorRequest::Poll(state) => &state.job.job_id,
        MonitorRequest::ReportFailure(report) => &report.job_id,
    }
}

/// The manager (dispatch): starts a job or dispatches one node of its spawn tree.
pub async fn manager(
    backends: &AwsBackends,
    event: ManagerInput,
) -> Result<DispatchResponse, Diagnostic> {
    let (job_id, level) = job_of(&event);
    let span = tracing::info_span!("manager", jobId = %job_id, level);
    async {
        let response = burst::manager::handle(&backends.burst, &backends.deployment, event)
            .await
            .map_err(diagnostic)?;
        tracing::info!(
            jobId = %response.job_id,
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
    event: WorkerEvent,
) -> Result<WorkerResponse, Diagnostic> {
    let span = tracing::info_span!(
        "worker",
        jobId = %event.job_id,
        batchId = event.batch_id,
        attempt = event.attempt
    );
    async {
        let metered = Metered { inner: user_worker };
        let outcome = burst::worker::handle(
            backends.burst.tasks.as_ref(),
            backends.burst.store.as_ref(),
            &metered,
            event,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "batch failed");
            diagnostic(e)
        })?;
        let written = outcome == PutOutcome::Inserted;
        tracing::info!(written, "batch done");
        Ok(WorkerResponse { written })
    }
    .instrument(span)
    .await
}

/// The monitor: one poll of the task table (or the error path's failure report).
pub async fn monitor(
    backends: &AwsBackends,
    request: MonitorRequest,
) -> Result<MonitorResponse, Diagnostic> {
    let span = tracing::info_span!("monitor", jobId = %job_of_request(&request));
    async {
        let response = burst::monitor::handle(&backends.burst, request)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "monitor failed");
                diagnostic(e)
            })?;
        if let MonitorResponse::Polled(state) = &response {
            tracing::info!(
                completed = state.completed,
                remaining = state.num_remaining,
                "polled"
            );
            MetricRecord {
                dimensions: vec![("Function", "monitor".into())],
                metrics: vec![
                    Metric::new("Completed", state.completed as f64, Unit::Count),
                    Metric::new("Remaining", state.num_remaining as f64, Unit::Count),
                ],
                properties: vec![("jobId", json!(state.job.job_id))],
            }
            .emit();
        }
        Ok(response)
    }
    .instrument(span)
    .await
}

/// The combiner: merges the job's rows, stores the outcome, updates the job status.
pub async fn combiner(
    backends: &AwsBackends,
    user_combiner: &dyn Combiner,
    state: MonitorState,
) -> Result<CombineSummary, Diagnostic> {
    let span = tracing::info_span!("combiner", jobId = %state.job.job_id);
    async {
        let summary = burst::combine::handle(&backends.burst, user_combiner, state)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "combine failed");
                diagnostic(e)
            })?;
        tracing::info!(state = ?summary.state, outcomeKey = %summary.outcome_key, "combined");
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
        let slow_downs_before = burst_aws::retry::slow_downs();
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
                // A container runs one batch at a time, so the process's count over the batch
                // is the batch's own (alarm: S3SlowDowns in template.yaml).
                Metric::new(
                    "S3SlowDowns",
                    burst_aws::retry::slow_downs().saturating_sub(slow_downs_before) as f64,
                    Unit::Count,
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

    fn event(batch_id: u64) -> WorkerEvent {
        WorkerEvent::from_value(json!({
            "tasksTableName": "tasks", "jobId": "job-1", "batchId": batch_id,
            "startIndex": 10, "endIndex": 14, "jobParameters": {}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn the_worker_writes_its_row_once_and_reports_whether_it_did() {
        let tasks = Arc::new(MemoryTaskTable::default());
        let backends = backends(tasks.clone()).await;
        let first = worker(&backends, &Doubler, event(2)).await.unwrap();
        assert_eq!(
            serde_json::to_value(first).unwrap(),
            json!({ "written": true })
        );
        let again = worker(&backends, &Doubler, event(2)).await.unwrap();
        assert!(!again.written, "a duplicate invocation");
        assert_eq!(tasks.count_rows("job-1").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn handler_errors_carry_burst_error_names_for_the_state_machine() {
        let backends = backends(Arc::new(MemoryTaskTable::default())).await;
        let failed = worker(&backends, &Doubler, event(13)).await.unwrap_err();
        assert_eq!(failed.error_type, "Burst.TaskFailed");
        assert_eq!(failed.error_message, "task failed: batch 13 is unlucky");
        let malformed = WorkerEvent::from_value(json!({"jobId": 7})).unwrap_err();
        assert_eq!(malformed.error_name(), "Burst.Malformed");
        assert!(malformed.to_string().contains("jobId"), "{malformed}");
        let throttled = diagnostic(BurstError::Backend(BackendError::Throttled(
            "DynamoDB PutItem on tasks".into(),
        )));
        assert_eq!(throttled.error_type, "Burst.Throttled");
        assert!(throttled
            .error_message
            .contains("DynamoDB PutItem on tasks"));
    }
}
