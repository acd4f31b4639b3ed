//! The monitor: one poll of a running job (count rows, retry failed batches, re-invoke
//! stragglers, detect time-out and excess failures), as a pure decision plus a thin handler.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::backends::{invoke_all, to_event, Backends};
use crate::error::BurstError;
use crate::job::{
    AttemptKind, AttemptRecord, BatchFailure, CompletedBatch, JobOutcome, JobSpec, JobState,
    MonitorState,
};
use crate::time::{ms_from_iso, now_ms};
use crate::traits::{all_attempts, all_completed};

/// What the attempt log says about one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchHistory {
    /// Failed attempts.
    pub failures: u32,
    /// Cause of the latest failure.
    pub last_cause: String,
    /// Highest attempt number that failed.
    pub last_failed_attempt: u32,
    /// Highest attempt number seen in any record.
    pub max_attempt: u32,
    /// Speculative copies started.
    pub speculative: u32,
    /// When the monitor last re-invoked it (epoch ms).
    pub last_invoked_ms: Option<u64>,
}

/// Groups an attempt log by batch.
pub fn histories(records: &[AttemptRecord]) -> BTreeMap<u64, BatchHistory> {
    let mut out: BTreeMap<u64, BatchHistory> = BTreeMap::new();
    for r in records {
        let h = out.entry(r.batch_id).or_default();
        h.max_attempt = h.max_attempt.max(r.attempt);
        match &r.kind {
            AttemptKind::Failed { cause } => {
                h.failures += 1;
                if r.attempt >= h.last_failed_attempt {
                    h.last_failed_attempt = r.attempt;
                    h.last_cause = cause.clone();
                }
            }
            AttemptKind::Retried | AttemptKind::Speculative => {
                if r.kind == AttemptKind::Speculative {
                    h.speculative += 1;
                }
                h.last_invoked_ms = h.last_invoked_ms.max(Some(r.at_ms));
            }
        }
    }
    out
}

/// Batches without a result that failed every allowed attempt.
pub fn permanent_failures(
    histories: &BTreeMap<u64, BatchHistory>,
    completed: &BTreeSet<u64>,
    max_attempts: u32,
) -> Vec<BatchFailure> {
    histories
        .iter()
        .filter(|(id, h)| h.failures >= max_attempts.max(1) && !completed.contains(id))
        .map(|(&batch_id, h)| BatchFailure {
            batch_id,
            attempts: h.failures,
            cause: h.last_cause.clone(),
        })
        .collect()
}

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

/// Whether `failed` of `total` batches exceed `tolerated_percent`.
pub fn exceeds_tolerance(failed: u64, total: u64, tolerated_percent: f64) -> bool {
    failed > 0 && failed as f64 * 100.0 > tolerated_percent * total as f64
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
    let elapsed_secs = seen.now_ms.saturating_sub(seen.start_ms) as f64 / 1000.0;
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
            let running = seen.now_ms.saturating_sub(since) as f64 / 1000.0;
            if running > limit && h.speculative < stragglers.max_speculative {
                decision.speculative.push((batch, h.max_attempt.max(1) + 1));
            }
        }
    }
    decision
}

/// Handles one invocation of the monitor function: a poll, or (with `"action":
/// "reportFailure"`) the error path's report when the combiner could not run.
pub async fn handle(backends: &Backends, input: Value) -> Result<Value, BurstError> {
    if input.get("action").and_then(Value::as_str) == Some("reportFailure") {
        let job_id = input["jobId"].as_str().unwrap_or_default();
        return report_failure(backends, job_id, &input["error"]).await;
    }
    let state: MonitorState =
        serde_json::from_value(input).map_err(|e| BurstError::malformed("monitor state", e))?;
    let next = poll(backends, state).await?;
    to_event("monitor state", &next)
}

/// Start of a job in epoch ms, from its `startTime`.
pub fn start_ms(job: &JobSpec) -> u64 {
    ms_from_iso(&job.start_time).unwrap_or_else(now_ms)
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
            start_ms: start_ms(job),
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

/// The text of a caught state-machine error (`{Error, Cause}`).
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

/// Marks a job failed (unless it already ended) and stores an outcome without result.
pub async fn report_failure(
    backends: &Backends,
    job_id: &str,
    error: &Value,
) -> Result<Value, BurstError> {
    let Some(mut status) = backends.tasks.get_status(job_id).await? else {
        return Err(crate::BackendError::NotFound(format!("status of job {job_id}")).into());
    };
    if !status.state.is_final() {
        let message = error_text(error);
        let outcome = JobOutcome {
            job_id: job_id.to_string(),
            state: JobState::Failed,
            result: None,
            num_batches: status.num_batches,
            completed: status.completed,
            failed_batches: Vec::new(),
            missing_batches: Vec::new(),
            elapsed_secs: now_ms().saturating_sub(start_ms(&status.job)) as f64 / 1000.0,
            error: Some(message.clone()),
        };
        let key = crate::combine::store_outcome(backends, &outcome).await?;
        status.state = JobState::Failed;
        status.error = Some(message);
        status.outcome_key = Some(key);
        status.elapsed_secs = outcome.elapsed_secs;
        backends.tasks.put_status(&status).await?;
    }
    Ok(json!({"jobId": job_id, "state": status.state}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobSettings;

    fn job(num_batches: u64) -> JobSpec {
        JobSpec {
            job_id: "j".into(),
            dataset_start_index: 0,
            dataset_end_index: num_batches,
            batch_size: 1,
            num_batches,
            num_levels: 1,
            branching_factor: num_batches,
            max_parallelism: 3000,
            search_timeout_secs: 100.0,
            start_time: "2026-01-01T00:00:00.000Z".into(),
            tasks_table_name: "t".into(),
            manager_function_name: "m".into(),
            monitor_function_name: "mon".into(),
            worker_function_name: "w".into(),
            combiner_function_name: "c".into(),
            job_parameters: json!({}),
            settings: JobSettings::default(),
        }
    }

    fn rec(batch_id: u64, attempt: u32, at_ms: u64, kind: AttemptKind) -> AttemptRecord {
        AttemptRecord {
            job_id: "j".into(),
            batch_id,
            attempt,
            at_ms,
            kind,
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
    fn time_out_and_tolerance() {
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
        assert!(!exceeds_tolerance(1, 10, 10.0));
        assert!(exceeds_tolerance(2, 10, 10.0));
        assert!(!exceeds_tolerance(0, 10, 0.0));
        assert!(exceeds_tolerance(1, 1000, 0.0));
    }

    #[test]
    fn caught_errors_read_as_text() {
        assert_eq!(
            error_text(&json!({"Error": "Burst.Throttled", "Cause": "slow down"})),
            "Burst.Throttled: slow down"
        );
        assert_eq!(error_text(&json!("x")), "\"x\"");
    }
}
