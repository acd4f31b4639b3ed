//! Errors of state-machine definitions and executions.

use thiserror::Error;

/// A state-machine definition is invalid, or an execution failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AslError {
    /// The definition does not follow the supported ASL subset.
    #[error("invalid state machine definition: {0}")]
    Definition(String),
    /// A path (`InputPath`, `Variable`, `.$` parameter, ...) did not resolve.
    #[error("path {path:?} in state {state:?}: {message}")]
    Path {
        /// The state being run.
        state: String,
        /// The path.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A Task's resource has no handler.
    #[error("state {state:?}: no handler for resource {resource:?}")]
    UnknownResource {
        /// The state being run.
        state: String,
        /// The resource string.
        resource: String,
    },
    /// The execution ended in a Fail state or with an uncaught error.
    #[error("execution failed with {error}: {cause}")]
    Failed {
        /// Error name (e.g. `States.TaskFailed`).
        error: String,
        /// Its cause.
        cause: String,
    },
}
