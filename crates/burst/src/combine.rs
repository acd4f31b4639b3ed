//! The combiner wrapper: reads every row of a job, decodes the partial results, runs the
//! user's [`Combiner`] (also on time-out and on the error path), stores the outcome and the
//! final status.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::backends::Backends;
use crate::error::{BackendError, BurstError};
use crate::job::{JobOutcome, JobState, MonitorState};
use crate::monitor::{error_text, exceeds_tolerance, histories, permanent_failures};
use crate::payload;
use crate::traits::{all_attempts, all_rows, BatchOutput, CombineInput, Combiner};
use crate::worker::catch_panic;

/// Object-store key of a job's outcome.
pub fn outcome_key(job_id: &str) -> String {
    format!("jobs/{job_id}/outcome.json")
}

/// Stores an outcome under [`outcome_key`]; returns the key.
pub async fn store_outcome(
    backends: &Backends,
    outcome: &JobOutcome,
) -> Result<String, BurstError> {
    let key = outcome_key(&outcome.job_id);
    let bytes = serde_json::to_vec(outcome).map_err(|e| BurstError::malformed("job outcome", e))?;
    backends.store.put(&key, bytes).await?;
    Ok(key)
}

/// Reads a stored outcome.
pub async fn load_outcome(backends: &Backends, key: &str) -> Result<JobOutcome, BurstError> {
    let bytes = backends.store.get(key).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| BurstError::malformed(format!("job outcome {key}"), e))
}

/// Gathers the combiner's input from the task table.
pub async fn gather(backends: &Backends, state: &MonitorState) -> Result<CombineInput, BurstError> {
    let job = &state.job;
    let tasks = backends.tasks.as_ref();
    let mut rows = all_rows(tasks, &job.job_id).await?;
    rows.sort_by_key(|r| r.batch_id);
    rows.dedup_by_key(|r| r.batch_id);
    let partials = rows
        .iter()
        .map(|row| {
            payload::decode(&row.results, &row.results_mime_type, row.nresults)
                .map(|result| BatchOutput {
                    batch_id: row.batch_id,
                    result,
                })
                .map_err(|message| BurstError::Decode {
                    batch_id: row.batch_id,
                    message,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let done: BTreeSet<u64> = rows.iter().map(|r| r.batch_id).collect();
    let attempts = all_attempts(tasks, &job.job_id).await?;
    let failed = permanent_failures(&histories(&attempts), &done, job.settings.max_attempts);
    let elapsed_secs =
        crate::time::now_ms().saturating_sub(crate::monitor::start_ms(job)) as f64 / 1000.0;
    Ok(CombineInput {
        job_id: job.job_id.clone(),
        job_parameters: job.job_parameters.clone(),
        start_time: job.start_time.clone(),
        elapsed_secs,
        num_batches: job.num_batches,
        partials,
        missing_batches: (0..job.num_batches).filter(|b| !done.contains(b)).collect(),
        failed_batches: failed,
        timed_out: state.timed_out,
        error: state.error.as_ref().map(error_text),
    })
}

/// The final state of a job given what the combiner received.
pub fn final_state(input: &CombineInput, tolerated_failure_percent: f64) -> JobState {
    let too_many = exceeds_tolerance(
        input.failed_batches.len() as u64,
        input.num_batches,
        tolerated_failure_percent,
    );
    let unfinished = input.missing_batches.len() > input.failed_batches.len();
    if input.error.is_some() || too_many {
        JobState::Failed
    } else if unfinished {
        JobState::TimedOut
    } else {
        JobState::Succeeded
    }
}

fn failure_summary(input: &CombineInput) -> Option<String> {
    let first = input.failed_batches.first()?;
    Some(format!(
        "{} of {} batches failed (first: batch {} after {} attempt(s): {})",
        input.failed_batches.len(),
        input.num_batches,
        first.batch_id,
        first.attempts,
        first.cause
    ))
}

/// Runs the combine step for the state machine's `Combine` task; returns a small summary
/// (`state`, `outcomeKey`, counts) that stays far below the event limit.
pub async fn handle(
    backends: &Backends,
    combiner: &dyn Combiner,
    state: MonitorState,
) -> Result<Value, BurstError> {
    let input = gather(backends, &state).await?;
    let mut job_state = final_state(&input, state.job.settings.tolerated_failure_percent);
    let mut error = input.error.clone().or_else(|| match job_state {
        JobState::Failed => failure_summary(&input),
        _ => None,
    });
    let summary = (
        input.job_id.clone(),
        input.num_batches,
        input.partials.len() as u64,
    );
    let (failed_batches, missing_batches) =
        (input.failed_batches.clone(), input.missing_batches.clone());
    let result = match catch_panic(combiner.combine(input)).await {
        Ok(value) => Some(value),
        Err(e) => {
            job_state = JobState::Failed;
            error = Some(format!("combiner failed: {}", e.message));
            None
        }
    };
    let (job_id, num_batches, completed) = summary;
    let elapsed_secs =
        crate::time::now_ms().saturating_sub(crate::monitor::start_ms(&state.job)) as f64 / 1000.0;
    let outcome = JobOutcome {
        job_id: job_id.clone(),
        state: job_state,
        result,
        num_batches,
        completed,
        failed_batches,
        missing_batches,
        elapsed_secs,
        error,
    };
    let key = store_outcome(backends, &outcome).await?;
    let mut status = backends
        .tasks
        .get_status(&job_id)
        .await?
        .ok_or_else(|| BackendError::NotFound(format!("status of job {job_id}")))?;
    status.state = outcome.state;
    status.completed = outcome.completed;
    status.failed_batches = outcome.failed_batches.len() as u64;
    status.elapsed_secs = outcome.elapsed_secs;
    status.outcome_key = Some(key.clone());
    status.error = outcome.error.clone();
    backends.tasks.put_status(&status).await?;
    Ok(json!({
        "jobId": job_id,
        "state": outcome.state,
        "outcomeKey": key,
        "completed": outcome.completed,
        "failedBatches": outcome.failed_batches.len(),
        "missingBatches": outcome.missing_batches.len(),
    }))
}

/// Parses the state machine's data and runs [`handle`].
pub async fn handle_json(
    backends: &Backends,
    combiner: &dyn Combiner,
    input: Value,
) -> Result<Value, BurstError> {
    let state: MonitorState =
        serde_json::from_value(input).map_err(|e| BurstError::malformed("combiner input", e))?;
    handle(backends, combiner, state).await
}
