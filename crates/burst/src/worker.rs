//! The worker wrapper: runs the user's [`Worker`] on one batch and records the outcome in the
//! task table (the completion row, or the failure with its cause). Panics count as failures.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{BurstError, TaskError};
use crate::job::{AttemptKind, AttemptRecord, BatchRow, WorkerEvent};
use crate::payload;
use crate::time::now_ms;
use crate::traits::{PutOutcome, TaskTable, Worker};

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

/// Handles one worker invocation: runs `worker` on the batch of `event` and writes its row
/// (first write wins), or records its failure (error or panic) in the attempt log and returns
/// it. Parse raw JSON with [`WorkerEvent::from_value`].
pub async fn handle(
    tasks: &dyn TaskTable,
    worker: &dyn Worker,
    event: WorkerEvent,
) -> Result<PutOutcome, BurstError> {
    let started_at_ms = now_ms();
    let outcome = catch_panic(worker.process(&event)).await;
    match outcome {
        Ok(result) => {
            let (results, mime) = payload::encode(&result);
            let finished_at_ms = now_ms();
            let row = BatchRow {
                job_id: event.job_id.clone(),
                batch_id: event.batch_id,
                ttl: finished_at_ms / 1000 + event.row_ttl_secs,
                results,
                results_mime_type: mime.to_string(),
                nresults: result.nresults,
                attempt: event.attempt,
                started_at_ms,
                finished_at_ms,
            };
            Ok(tasks.put_row(&row).await?)
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
