//! The end of a job in storage: its [`JobOutcome`] in the object store, the status record
//! pointing to it, and the text of a caught error that ended it.

use serde_json::Value;

use crate::backends::Backends;
use crate::error::BurstError;
use crate::job::{JobOutcome, JobStatus};

/// Key prefix of the objects the framework keeps for job `job_id` (its outcome).
pub fn job_prefix(job_id: &str) -> String {
    format!("jobs/{job_id}/")
}

/// Object-store key of a job's outcome.
pub fn outcome_key(job_id: &str) -> String {
    format!("{}outcome.json", job_prefix(job_id))
}

/// Stores `outcome` under [`outcome_key`] and points the job's `status` at it (state, counts,
/// elapsed time, error); returns the key.
pub async fn record_outcome(
    backends: &Backends,
    mut status: JobStatus,
    outcome: &JobOutcome,
) -> Result<String, BurstError> {
    let key = outcome_key(&outcome.job_id);
    let bytes = serde_json::to_vec(outcome).map_err(|e| BurstError::malformed("job outcome", e))?;
    backends.store.put(&key, bytes).await?;
    status.state = outcome.state;
    status.completed = outcome.completed;
    status.failed_batches = outcome.failed_batches.len() as u64;
    status.elapsed_secs = outcome.elapsed_secs;
    status.outcome_key = Some(key.clone());
    status.error = outcome.error.clone();
    backends.tasks.put_status(&status).await?;
    Ok(key)
}

/// Reads a stored outcome.
pub async fn load_outcome(backends: &Backends, key: &str) -> Result<JobOutcome, BurstError> {
    let bytes = backends.store.get(key).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| BurstError::malformed(format!("job outcome {key}"), e))
}

/// The text of an error caught by the state machine (`{Error, Cause}`), for the outcome.
pub fn error_text(error: &Value) -> String {
    match (error.get("Error"), error.get("Cause")) {
        (Some(e), Some(c)) => format!(
            "{}: {}",
            e.as_str().unwrap_or_default(),
            c.as_str().unwrap_or_default()
        ),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn caught_errors_read_as_text() {
        assert_eq!(
            error_text(&json!({"Error": "Burst.Throttled", "Cause": "slow down"})),
            "Burst.Throttled: slow down"
        );
        assert_eq!(error_text(&json!("x")), "\"x\"");
    }
}
