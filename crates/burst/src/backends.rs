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

/// Invokes `function` once per payload, [`INVOKE_CONCURRENCY`] at a time; every payload is
/// tried, and the first error (if any) is returned with the number of failed invocations.
pub async fn invoke_all(
    invoker: &Arc<dyn Invoker>,
    function: &str,
    payloads: Vec<Value>,
) -> Result<(), BackendError> {
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
    match failures.len() {
        0 => Ok(()),
        n => Err(BackendError::Other(format!(
            "{n} invocation(s) of {function} failed; first: {}",
            failures[0]
        ))),
    }
}

fn flatten_join(
    result: Result<Result<(), BackendError>, tokio::task::JoinError>,
) -> Result<(), BackendError> {
    result.map_err(|e| BackendError::Other(format!("invocation task panicked: {e}")))?
}
