//! The combiner wrapper: reads every row of a job, decodes the partial results (reading those
//! stored as objects, see [`crate::partials`]), runs the
//! user's [`Combiner`] (also on time-out and on the error path), stores the outcome and the
//! final status.

use std::collections::BTreeSet;

use crate::attempts::{exceeds_tolerance, histories, permanent_failures, recovered_batches};
use crate::backends::Backends;
use crate::cost::{
    configured_memory_mb, consistent_read_units, FunctionUsage, Prices, Usage, COMBINE_TRANSITIONS,
};
use crate::error::BurstError;
use crate::job::{BatchRow, CombineSummary, JobOutcome, JobState, MonitorState};
use crate::manager::plan_of;
use crate::outcome::{error_text, record_outcome};
use crate::partials::resolve_all;
use crate::status::load_status;
use crate::traits::{all_attempts, all_rows, CombineInput, Combiner};
use crate::worker::catch_panic;

/// Gathers the combiner's input from the task table.
pub async fn gather(backends: &Backends, state: &MonitorState) -> Result<CombineInput, BurstError> {
    Ok(gather_with_usage(backends, state).await?.0)
}

/// What the job's rows, its monitor and its managers used, before the combiner's own share:
/// the rows' usage, the monitor's polls (COUNT queries priced at the rows' average size), the
/// managers' invocations (their count from the job's plan; they report no duration) and the
/// combiner's reading of the rows.
fn usage_before_combine(state: &MonitorState, rows: &[BatchRow]) -> Usage {
    let mut usage = state.usage.clone();
    let row_bytes: u64 = rows.iter().map(BatchRow::item_bytes).sum();
    for row in rows {
        usage.add(&row.usage);
    }
    if !rows.is_empty() && state.counted_rows > 0 {
        let average = row_bytes / rows.len() as u64;
        usage.dynamodb_read_units += consistent_read_units(state.counted_rows * average);
    }
    usage.dynamodb_read_units += consistent_read_units(row_bytes);
    usage.add(&Usage {
        functions: [(
            "manager".to_owned(),
            FunctionUsage {
                invocations: plan_of(&state.job).num_managers(),
                ..FunctionUsage::default()
            },
        )]
        .into(),
        ..Usage::default()
    });
    usage
}

/// [`gather`], and the usage of the job so far ([`usage_before_combine`]).
async fn gather_with_usage(
    backends: &Backends,
    state: &MonitorState,
) -> Result<(CombineInput, Usage), BurstError> {
    let job = &state.job;
    let tasks = backends.tasks.as_ref();
    let mut rows = all_rows(tasks, &job.job_id).await?;
    rows.sort_by_key(|r| r.batch_id);
    rows.dedup_by_key(|r| r.batch_id);
    let usage = usage_before_combine(state, &rows);
    let done: BTreeSet<u64> = rows.iter().map(|r| r.batch_id).collect();
    let partials = resolve_all(&backends.store, rows).await?;
    let history = histories(&all_attempts(tasks, &job.job_id).await?);
    let failed = permanent_failures(&history, &done, job.settings.max_attempts);
    let input = CombineInput {
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
    };
    Ok((input, usage))
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
    let started = std::time::Instant::now();
    let status = load_status(backends.tasks.as_ref(), &state.job.job_id).await?;
    let (input, mut usage) = gather_with_usage(backends, &state).await?;
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
    // The combiner's own invocation (up to here), its outcome object and the end states.
    usage.add(&Usage::invocation(
        "combiner",
        started.elapsed(),
        configured_memory_mb(),
    ));
    usage.s3_put_requests += 1;
    usage.state_transitions += COMBINE_TRANSITIONS;
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
        cost_usd: usage.cost(&Prices::default()),
        usage,
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
