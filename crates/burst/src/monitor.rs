//! The monitor: one poll of a running job (count rows, retry failed batches, re-invoke
//! stragglers, detect time-out and excess failures), as a pure decision plus a thin handler.

use std::collections::BTreeSet;

use crate::attempts::{exceeds_tolerance, histories, permanent_failures};
use crate::backends::{check_event_size, invoke_all, to_event, Backends};
use crate::error::BurstError;
use crate::job::{
    AttemptKind, AttemptRecord, BatchFailure, CompletedBatch, FailureReport, JobOutcome, JobSpec,
    JobState, MonitorRequest, MonitorResponse, MonitorState,
};
use crate::outcome::{error_text, record_outcome};
use crate::status::load_status;
use crate::time::{now_ms, secs_between};
use crate::traits::{all_attempts, all_completed};

/// What the monitor observed in one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation<'a> {
    /// Number of completion rows.
    pub completed_count: u64,
    /// Completed batches with durations, when they were read (needed for retries and stragglers).
    pub completed: Option<&'a [CompletedBatch]>,
    /// The attempt log.
    pub attempts: &'a [AttemptRecord],
    /// Now, epoch ms.
    pub now_ms: u64,
    /// Job start, epoch ms.
    pub start_ms: u64,
}

/// What the monitor decided in one poll.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// Batches to re-invoke after a failure, with their new attempt numbers.
    pub retries: Vec<(u64, u32)>,
    /// Straggling batches to re-invoke speculatively, with their new attempt numbers.
    pub speculative: Vec<(u64, u32)>,
    /// Batches failed for good.
    pub failed: Vec<BatchFailure>,
    /// Batches neither complete nor failed for good.
    pub num_remaining: u64,
    /// Whether the time-out has passed.
    pub timed_out: bool,
    /// Whether failed batches exceed the tolerated percentage.
    pub failures_exceed_tolerance: bool,
    /// Seconds since the start.
    pub elapsed_secs: f64,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Decides one poll of the monitor (pure).
pub fn decide(job: &JobSpec, seen: &Observation<'_>) -> Decision {
    let settings = &job.settings;
    let elapsed_secs = secs_between(seen.start_ms, seen.now_ms);
    let timed_out = elapsed_secs >= job.search_timeout_secs;
    let done: BTreeSet<u64> = seen
        .completed
        .map(|c| c.iter().map(|b| b.batch_id).collect())
        .unwrap_or_default();
    let history = histories(seen.attempts);
    let failed = permanent_failures(&history, &done, settings.max_attempts);
    let failed_ids: BTreeSet<u64> = failed.iter().map(|f| f.batch_id).collect();
    let mut decision = Decision {
        num_remaining: job
            .num_batches
            .saturating_sub(seen.completed_count + failed.len() as u64),
        timed_out,
        failures_exceed_tolerance: exceeds_tolerance(
            failed.len() as u64,
            job.num_batches,
            settings.tolerated_failure_percent,
        ),
        elapsed_secs,
        failed,
        ..Decision::default()
    };
    if timed_out || seen.completed.is_none() {
        return decision;
    }
    for (&batch, h) in &history {
        let pending = h.max_attempt > h.last_failed_attempt;
        if h.failures > 0 && !pending && !done.contains(&batch) && !failed_ids.contains(&batch) {
            decision.retries.push((batch, h.max_attempt + 1));
        }
    }
    let stragglers = &settings.stragglers;
    let enough_done =
        seen.completed_count as f64 >= stragglers.completed_fraction * job.num_batches as f64;
    let typical = seen
        .completed
        .and_then(|c| median(c.iter().map(|b| b.duration_secs).collect()));
    if let (true, true, Some(typical)) = (stragglers.enabled, enough_done, typical) {
        let limit = (typical * stragglers.slowness_factor).max(stragglers.min_running_secs);
        let retried: BTreeSet<u64> = decision.retries.iter().map(|r| r.0).collect();
        for batch in 0..job.num_batches {
            if done.contains(&batch) || failed_ids.contains(&batch) || retried.contains(&batch) {
                continue;
            }
            let h = history.get(&batch).cloned().unwrap_or_default();
            let since = h.last_invoked_ms.unwrap_or(seen.start_ms);
            let running = secs_between(since, seen.now_ms);
            if running > limit && h.speculative < stragglers.max_speculative {
                decision.speculative.push((batch, h.max_attempt.max(1) + 1));
            }
        }
    }
    decision
}

/// Handles one invocation of the monitor function: a poll (answering the new state, checked
/// against the event limit), or the error path's failure report.
pub async fn handle(
    backends: &Backends,
    request: MonitorRequest,
) -> Result<MonitorResponse, BurstError> {
    match request {
        MonitorRequest::Poll(state) => {
            let next = poll(backends, *state).await?;
            check_event_size("monitor state", &next)?;
            Ok(MonitorResponse::Polled(Box::new(next)))
        }
        MonitorRequest::ReportFailure(report) => {
            let state = report_failure(backends, &report).await?;
            Ok(MonitorResponse::FailureReported {
                job_id: report.job_id,
                state,
            })
        }
    }
}

/// One poll: observes the task table, re-invokes what must be, and returns the new state.
pub async fn poll(
    backends: &Backends,
    mut state: MonitorState,
) -> Result<MonitorState, BurstError> {
    let job = &state.job;
    let tasks = backends.tasks.as_ref();
    let completed_count = tasks.count_rows(&job.job_id).await?;
    let attempts = all_attempts(tasks, &job.job_id).await?;
    let stragglers = &job.settings.stragglers;
    let need_list = completed_count < job.num_batches
        && (!attempts.is_empty()
            || stragglers.enabled
                && completed_count as f64
                    >= stragglers.completed_fraction * job.num_batches as f64);
    let completed = match need_list {
        true => Some(all_completed(tasks, &job.job_id).await?),
        false => None,
    };
    let decision = decide(
        job,
        &Observation {
            completed_count,
            completed: completed.as_deref(),
            attempts: &attempts,
            now_ms: now_ms(),
            start_ms: job.start_ms(),
        },
    );
    reinvoke(backends, job, &decision.retries, AttemptKind::Retried).await?;
    reinvoke(
        backends,
        job,
        &decision.speculative,
        AttemptKind::Speculative,
    )
    .await?;
    state.completed = completed_count;
    state.failed_batches = decision.failed.len() as u64;
    state.num_remaining = decision.num_remaining;
    state.timed_out = decision.timed_out;
    state.failures_exceed_tolerance = decision.failures_exceed_tolerance;
    state.elapsed_secs = decision.elapsed_secs;
    Ok(state)
}

/// Logs and re-invokes batches (the log first, so a crash never re-invokes twice unlogged).
async fn reinvoke(
    backends: &Backends,
    job: &JobSpec,
    batches: &[(u64, u32)],
    kind: AttemptKind,
) -> Result<(), BurstError> {
    let mut payloads = Vec::with_capacity(batches.len());
    for &(batch_id, attempt) in batches {
        backends
            .tasks
            .record_attempt(&AttemptRecord {
                job_id: job.job_id.clone(),
                batch_id,
                attempt,
                at_ms: now_ms(),
                kind: kind.clone(),
            })
            .await?;
        payloads.push(to_event(
            "worker event",
            &job.worker_event(batch_id, attempt),
        )?);
    }
    invoke_all(&backends.invoker, &job.worker_function_name, payloads).await?;
    Ok(())
}

/// Marks a job failed (unless it already ended) and stores an outcome without result; returns
/// the job's state after the report.
pub async fn report_failure(
    backends: &Backends,
    report: &FailureReport,
) -> Result<JobState, BurstError> {
    let status = load_status(backends.tasks.as_ref(), &report.job_id).await?;
    if status.state.is_final() {
        return Ok(status.state);
    }
    let outcome = JobOutcome {
        job_id: report.job_id.clone(),
        state: JobState::Failed,
        result: None,
        num_batches: status.num_batches,
        completed: status.completed,
        failed_batches: Vec::new(),
        missing_batches: Vec::new(),
        elapsed_secs: status.job.elapsed_secs(),
        error: Some(error_text(&report.error)),
    };
    record_outcome(backends, status, &outcome).await?;
    Ok(outcome.state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attempts::tests::rec;

    fn job(num_batches: u64) -> JobSpec {
        JobSpec {
            dataset_start_index: 0,
            dataset_end_index: num_batches,
            batch_size: 1,
            num_batches,
            num_levels: 1,
            branching_factor: num_batches,
            search_timeout_secs: 100.0,
            ..crate::job::tests::sample_spec()
        }
    }

    fn failed(cause: &str) -> AttemptKind {
        AttemptKind::Failed {
            cause: cause.into(),
        }
    }

    fn done(ids: &[u64], secs: f64) -> Vec<CompletedBatch> {
        ids.iter()
            .map(|&batch_id| CompletedBatch {
                batch_id,
                duration_secs: secs,
            })
            .collect()
    }

    #[test]
    fn failed_batches_are_retried_until_max_attempts() {
        let job = job(4);
        let completed = done(&[0, 1], 1.0);
        let log = vec![
            rec(2, 1, 10, failed("boom")),
            rec(3, 1, 10, failed("x")),
            rec(3, 2, 20, AttemptKind::Retried),
            rec(3, 2, 30, failed("y")),
            rec(3, 3, 40, AttemptKind::Retried),
            rec(3, 3, 50, failed("z")),
        ];
        let d = decide(
            &job,
            &Observation {
                completed_count: 2,
                completed: Some(&completed),
                attempts: &log,
                now_ms: 1_767_225_601_000,
                start_ms: 1_767_225_600_000,
            },
        );
        assert_eq!(d.retries, vec![(2, 2)]);
        assert_eq!(
            d.failed,
            vec![BatchFailure {
                batch_id: 3,
                attempts: 3,
                cause: "z".into()
            }]
        );
        assert_eq!(d.num_remaining, 1);
        assert!(d.failures_exceed_tolerance);
        assert!(!d.timed_out);
        assert_eq!(d.elapsed_secs, 1.0);
    }

    #[test]
    fn pending_retry_is_not_repeated_and_success_clears_failure() {
        let job = job(2);
        let completed = done(&[1], 1.0);
        let log = vec![
            rec(0, 1, 10, failed("a")),
            rec(0, 2, 20, AttemptKind::Retried),
            rec(1, 1, 10, failed("a")),
            rec(1, 2, 10, failed("a")),
            rec(1, 3, 10, failed("a")),
        ];
        let d = decide(
            &job,
            &Observation {
                completed_count: 1,
                completed: Some(&completed),
                attempts: &log,
                now_ms: 1000,
                start_ms: 0,
            },
        );
        assert!(d.retries.is_empty());
        assert!(d.failed.is_empty(), "batch 1 finally succeeded");
        assert_eq!(d.num_remaining, 1);
    }

    #[test]
    fn stragglers_are_reinvoked_once_most_batches_are_done() {
        let job = job(10);
        let completed = done(&[0, 1, 2, 3, 4, 5, 6, 7, 8], 0.5);
        let seen = |now_ms, log: &'static [AttemptRecord]| {
            decide(
                &job,
                &Observation {
                    completed_count: 9,
                    completed: Some(&completed),
                    attempts: log,
                    now_ms,
                    start_ms: 0,
                },
            )
        };
        assert!(
            seen(900, &[]).speculative.is_empty(),
            "below min_running_secs"
        );
        assert_eq!(seen(1600, &[]).speculative, vec![(9, 2)]);
        let mut job2 = job.clone();
        job2.settings.stragglers.enabled = false;
        let d = decide(
            &job2,
            &Observation {
                completed_count: 9,
                completed: Some(&completed),
                attempts: &[],
                now_ms: 5000,
                start_ms: 0,
            },
        );
        assert!(d.speculative.is_empty());
    }

    #[test]
    fn speculation_respects_its_limit_and_the_fraction() {
        let job = job(10);
        let log = [rec(9, 2, 1000, AttemptKind::Speculative)];
        let completed = done(&[0, 1, 2, 3, 4, 5, 6, 7, 8], 0.5);
        let d = decide(
            &job,
            &Observation {
                completed_count: 9,
                completed: Some(&completed),
                attempts: &log,
                now_ms: 60_000,
                start_ms: 0,
            },
        );
        assert!(d.speculative.is_empty(), "max_speculative = 1");
        let few = done(&[0, 1], 0.5);
        let d = decide(
            &job,
            &Observation {
                completed_count: 2,
                completed: Some(&few),
                attempts: &[],
                now_ms: 60_000,
                start_ms: 0,
            },
        );
        assert!(d.speculative.is_empty(), "only 20% done");
    }

    #[test]
    fn time_out_stops_retries_and_counts_what_remains() {
        let job = job(3);
        let d = decide(
            &job,
            &Observation {
                completed_count: 1,
                completed: None,
                attempts: &[],
                now_ms: 100_000,
                start_ms: 0,
            },
        );
        assert!(d.timed_out);
        assert_eq!(d.num_remaining, 2);
    }
}
