//! A search's outcome as the service keeps it, from whatever ran it: hits
//! ranked across libraries ([`rank_hits`]) and the outcome of a burst job
//! ([`outcome_of_job`]). Every runner and platform ranks through here, so
//! the embedded service, the service on AWS and the CLI agree.

use burst::{JobOutcome, JobState};
use cdsearch::job::outcome_report;
use cdsearch::results::SearchReport;

use crate::model::{ApiHit, MaskOutcome, SearchOutcome, SkippedTarget};
use crate::runner::RunError;

/// Ranks hits across libraries as the CLI ranks them: shape-scored hits
/// first, by normalized score (higher first); then more matching pixels,
/// then library order, then image name (within one library, the CLI's
/// pixel-match order, which also breaks ties of normalized score).
pub fn rank_hits(hits: &mut Vec<ApiHit>, libraries: &[String], top: usize) {
    let position = |name: &str| libraries.iter().position(|l| l == name);
    let normalized = |h: &ApiHit| h.shape.map_or(0.0, |s| s.normalized_score);
    hits.sort_by(|a, b| {
        b.shape_scored()
            .cmp(&a.shape_scored())
            .then_with(|| {
                if a.shape_scored() && b.shape_scored() {
                    normalized(b).total_cmp(&normalized(a))
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then_with(|| b.matching_pixels.cmp(&a.matching_pixels))
            .then_with(|| position(&a.library_name).cmp(&position(&b.library_name)))
            .then_with(|| a.image_name.cmp(&b.image_name))
    });
    hits.truncate(top);
}

/// A search's results from the outcome of its job: `masks` name the masks
/// in order, `split` reads a target name of the job as (library, image),
/// hits are ranked across `libraries` (in this order for ties) and cut to
/// `top`. A job that did not succeed gives the error its state stands for.
pub fn outcome_of_job(
    outcome: &JobOutcome,
    masks: &[String],
    libraries: &[String],
    split: impl Fn(&str) -> (String, String),
    top: usize,
) -> Result<SearchOutcome, RunError> {
    match outcome.state {
        JobState::Succeeded => {}
        JobState::TimedOut => return Err(RunError::TimedOut),
        JobState::Failed | JobState::Running => {
            return Err(RunError::Failed(describe_failure(outcome)))
        }
    }
    let report = outcome_report(outcome).map_err(|e| RunError::Failed(e.to_string()))?;
    Ok(untag(report, masks, libraries, split, top))
}

/// What went wrong in a failed job: its error and each failed batch.
fn describe_failure(outcome: &JobOutcome) -> String {
    let mut parts = vec![format!(
        "job {} failed: {}",
        outcome.job_id,
        outcome.error.as_deref().unwrap_or("no cause reported")
    )];
    parts.extend(outcome.failed_batches.iter().map(|b| {
        format!(
            "batch {} failed after {} attempt(s): {}",
            b.batch_id, b.attempts, b.cause
        )
    }));
    parts.join("; ")
}

/// A job's report as the service's outcome: masks named as submitted, hits
/// and skipped targets with their library, ranked across libraries.
fn untag(
    report: SearchReport,
    masks: &[String],
    libraries: &[String],
    split: impl Fn(&str) -> (String, String),
    top: usize,
) -> SearchOutcome {
    let masks = report
        .masks
        .into_iter()
        .zip(masks)
        .map(|(mask, name)| {
            let mut hits = mask
                .results
                .into_iter()
                .map(|h| {
                    let (library_name, image_name) = split(&h.image_name);
                    ApiHit::from_hit(library_name, image_name, h)
                })
                .collect();
            rank_hits(&mut hits, libraries, top);
            MaskOutcome {
                mask_name: name.clone(),
                mask_pixels: mask.mask_pixels,
                hits,
            }
        })
        .collect();
    SearchOutcome {
        masks,
        targets: report.targets,
        searched: report.searched,
        skipped: report
            .unreadable
            .into_iter()
            .map(|u| {
                let (library_name, image_name) = split(&u.image_name);
                SkippedTarget {
                    library_name,
                    image_name,
                    reason: u.reason,
                }
            })
            .collect(),
    }
}
