//! Reading the attempt log: per-batch histories of failures and re-invocations, the batches
//! that failed for good, and whether failures exceed a job's tolerance (pure functions, shared
//! by the monitor, the combiner and status reports).

use std::collections::{BTreeMap, BTreeSet};

use crate::job::{AttemptKind, AttemptRecord, BatchFailure};

/// The cause recorded for an attempt that left neither a row nor a failure within the
/// recovery grace period (its invocation or its manager was lost, or its worker died).
pub const LOST_CAUSE: &str =
    "lost: neither a result nor an error within the recovery grace period of its invocation";

/// What the attempt log says about one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchHistory {
    /// The cause of each attempt that failed, by attempt number; an attempt that was followed
    /// by a recovery and has no failure of its own was lost ([`LOST_CAUSE`]).
    pub failed_attempts: BTreeMap<u32, String>,
    /// Highest attempt number seen in any record.
    pub max_attempt: u32,
    /// Speculative copies started.
    pub speculative: u32,
    /// Recoveries of lost attempts.
    pub recovered: u32,
    /// When the monitor last invoked it (epoch ms).
    pub last_invoked_ms: Option<u64>,
}

impl BatchHistory {
    /// Number of attempts that failed or were lost (each counted once, however many
    /// deliveries of it failed).
    pub fn failures(&self) -> u32 {
        self.failed_attempts.len() as u32
    }

    /// The highest failed attempt and its cause.
    pub fn last_failure(&self) -> Option<(u32, &str)> {
        self.failed_attempts
            .last_key_value()
            .map(|(&attempt, cause)| (attempt, cause.as_str()))
    }

    /// The latest attempt: the highest recorded, or the spawn tree's first one.
    pub fn current_attempt(&self) -> u32 {
        self.max_attempt.max(1)
    }

    /// Whether the latest attempt may still deliver: it has neither failed nor been lost.
    pub fn is_pending(&self) -> bool {
        self.last_failure()
            .is_none_or(|(attempt, _)| attempt < self.current_attempt())
    }
}

/// Groups an attempt log by batch.
pub fn histories(records: &[AttemptRecord]) -> BTreeMap<u64, BatchHistory> {
    let mut out: BTreeMap<u64, BatchHistory> = BTreeMap::new();
    for r in records {
        let h = out.entry(r.batch_id).or_default();
        h.max_attempt = h.max_attempt.max(r.attempt);
        match &r.kind {
            AttemptKind::Failed { cause } => {
                h.failed_attempts.insert(r.attempt, cause.clone());
                continue;
            }
            AttemptKind::Retried => {}
            AttemptKind::Speculative => h.speculative += 1,
            AttemptKind::Recovered => {
                h.recovered += 1;
                h.failed_attempts
                    .entry(r.attempt.saturating_sub(1).max(1))
                    .or_insert_with(|| LOST_CAUSE.to_string());
            }
        }
        h.last_invoked_ms = h.last_invoked_ms.max(Some(r.at_ms));
    }
    out
}

/// Batches without a result that failed (or were lost) in every allowed attempt.
pub fn permanent_failures(
    histories: &BTreeMap<u64, BatchHistory>,
    completed: &BTreeSet<u64>,
    max_attempts: u32,
) -> Vec<BatchFailure> {
    histories
        .iter()
        .filter(|(id, h)| h.failures() >= max_attempts.max(1) && !completed.contains(id))
        .map(|(&batch_id, h)| BatchFailure {
            batch_id,
            attempts: h.failures(),
            cause: h
                .last_failure()
                .map(|(_, cause)| cause)
                .unwrap_or_default()
                .to_string(),
        })
        .collect()
}

/// Number of batches the monitor recovered at least once.
pub fn recovered_batches(histories: &BTreeMap<u64, BatchHistory>) -> u64 {
    histories.values().filter(|h| h.recovered > 0).count() as u64
}

/// Whether `failed` of `total` batches exceed `tolerated_percent`.
pub fn exceeds_tolerance(failed: u64, total: u64, tolerated_percent: f64) -> bool {
    failed > 0 && failed as f64 * 100.0 > tolerated_percent * total as f64
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn rec(batch_id: u64, attempt: u32, at_ms: u64, kind: AttemptKind) -> AttemptRecord {
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

    #[test]
    fn histories_keep_the_latest_cause_and_invocation() {
        let log = [
            rec(1, 2, 30, failed("second")),
            rec(1, 1, 10, failed("first")),
            rec(1, 2, 20, AttemptKind::Retried),
            rec(1, 3, 40, AttemptKind::Speculative),
        ];
        let h = &histories(&log)[&1];
        assert_eq!(
            *h,
            BatchHistory {
                failed_attempts: BTreeMap::from([(1, "first".into()), (2, "second".into())]),
                max_attempt: 3,
                speculative: 1,
                recovered: 0,
                last_invoked_ms: Some(40),
            }
        );
        assert_eq!((h.failures(), h.last_failure()), (2, Some((2, "second"))));
        assert!(h.is_pending(), "speculative attempt 3 is running");
        let gone = permanent_failures(&histories(&log), &BTreeSet::new(), 2);
        assert_eq!(gone.len(), 1);
        assert!(permanent_failures(&histories(&log), &BTreeSet::from([1]), 2).is_empty());
    }

    #[test]
    fn a_recovery_counts_its_predecessor_as_lost_once() {
        let log = [
            rec(4, 2, 100, AttemptKind::Recovered),
            rec(4, 3, 200, AttemptKind::Recovered),
            rec(4, 2, 250, failed("late error")),
            rec(4, 2, 260, failed("late error")),
        ];
        let h = &histories(&log)[&4];
        assert_eq!(
            h.failures(),
            2,
            "attempts 1 (lost) and 2 (failed), once each"
        );
        assert_eq!(h.failed_attempts[&1], LOST_CAUSE);
        assert_eq!(h.failed_attempts[&2], "late error", "its own failure wins");
        assert_eq!((h.recovered, h.last_invoked_ms), (2, Some(200)));
        assert!(h.is_pending(), "attempt 3 is running");
        assert_eq!(recovered_batches(&histories(&log)), 1);
        let gone = permanent_failures(&histories(&log), &BTreeSet::new(), 2);
        assert_eq!(
            gone,
            [BatchFailure {
                batch_id: 4,
                attempts: 2,
                cause: "late error".into()
            }]
        );
        let fresh = BatchHistory::default();
        assert!(fresh.is_pending(), "the spawn tree's attempt 1");
        assert_eq!(fresh.current_attempt(), 1);
        let failed_first = &histories(&[rec(0, 1, 5, failed("x"))])[&0];
        assert!(!failed_first.is_pending(), "waits for its retry");
    }

    #[test]
    fn tolerance_is_a_strict_percentage() {
        assert!(!exceeds_tolerance(1, 10, 10.0));
        assert!(exceeds_tolerance(2, 10, 10.0));
        assert!(!exceeds_tolerance(0, 10, 0.0));
        assert!(exceeds_tolerance(1, 1000, 0.0));
    }
}
