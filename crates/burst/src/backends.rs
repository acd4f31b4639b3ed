//! The set of backends the handlers run on, chosen once at the edge (local or cloud).

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::error::{BackendError, BurstError};
use crate::traits::{Invoker, ObjectStore, StateMachineStarter, TaskTable};

/// Step Functions' and Lambda's asynchronous payload limit (256 KB).
pub const EVENT_LIMIT_BYTES: usize = 256 * 1024;

/// How many invocations a manager keeps in flight at once.
pub const INVOKE_CONCURRENCY: usize = 16;

/// Everything a handler talks to.
#[derive(Clone)]
pub struct Backends {
    /// Task rows, attempt log, job statuses.
    pub tasks: Arc<dyn TaskTable>,
    /// Job outcomes and any large data.
    pub store: Arc<dyn ObjectStore>,
    /// Asynchronous invocation of managers and workers.
    pub invoker: Arc<dyn Invoker>,
    /// Starts the monitor state machine.
    pub starter: Arc<dyn StateMachineStarter>,
}

/// Refuses an event whose JSON exceeds [`EVENT_LIMIT_BYTES`].
pub fn check_event_size(what: &str, event: &impl Serialize) -> Result<(), BurstError> {
    let size = serde_json::to_vec(event)
        .map_err(|e| BurstError::malformed(what, e))?
        .len();
    if size > EVENT_LIMIT_BYTES {
        return Err(BurstError::EventTooLarge {
            what: what.to_string(),
            size,
            limit: EVENT_LIMIT_BYTES,
        });
    }
    Ok(())
}

/// Serializes an event, refusing it if it exceeds [`EVENT_LIMIT_BYTES`].
pub fn to_event(what: &str, event: &impl Serialize) -> Result<Value, BurstError> {
    check_event_size(what, event)?;
    serde_json::to_value(event).map_err(|e| BurstError::malformed(what, e))
}

/// Parses a raw event (the inverse of [`to_event`]), naming it in the error.
pub(crate) fn from_event<T: DeserializeOwned>(what: &str, event: Value) -> Result<T, BurstError> {
    serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        let what = match path.as_str() {
            "." => what.to_owned(),
            field => format!("{what} at {field}"),
        };
        BurstError::malformed(what, e.into_inner())
    })
}

/// Who issues a set of invocations (named in the warning about the ones that failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    /// A manager of the spawn tree, at this level (0 for the one that started the job).
    Manager(u32),
    /// The monitor (retries, recoveries, speculative copies).
    Monitor,
}

impl Issuer {
    fn name(self) -> &'static str {
        match self {
            Issuer::Manager(_) => "manager",
            Issuer::Monitor => "monitor",
        }
    }

    fn level(self) -> Option<u32> {
        match self {
            Issuer::Manager(level) => Some(level),
            Issuer::Monitor => None,
        }
    }
}

/// Invokes `function` once per payload of job `job_id`, [`INVOKE_CONCURRENCY`] at a time, and
/// returns how many invocations failed.
///
/// A failed invocation is not the issuer's error: every payload is tried, the failures are
/// logged (a warning with `jobId`, the issuer and its `level`, the number failed and the first
/// cause), and the batches they lost are left to the monitor, which invokes a batch that has
/// neither a row nor a failure once the job's recovery grace period has passed.
pub async fn invoke_all(
    invoker: &Arc<dyn Invoker>,
    job_id: &str,
    issuer: Issuer,
    function: &str,
    payloads: Vec<Value>,
) -> usize {
    let total = payloads.len();
    let mut running = JoinSet::new();
    let mut failures = Vec::new();
    for payload in payloads {
        if running.len() >= INVOKE_CONCURRENCY {
            if let Some(Err(e)) = running.join_next().await.map(flatten_join) {
                failures.push(e);
            }
        }
        let invoker = Arc::clone(invoker);
        let function = function.to_string();
        running.spawn(async move { invoker.invoke(&function, payload).await });
    }
    while let Some(result) = running.join_next().await {
        if let Err(e) = flatten_join(result) {
            failures.push(e);
        }
    }
    if let Some(first) = failures.first() {
        tracing::warn!(
            jobId = %job_id,
            by = issuer.name(),
            level = issuer.level(),
            function,
            failed = failures.len(),
            total,
            firstCause = %first,
            "invocations failed; the monitor invokes the batches they lost after the recovery \
             grace period"
        );
    }
    failures.len()
}

fn flatten_join(
    result: Result<Result<(), BackendError>, tokio::task::JoinError>,
) -> Result<(), BackendError> {
    result.map_err(|e| BackendError::Other(format!("invocation task panicked: {e}")))?
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;

    /// Refuses every payload with an odd `n`, and counts the calls.
    #[derive(Default)]
    struct OddRefused(AtomicUsize);

    #[async_trait]
    impl Invoker for OddRefused {
        async fn invoke(&self, _function: &str, payload: Value) -> Result<(), BackendError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            match payload["n"].as_u64() {
                Some(n) if n % 2 == 1 => Err(BackendError::Throttled(format!("payload {n}"))),
                _ => Ok(()),
            }
        }
    }

    #[tokio::test]
    async fn failed_invocations_are_counted_not_returned() {
        let invoker = Arc::new(OddRefused::default());
        let shared: Arc<dyn Invoker> = invoker.clone();
        let payloads = (0..40).map(|n| json!({ "n": n })).collect();
        let failed = invoke_all(&shared, "j", Issuer::Manager(1), "w", payloads).await;
        assert_eq!(failed, 20);
        assert_eq!(
            invoker.0.load(Ordering::SeqCst),
            40,
            "every payload is tried"
        );
        assert_eq!(
            invoke_all(&shared, "j", Issuer::Monitor, "w", Vec::new()).await,
            0
        );
    }
}
