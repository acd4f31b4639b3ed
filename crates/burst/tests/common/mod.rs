//! Shared by the local-runtime tests: a summing worker whose behaviour per (batch, attempt) is
//! injected, its combiner, an invoker that loses or duplicates invocations, and a time bound.

// Every test crate compiles this module and uses a part of it.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use burst::local::InvokerLayer;
use burst::{
    BackendError, CombineInput, Combiner, Invoker, LocalRuntime, LocalRuntimeBuilder,
    PartialResult, TaskError, Worker, WorkerEvent,
};
use serde_json::{json, Value};

/// What a worker does with one (batch, attempt).
pub enum Act {
    /// Sums the item indexes of the batch.
    Sum,
    /// Returns this error.
    Fail(&'static str),
    /// Panics.
    Panic,
    /// Works (blocks its thread) this long, then sums.
    Stall(Duration),
    /// Never returns (until the runtime cancels it at the end of the job).
    Hang,
}

/// The message of the panics [`Act::Panic`] raises.
pub const PANIC_MESSAGE: &str = "bad pixel in batch";

/// Sums the item indexes of its batch (`{"sum", "n"}`); `behave` may fail, panic or stall per
/// (batch, attempt).
pub struct SumWorker<F> {
    behave: F,
    /// How many times the worker ran.
    pub calls: AtomicU32,
}

#[async_trait]
impl<F: Fn(u64, u32) -> Act + Send + Sync> Worker for SumWorker<F> {
    async fn process(&self, event: &WorkerEvent) -> Result<PartialResult, TaskError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match (self.behave)(event.batch_id, event.attempt) {
            Act::Sum => {}
            Act::Fail(msg) => return Err(TaskError::new(msg)),
            Act::Panic => panic!("{PANIC_MESSAGE} {}", event.batch_id),
            Act::Stall(d) => std::thread::sleep(d),
            Act::Hang => std::future::pending().await,
        }
        Ok(sum_of(event))
    }
}

/// The partial result of `event`'s batch: `{"sum", "n"}` over its items.
pub fn sum_of(event: &WorkerEvent) -> PartialResult {
    let sum: u64 = (event.start_index..event.end_index).sum();
    PartialResult::json(json!({"sum": sum, "n": event.end_index - event.start_index}))
}

/// A [`SumWorker`] behaving as `behave` says.
pub fn worker<F: Fn(u64, u32) -> Act + Send + Sync + 'static>(behave: F) -> Arc<SumWorker<F>> {
    Arc::new(SumWorker {
        behave,
        calls: AtomicU32::new(0),
    })
}

/// Adds the partial sums; reports which batches were missing.
pub struct SumCombiner;

#[async_trait]
impl Combiner for SumCombiner {
    async fn combine(&self, input: CombineInput) -> Result<Value, TaskError> {
        let field = |key: &str| -> u64 {
            input
                .partials
                .iter()
                .map(|p| p.result.as_json().unwrap()[key].as_u64().unwrap())
                .sum()
        };
        Ok(json!({"sum": field("sum"), "items": field("n"), "missing": input.missing_batches}))
    }
}

/// A runtime with `worker` as "sum", [`SumCombiner`] as "add", a 20 ms poll and 4 workers.
pub fn runtime(worker: Arc<dyn Worker>) -> LocalRuntimeBuilder {
    LocalRuntime::builder()
        .worker("sum", worker)
        .combiner("add", Arc::new(SumCombiner))
        .poll_interval(Duration::from_millis(20))
        .worker_concurrency(4)
}

/// What becomes of one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered once.
    Once,
    /// Delivered twice (at-least-once delivery).
    Twice,
    /// Refused by the invoker (throttled past its retries): the invocation is lost.
    Refused,
}

/// An invoker that delivers each invocation as `fault(function, payload)` says.
struct Faulty<F> {
    inner: Arc<dyn Invoker>,
    fault: F,
}

#[async_trait]
impl<F: Fn(&str, &Value) -> Delivery + Send + Sync> Invoker for Faulty<F> {
    async fn invoke(&self, function: &str, payload: Value) -> Result<(), BackendError> {
        match (self.fault)(function, &payload) {
            Delivery::Once => self.inner.invoke(function, payload).await,
            Delivery::Twice => {
                self.inner.invoke(function, payload.clone()).await?;
                self.inner.invoke(function, payload).await
            }
            Delivery::Refused => Err(BackendError::Throttled(format!(
                "injected: invocation of {function} refused"
            ))),
        }
    }
}

/// An invoker layer that delivers each invocation as `fault(function, payload)` says.
pub fn faults<F>(fault: F) -> InvokerLayer
where
    F: Fn(&str, &Value) -> Delivery + Send + Sync + 'static,
{
    Box::new(move |inner| Arc::new(Faulty { inner, fault }) as Arc<dyn Invoker>)
}

/// `(batchId, attempt)` of a worker event; `None` for other events.
pub fn batch_and_attempt(payload: &Value) -> Option<(u64, u32)> {
    let attempt = payload["attempt"].as_u64().unwrap_or(1);
    Some((payload["batchId"].as_u64()?, attempt as u32))
}

/// Runs `fut`, failing the test if it takes longer than `secs` seconds.
pub async fn bounded<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("test exceeded its {secs} s bound"))
}
