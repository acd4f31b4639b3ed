//! The monitor: one poll of a running job (count rows, retry failed batches, recover lost
//! ones, re-invoke stragglers, detect time-out and excess failures), as a pure decision plus a
//! thin handler.
//!
//! The monitor guarantees completion, whatever happened to the spawn tree: a batch whose
//! latest attempt has left neither a row nor a failure `recoveryGraceSecs` plus the median run
//! time of the completed batches after its invocation (the job's start for the tree's) is
//! lost, and the monitor invokes it itself, logging a [`AttemptKind::Recovered`] record first
//! so that the next polls wait another grace period. A lost attempt counts as a failed one, so
//! a batch gets at most `maxAttempts` attempts whether they fail or are lost; when its last
//! one is lost, the monitor records that failure. At most `maxMonitorInvocationsPerPoll`
//! invocations per poll: retries first, then recoveries, then speculative copies.

use std::collections::{BTreeMap, BTreeSet};

use crate::attempts::{
    exceeds_tolerance, histories, permanent_failures, recovered_batches, BatchHistory, LOST_CAUSE,
};
use crate::backends::{check_event_size, invoke_all, to_event, Backends, Issuer};
use crate::cost::{configured_memory_mb, Usage, TRANSITIONS_PER_POLL};
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
    /// Completed batches with durations, when they were read (needed for retries, recoveries
    /// and stragglers).
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
    /// Lost batches to invoke again, with their new attempt numbers.
    pub recoveries: Vec<(u64, u32)>,
    /// Straggling batches to re-invoke speculatively, with their new attempt numbers.
    pub speculative: Vec<(u64, u32)>,
    /// Batches whose last allowed attempt was lost, with that attempt (recorded as failed).
    pub abandoned: Vec<(u64, u32)>,
    /// Batches failed for good (the abandoned ones included), by batch id.
    pub failed: Vec<BatchFailure>,
    /// Batches neither complete nor failed for good.
    pub num_remaining: u64,
    /// Whether the time-out has passed.
    pub timed_out: bool,
    /// Whether failed batches exceed the tolerated percentage.
    pub failures_exceed_tolerance: bool,
    /// Seconds since the start.
    pub elapsed_secs: f64,
    /// Batches recovered at least once so far, this poll's recoveries included.
    pub recovered_batches: u64,
}

impl Decision {
    /// Every invocation decided, with the kind of record logged before it.
    pub fn invocations(&self) -> Vec<(u64, u32, AttemptKind)> {
        let tagged = |list: &[(u64, u32)], kind: AttemptKind| {
            list.iter()
                .map(move |&(batch, attempt)| (batch, attempt, kind.clone()))
                .collect::<Vec<_>>()
        };
        [
            tagged(&self.retries, AttemptKind::Retried),
            tagged(&self.recoveries, AttemptKind::Recovered),
            tagged(&self.speculative, AttemptKind::Speculative),
        ]
        .concat()
    }
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

/// Takes at most `*budget` items of `list` and lowers the budget by what it kept.
fn within(budget: &mut usize, mut list: Vec<(u64, u32)>) -> Vec<(u64, u32)> {
    list.truncate(*budget);
    *budget -= list.len();
    list
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
    let mut decision = Decision {
        failed: permanent_failures(&history, &done, settings.max_attempts),
        timed_out,
        elapsed_secs,
        recovered_batches: recovered_batches(&history),
        ..Decision::default()
    };
    if let (false, Some(completed)) = (timed_out, seen.completed) {
        plan_invocations(job, seen, completed, &done, &history, &mut decision);
    }
    let failed = decision.failed.len() as u64;
    decision.num_remaining = job
        .num_batches
        .saturating_sub(seen.completed_count + failed);
    decision.failures_exceed_tolerance =
        exceeds_tolerance(failed, job.num_batches, settings.tolerated_failure_percent);
    decision
}

/// Fills in the retries, recoveries, speculative copies and abandoned batches of a poll that
/// read the completed batches.
fn plan_invocations(
    job: &JobSpec,
    seen: &Observation<'_>,
    completed: &[CompletedBatch],
    done: &BTreeSet<u64>,
    history: &BTreeMap<u64, BatchHistory>,
    decision: &mut Decision,
) {
    let settings = &job.settings;
    let failed: BTreeSet<u64> = decision.failed.iter().map(|f| f.batch_id).collect();
    let waiting = |batch: &u64| !done.contains(batch) && !failed.contains(batch);
    let mut budget = settings.max_monitor_invocations_per_poll.max(1) as usize;
    let retries = history
        .iter()
        .filter(|(batch, h)| !h.is_pending() && waiting(batch))
        .map(|(&batch, h)| (batch, h.current_attempt() + 1))
        .collect();
    decision.retries = within(&mut budget, retries);

    let typical = median(completed.iter().map(|b| b.duration_secs).collect());
    let lost_after = settings.recovery_grace_secs + typical.unwrap_or(0.0);
    let stragglers = &settings.stragglers;
    let enough_done =
        seen.completed_count as f64 >= stragglers.completed_fraction * job.num_batches as f64;
    let straggling_after = typical
        .filter(|_| stragglers.enabled && enough_done)
        .map(|t| (t * stragglers.slowness_factor).max(stragglers.min_running_secs));
    let (mut recoveries, mut speculative) = (Vec::new(), Vec::new());
    let never_logged = BatchHistory::default();
    for batch in (0..job.num_batches).filter(waiting) {
        let h = history.get(&batch).unwrap_or(&never_logged);
        if !h.is_pending() {
            continue;
        }
        let running = secs_between(h.last_invoked_ms.unwrap_or(seen.start_ms), seen.now_ms);
        let next = (batch, h.current_attempt() + 1);
        if running >= lost_after {
            if h.failures() + 1 >= settings.max_attempts.max(1) {
                decision.abandoned.push((batch, h.current_attempt()));
                decision.failed.push(BatchFailure {
                    batch_id: batch,
                    attempts: h.failures() + 1,
                    cause: LOST_CAUSE.to_string(),
                });
            } else {
                recoveries.push(next);
            }
        } else if straggling_after.is_some_and(|limit| running > limit)
            && h.speculative < stragglers.max_speculative
        {
            speculative.push(next);
        }
    }
    decision.failed.sort_by_key(|f| f.batch_id);
    decision.recoveries = within(&mut budget, recoveries);
    decision.speculative = within(&mut budget, speculative);
    decision.recovered_batches += decision
        .recoveries
        .iter()
        .filter(|(batch, _)| history.get(batch).is_none_or(|h| h.recovered == 0))
        .count() as u64;
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

/// One poll: observes the task table, records and makes the invocations decided, and returns
/// the new state.
///
/// Reads per poll: the row count and the attempt log; the completed batches (ids and
/// durations) only while some are missing and there is something to look for: failures in the
/// log, the recovery grace period passed, or enough done to look for stragglers.
pub async fn poll(
    backends: &Backends,
    mut state: MonitorState,
) -> Result<MonitorState, BurstError> {
    let poll_started = std::time::Instant::now();
    let job = &state.job;
    let tasks = backends.tasks.as_ref();
    let (now_ms, start_ms) = (now_ms(), job.start_ms());
    let completed_count = tasks.count_rows(&job.job_id).await?;
    let attempts = all_attempts(tasks, &job.job_id).await?;
    let settings = &job.settings;
    let need_list = completed_count < job.num_batches
        && (!attempts.is_empty()
            || secs_between(start_ms, now_ms) >= settings.recovery_grace_secs
            || settings.stragglers.enabled
                && completed_count as f64
                    >= settings.stragglers.completed_fraction * job.num_batches as f64);
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
            now_ms,
            start_ms,
        },
    );
    for &(batch_id, attempt) in &decision.abandoned {
        let lost = AttemptKind::Failed {
            cause: LOST_CAUSE.to_string(),
        };
        record(backends, job, batch_id, attempt, lost).await?;
    }
    reinvoke(backends, job, decision.invocations()).await?;
    state.completed = completed_count;
    state.failed_batches = decision.failed.len() as u64;
    state.recovered_batches = decision.recovered_batches;
    state.num_remaining = decision.num_remaining;
    state.timed_out = decision.timed_out;
    state.failures_exceed_tolerance = decision.failures_exceed_tolerance;
    state.elapsed_secs = decision.elapsed_secs;
    let mut usage = Usage::invocation("monitor", poll_started.elapsed(), configured_memory_mb());
    usage.state_transitions = TRANSITIONS_PER_POLL;
    // The attempt log's query and the completed list's (small items: one unit each, near
    // enough); the COUNT is priced by the combiner from `counted_rows`.
    usage.dynamodb_read_units = 1.0 + f64::from(u8::from(need_list));
    state.usage.add(&usage);
    state.counted_rows += completed_count;
    Ok(state)
}

/// Appends one record about `attempt` of `batch_id` to the job's attempt log.
async fn record(
    backends: &Backends,
    job: &JobSpec,
    batch_id: u64,
    attempt: u32,
    kind: AttemptKind,
) -> Result<(), BurstError> {
    let record = AttemptRecord {
        job_id: job.job_id.clone(),
        batch_id,
        attempt,
        at_ms: now_ms(),
        kind,
    };
    Ok(backends.tasks.record_attempt(&record).await?)
}

/// Logs and invokes batches (the log first, so a crash never re-invokes twice unlogged);
/// invocations that fail are logged and left to the next recovery.
async fn reinvoke(
    backends: &Backends,
    job: &JobSpec,
    invocations: Vec<(u64, u32, AttemptKind)>,
) -> Result<(), BurstError> {
    let mut payloads = Vec::with_capacity(invocations.len());
    for (batch_id, attempt, kind) in invocations {
        record(backends, job, batch_id, attempt, kind).await?;
        payloads.push(to_event(
            "worker event",
            &job.worker_event(batch_id, attempt),
        )?);
    }
    invoke_all(
        &backends.invoker,
        &job.job_id,
        Issuer::Monitor,
        &job.worker_function_name,
        payloads,
    )
    .await;
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
    let attempts = all_attempts(backends.tasks.as_ref(), &report.job_id).await?;
    let outcome = JobOutcome {
        job_id: report.job_id.clone(),
        state: JobState::Failed,
        result: None,
        num_batches: status.num_batches,
        completed: status.completed,
        failed_batches: Vec::new(),
        missing_batches: Vec::new(),
        recovered_batches: recovered_batches(&histories(&attempts)),
        elapsed_secs: status.job.elapsed_secs(),
        error: Some(error_text(&report.error)),
        // The error path has no monitor state to add up; the job's cost is not reported.
        usage: Usage::default(),
        cost_usd: Default::default(),
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
        let mut job = job(10);
        job.settings.recovery_grace_secs = 1000.0;
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

    /// The decision of a poll at `now_ms` of a job started at 0 that read its completed batches.
    fn poll_at(
        job: &JobSpec,
        completed: &[CompletedBatch],
        log: &[AttemptRecord],
        now_ms: u64,
    ) -> Decision {
        decide(
            job,
            &Observation {
                completed_count: completed.len() as u64,
                completed: Some(completed),
                attempts: log,
                now_ms,
                start_ms: 0,
            },
        )
    }

    #[test]
    fn lost_batches_are_recovered_after_the_grace_period_plus_the_median_run_time() {
        let mut job = job(4);
        job.settings.recovery_grace_secs = 2.0;
        let completed = done(&[0], 1.0);
        let early = poll_at(&job, &completed, &[], 2999);
        assert!(early.recoveries.is_empty(), "2 s grace + 1 s median");
        let d = poll_at(&job, &completed, &[], 3000);
        assert_eq!(d.recoveries, [(1, 2), (2, 2), (3, 2)]);
        assert_eq!((d.recovered_batches, d.num_remaining), (3, 3));
        assert!(d.failed.is_empty() && d.abandoned.is_empty());

        let log = [
            rec(1, 2, 3000, AttemptKind::Recovered),
            rec(2, 2, 3000, AttemptKind::Recovered),
            rec(2, 2, 3500, failed("bad input")),
        ];
        let d = poll_at(&job, &completed, &log, 5999);
        assert_eq!(d.retries, [(2, 3)], "a failed recovery is retried at once");
        assert_eq!(
            d.recoveries,
            [(3, 2)],
            "batch 1 waits a grace period from its recovery"
        );
        assert_eq!(d.recovered_batches, 3);
        let d = poll_at(&job, &completed, &log, 6000);
        assert_eq!(d.recoveries, [(1, 3), (3, 2)]);
    }

    #[test]
    fn a_lost_last_attempt_fails_the_batch_with_the_lost_cause() {
        let mut job = job(3);
        job.settings.recovery_grace_secs = 2.0;
        job.settings.max_attempts = 2;
        let completed = done(&[0], 0.0);
        let log = [rec(1, 2, 1000, AttemptKind::Recovered)];
        let d = poll_at(&job, &completed, &log, 3000);
        assert_eq!(d.abandoned, [(1, 2)]);
        assert_eq!(d.recoveries, [(2, 2)]);
        assert_eq!(
            d.failed,
            [BatchFailure {
                batch_id: 1,
                attempts: 2,
                cause: LOST_CAUSE.into()
            }]
        );
        assert_eq!(d.num_remaining, 1);
        assert!(d.failures_exceed_tolerance);
    }

    #[test]
    fn invocations_per_poll_are_bounded_retries_first() {
        let mut job = job(8);
        job.settings.recovery_grace_secs = 1.0;
        job.settings.max_monitor_invocations_per_poll = 3;
        job.settings.stragglers.completed_fraction = 0.0;
        job.settings.stragglers.min_running_secs = 0.0;
        let completed = done(&[7], 0.0);
        let log = [rec(5, 1, 0, failed("a")), rec(6, 1, 0, failed("b"))];
        let d = poll_at(&job, &completed, &log, 1000);
        assert_eq!(d.retries, [(5, 2), (6, 2)]);
        assert_eq!(d.recoveries, [(0, 2)], "the rest wait for the next poll");
        assert!(d.speculative.is_empty());
        assert_eq!(d.recovered_batches, 1);
        assert_eq!(
            d.invocations(),
            [
                (5, 2, AttemptKind::Retried),
                (6, 2, AttemptKind::Retried),
                (0, 2, AttemptKind::Recovered)
            ]
        );
        let before_grace = poll_at(&job, &completed, &[], 999);
        assert_eq!(before_grace.speculative, [(0, 2), (1, 2), (2, 2)]);
    }

    #[test]
    fn without_the_completed_list_nothing_is_invoked_but_recoveries_are_counted() {
        let job = job(3);
        let log = [rec(1, 2, 10, AttemptKind::Recovered)];
        let d = decide(
            &job,
            &Observation {
                completed_count: 1,
                completed: None,
                attempts: &log,
                now_ms: 100_000,
                start_ms: 99_000,
            },
        );
        assert!(d.invocations().is_empty());
        assert_eq!((d.recovered_batches, d.num_remaining), (1, 2));
    }
}
