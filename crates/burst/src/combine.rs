//! The combiner wrapper: reads every row of a job, decodes the partial results, runs the
//! user's [`Combiner`] (also on time-out and on the error path), stores the outcome and the
//! final status.

use std::collections::BTreeSet;

use crate::attempts::{exceeds_tolerance, histories, permanent_failures, recovered_batches};
use crate::backends::Backends;
use crate::error::BurstError;
use crate::job::{CombineSummary, JobOutcome, JobState, MonitorState};
use crate::outcome::{error_text, record_outcome};
use crate::payload;
use crate::status::load_status;
use crate::traits::{all_attempts, all_rows, BatchOutput, CombineInput, Combiner};
use crate::worker::catch_panic;

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
    let history = histories(&all_attempts(tasks, &job.job_id).await?);
    let failed = permanent_failures(&history, &done, job.settings.max_attempts);
    Ok(CombineInput {
        job_id: job.job_id.clone(),
        job_parameters: job.job_parameters.clone(),
        start_time: job.start_time.clone(),
        elapsed_secs: job.elapsed_secs(),
        num_batches: job.num_batches,
        partials,
        missing_batches: (0..job.num_batches).filter(|b| !done.contains(b)).collect(),
        failed_batches: failed,
        recovered_batches: recovered_batches(&history),
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

/// Runs the combine step for the state machine's `Combine` task (also on time-out and on the
/// error path): runs the combiner, stores the outcome, updates the status, and returns a small
/// summary that stays far below the event limit.
pub async fn handle(
    backends: &Backends,
    combiner: &dyn Combiner,
    state: MonitorState,
) -> Result<CombineSummary, BurstError> {
    let status = load_status(backends.tasks.as_ref(), &state.job.job_id).await?;
    let input = gather(backends, &state).await?;
    let mut job_state = final_state(&input, state.job.settings.tolerated_failure_percent);
    let mut error = input.error.clone().or_else(|| match job_state {
        JobState::Failed => failure_summary(&input),
        _ => None,
    });
    let (job_id, num_batches, completed, recovered_batches) = (
        input.job_id.clone(),
        input.num_batches,
        input.partials.len() as u64,
        input.recovered_batches,
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
    let outcome = JobOutcome {
        job_id,
        state: job_state,
        result,
        num_batches,
        completed,
        failed_batches,
        missing_batches,
        recovered_batches,
        elapsed_secs: state.job.elapsed_secs(),
        error,
    };
    let outcome_key = record_outcome(backends, status, &outcome).await?;
    Ok(CombineSummary {
        job_id: outcome.job_id,
        state: outcome.state,
        outcome_key,
        completed: outcome.completed,
        failed_batches: outcome.failed_batches.len(),
        missing_batches: outcome.missing_batches.len(),
    })
}
