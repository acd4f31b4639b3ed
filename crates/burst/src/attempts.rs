//! Reading the attempt log: per-batch histories of failures and re-invocations, the batches
//! that failed for good, and whether failures exceed a job's tolerance (pure functions, shared
//! by the monitor, the combiner and status reports).

use std::collections::{BTreeMap, BTreeSet};

use crate::job::{AttemptKind, AttemptRecord, BatchFailure};

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

    #[test]
    fn histories_keep_the_latest_cause_and_invocation() {
        let failed = |cause: &str| AttemptKind::Failed {
            cause: cause.into(),
        };
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
                failures: 2,
                last_cause: "second".into(),
                last_failed_attempt: 2,
                max_attempt: 3,
                speculative: 1,
                last_invoked_ms: Some(40),
            }
        );
        let gone = permanent_failures(&histories(&log), &BTreeSet::new(), 2);
        assert_eq!(gone.len(), 1);
        assert!(permanent_failures(&histories(&log), &BTreeSet::from([1]), 2).is_empty());
    }

    #[test]
    fn tolerance_is_a_strict_percentage() {
        assert!(!exceeds_tolerance(1, 10, 10.0));
        assert!(exceeds_tolerance(2, 10, 10.0));
        assert!(!exceeds_tolerance(0, 10, 0.0));
        assert!(exceeds_tolerance(1, 1000, 0.0));
    }
}
