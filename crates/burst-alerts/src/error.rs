//! What can go wrong in an alerts run, each with a name (the Lambda function's `errorType`).

use thiserror::Error;

/// A failed alerts run (nothing was lost: the checkpoint did not advance).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AlertsError {
    /// The webhook secret does not exist or holds no string value.
    #[error("webhook secret {secret} is missing: {detail}")]
    SecretMissing {
        /// The secret's ARN or name.
        secret: String,
        /// What Secrets Manager answered.
        detail: String,
    },
    /// The webhook secret's value is not a webhook URL (the value itself is never shown).
    #[error(
        "webhook secret {secret} is malformed: {reason} (expected an https:// URL, or a JSON \
         object {{\"url\": \"https://...\"}})"
    )]
    SecretMalformed {
        /// The secret's ARN or name.
        secret: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading the secret failed for another reason (access, network).
    #[error("reading webhook secret {secret}: {detail}")]
    SecretUnreadable {
        /// The secret's ARN or name.
        secret: String,
        /// The error.
        detail: String,
    },
    /// Reading a log group failed.
    #[error("reading log group {group}: {detail}")]
    Logs {
        /// The log group.
        group: String,
        /// The error.
        detail: String,
    },
    /// Reading or writing the checkpoint failed.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// Another run saved the checkpoint since this one read it (runs overlapped).
    #[error("checkpoint: another alerts run saved it first ({0})")]
    CheckpointConflict(String),
    /// Reading the failure queue failed.
    #[error("failure queue {queue}: {detail}")]
    Queue {
        /// The queue's URL.
        queue: String,
        /// The error.
        detail: String,
    },
    /// The webhook did not accept the report.
    #[error("posting the report to the webhook failed: {0}")]
    Post(String),
    /// The function's configuration (environment) is incomplete or wrong.
    #[error("alerts configuration: {0}")]
    Config(String),
}

impl AlertsError {
    /// The error's name, e.g. `Alerts.SecretMissing`.
    pub fn name(&self) -> &'static str {
        match self {
            AlertsError::SecretMissing { .. } => "Alerts.SecretMissing",
            AlertsError::SecretMalformed { .. } => "Alerts.SecretMalformed",
            AlertsError::SecretUnreadable { .. } => "Alerts.SecretUnreadable",
            AlertsError::Logs { .. } => "Alerts.Logs",
            AlertsError::Checkpoint(_) => "Alerts.Checkpoint",
            AlertsError::CheckpointConflict(_) => "Alerts.CheckpointConflict",
            AlertsError::Queue { .. } => "Alerts.Queue",
            AlertsError::Post(_) => "Alerts.Post",
            AlertsError::Config(_) => "Alerts.Config",
        }
    }
}
