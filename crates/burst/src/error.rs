//! Typed errors of the framework and of its backends.

use thiserror::Error;

/// What went wrong in a backend (task table, object store, invoker, state-machine starter).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackendError {
    /// The named thing (object key, job id, function name) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The backend refused the call for now (rate limit, concurrency limit); retrying later may work.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The request was malformed (bad key, bad range, payload too large).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Any other failure of the backend (I/O, network, service error).
    #[error("backend failure: {0}")]
    Other(String),
}

impl BackendError {
    /// The error name used by the state machine's Retry/Catch rules for this error.
    pub fn error_name(&self) -> &'static str {
        match self {
            BackendError::NotFound(_) => "Burst.NotFound",
            BackendError::Throttled(_) => "Burst.Throttled",
            BackendError::Invalid(_) => "Burst.Invalid",
            BackendError::Other(_) => "Burst.BackendError",
        }
    }

    /// Wraps an I/O error, naming the path or object it concerned.
    pub fn io(what: impl std::fmt::Display, err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::NotFound {
            BackendError::NotFound(what.to_string())
        } else {
            BackendError::Other(format!("{what}: {err}"))
        }
    }
}

/// An error returned by user code (a [`crate::Worker`] or a [`crate::Combiner`]), or a panic in it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct TaskError {
    /// Human-readable cause, kept in the task table as the batch's failure cause.
    pub message: String,
}

impl TaskError {
    /// Builds an error from any message.
    pub fn new(message: impl Into<String>) -> Self {
        TaskError {
            message: message.into(),
        }
    }

    /// Builds an error from any standard error, keeping its source chain in the message.
    pub fn from_error(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        TaskError { message }
    }
}

impl From<std::io::Error> for TaskError {
    fn from(err: std::io::Error) -> Self {
        TaskError::from_error(&err)
    }
}

impl From<serde_json::Error> for TaskError {
    fn from(err: serde_json::Error) -> Self {
        TaskError::from_error(&err)
    }
}

impl From<BackendError> for TaskError {
    fn from(err: BackendError) -> Self {
        TaskError::new(err.to_string())
    }
}

/// A request that cannot be planned (bad ranges or limits).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// A parameter is out of its allowed range.
    #[error("invalid {name}: {value} (expected {expected})")]
    InvalidParameter {
        /// Parameter name as in the JSON interface (e.g. `batchSize`).
        name: &'static str,
        /// The value received.
        value: String,
        /// What was expected instead.
        expected: String,
    },
}

/// Any error of the framework's handlers.
#[derive(Debug, Error)]
pub enum BurstError {
    /// The job could not be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A backend call failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// User code failed.
    #[error("task failed: {0}")]
    Task(#[from] TaskError),
    /// An event or stored record did not have the expected JSON shape.
    #[error("malformed {what}: {source}")]
    Malformed {
        /// Which event or record (e.g. `worker event`).
        what: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// An event would exceed the 256 KB payload limit of Lambda and Step Functions.
    #[error("{what} is {size} bytes, over the {limit}-byte event limit; pass large data through the object store")]
    EventTooLarge {
        /// Which event.
        what: String,
        /// Its serialized size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A stored result could not be decoded.
    #[error("cannot decode results of batch {batch_id}: {message}")]
    Decode {
        /// The batch whose row was unreadable.
        batch_id: u64,
        /// What was wrong.
        message: String,
    },
    /// A function name given in an event is not registered with the runtime.
    #[error("no {kind} registered under the name {name:?}")]
    UnknownFunction {
        /// `worker` or `combiner`.
        kind: &'static str,
        /// The name that was looked up.
        name: String,
    },
    /// The state machine failed to run.
    #[error(transparent)]
    Asl(#[from] crate::asl::AslError),
    /// The job has not ended (its status is not final), so its state cannot be deleted.
    #[error("job {job_id} has not ended (its status is {state}); delete its state once it has")]
    JobNotEnded {
        /// The job.
        job_id: String,
        /// Its current state, as in its status record.
        state: String,
    },
    /// The job ended in failure (reported by the combiner or the error path).
    #[error("job {job_id} failed: {message}")]
    JobFailed {
        /// The job.
        job_id: String,
        /// Why.
        message: String,
    },
}

impl BurstError {
    /// Wraps a JSON (de)serialization error, naming the event or record concerned.
    pub fn malformed(what: impl Into<String>, source: serde_json::Error) -> Self {
        BurstError::Malformed {
            what: what.into(),
            source,
        }
    }

    /// The error name used by the state machine's Retry/Catch rules for this error.
    pub fn error_name(&self) -> &'static str {
        match self {
            BurstError::Backend(e) => e.error_name(),
            BurstError::Plan(_) => "Burst.PlanError",
            BurstError::Task(_) => "Burst.TaskFailed",
            BurstError::Malformed { .. } => "Burst.Malformed",
            BurstError::EventTooLarge { .. } => "Burst.EventTooLarge",
            BurstError::Decode { .. } => "Burst.Decode",
            BurstError::UnknownFunction { .. } => "Burst.UnknownFunction",
            BurstError::Asl(_) => "Burst.StateMachine",
            BurstError::JobFailed { .. } => "Burst.JobFailed",
            BurstError::JobNotEnded { .. } => "Burst.JobNotEnded",
        }
    }
}
