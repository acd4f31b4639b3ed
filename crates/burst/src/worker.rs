//! The worker wrapper: runs the user's [`Worker`] on one batch and records the outcome in the
//! task table (the completion row, or the failure with its cause). Panics count as failures.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::cost::{configured_memory_mb, write_units, Usage};
use crate::error::{BurstError, TaskError};
use crate::job::{AttemptKind, AttemptRecord, BatchRow, WorkerEvent};
use crate::partials;
use crate::time::now_ms;
use crate::traits::{ObjectStore, PutOutcome, TaskTable, Worker};

/// Turns a panic inside a polled future into an error.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// The message of a panic payload.
fn panic_message(panic: &(dyn Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into());
    format!("panicked: {text}")
}

/// Awaits user code, turning a panic into a [`TaskError`].
pub async fn catch_panic<T>(
    fut: impl Future<Output = Result<T, TaskError>>,
) -> Result<T, TaskError> {
    CatchUnwind(Box::pin(fut))
        .await
        .unwrap_or_else(|panic| Err(TaskError::new(panic_message(panic.as_ref()))))
}

/// Records in `row` what its batch's invocation used: its duration at the function's memory,
/// what the app reported, the partial-result object (if any) and the row's own write.
fn record_usage(row: &mut BatchRow, app: Usage, wrote_object: bool) {
    let ran =
        std::time::Duration::from_millis(row.finished_at_ms.saturating_sub(row.started_at_ms));
    row.usage = Usage::invocation("worker", ran, configured_memory_mb());
    row.usage.add(&app);
    row.usage.s3_put_requests += u64::from(wrote_object);
    // The row's size with this usage in it, plus a margin for the units' own digits.
    row.usage.dynamodb_write_units += write_units(row.item_bytes() + 16);
}

/// Handles one worker invocation: runs `worker` on the batch of `event` and writes its row
/// (first write wins), or records its failure (error or panic) in the attempt log and returns
/// it. A result too large for a row is first written to `store` (see [`crate::partials`]); a
/// failure to write it is recorded as the attempt's failure. Parse raw JSON with
/// [`WorkerEvent::from_value`].
pub async fn handle(
    tasks: &dyn TaskTable,
    store: &dyn ObjectStore,
    worker: &dyn Worker,
    event: WorkerEvent,
) -> Result<PutOutcome, BurstError> {
    let started_at_ms = now_ms();
    let outcome = catch_panic(worker.process(&event)).await;
    let stored = match outcome {
        Ok(result) => match partials::store_result(store, &event, &result).await {
            Ok(stored) => Ok((stored, result.nresults, result.usage)),
            Err(e) => Err(TaskError::new(format!(
                "storing the partial result failed: {e}"
            ))),
        },
        Err(err) => Err(err),
    };
    match stored {
        Ok((stored, nresults, app_usage)) => {
            let finished_at_ms = now_ms();
            let mut row = BatchRow {
                job_id: event.job_id.clone(),
                batch_id: event.batch_id,
                ttl: finished_at_ms / 1000 + event.row_ttl_secs,
                results: stored.results,
                results_mime_type: stored.mime.to_string(),
                nresults,
                attempt: event.attempt,
                started_at_ms,
                finished_at_ms,
                usage: Usage::default(),
            };
            record_usage(&mut row, app_usage, stored.object.is_some());
            let outcome = tasks.put_row(&row).await?;
            if let (PutOutcome::AlreadyPresent, Some(key)) = (outcome, &stored.object) {
                partials::discard_loser(store, key).await;
            }
            Ok(outcome)
        }
        Err(err) => {
            tasks
                .record_attempt(&AttemptRecord {
                    job_id: event.job_id.clone(),
                    batch_id: event.batch_id,
                    attempt: event.attempt,
                    at_ms: now_ms(),
                    kind: AttemptKind::Failed {
                        cause: err.message.clone(),
                    },
                })
                .await?;
            Err(BurstError::Task(err))
        }
    }
}
