//! The seam between the service and whatever runs a search: the service
//! hands a [`SearchJob`] to a [`SearchBackend`] on a background thread and
//! stores what comes back. The default backend runs searches as burst jobs
//! ([`super::runtime::RuntimeBackend`]); [`DirectBackend`] runs them in this
//! process in one parallel loop (`crate::search`), without the framework.

use super::catalog::Collection;
use super::model::{ApiHit, MaskOutcome, SearchOutcome, SkippedTarget};
use super::request::SearchParams;
use crate::progress::Progress;
use crate::search::{search, Mask, SearchOptions, TargetError, TargetNeed, TargetSource};
use cds::pixel_match::CodedTarget;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// A mask of a job: its name in results and its image file.
#[derive(Clone, Debug)]
pub struct JobMask {
    /// The mask's name.
    pub name: String,
    /// Its image file.
    pub path: PathBuf,
}

/// One search to run.
#[derive(Clone, Debug)]
pub struct SearchJob {
    /// The search's id.
    pub id: String,
    /// The masks, in order.
    pub masks: Vec<JobMask>,
    /// Validated parameters.
    pub params: SearchParams,
    /// The libraries to search, in order.
    pub libraries: Vec<Arc<Collection>>,
    /// When the search must stop with [`BackendError::TimedOut`].
    pub deadline: Instant,
}

impl SearchJob {
    /// The names of the libraries, in order.
    pub fn library_names(&self) -> Vec<String> {
        self.libraries.iter().map(|l| l.name().to_owned()).collect()
    }

    /// The names of the masks, in order.
    pub fn mask_names(&self) -> Vec<String> {
        self.masks.iter().map(|m| m.name.clone()).collect()
    }
}

/// Why a backend did not produce results.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The search ran past its deadline.
    #[error("the search ran longer than its time-out")]
    TimedOut,
    /// The search could not run.
    #[error("{0}")]
    Failed(String),
    /// The search was running when the previous server stopped and cannot
    /// be picked up again.
    #[error("interrupted: the server stopped while this search was running; submit it again")]
    Interrupted,
}

/// Runs searches. Called on a background thread; reports progress in batches
/// through `progress` (`start` once with the total, `advance` per batch).
pub trait SearchBackend: Send + Sync {
    /// Runs `job` to the end and returns its ranked results.
    fn run(&self, job: &SearchJob, progress: &dyn Progress) -> Result<SearchOutcome, BackendError>;

    /// Whether searches asking for the shape stage (`shape`) can run here;
    /// when not, the service refuses them with a 400 naming `shape`.
    fn runs_shape_stage(&self) -> bool {
        true
    }

    /// Picks up `job`, which a previous server left running: its results if
    /// it can still get them, else [`BackendError::Interrupted`] (the
    /// default, for backends that keep nothing across restarts).
    fn resume(
        &self,
        _job: &SearchJob,
        _progress: &dyn Progress,
    ) -> Result<SearchOutcome, BackendError> {
        Err(BackendError::Interrupted)
    }
}

/// Why [`DirectBackend`] refuses searches with the shape stage.
pub const SHAPE_UNSUPPORTED: &str =
    "this server runs searches with `--runtime direct`, which has no \
     shape stage; start it with `--runtime local` (the default) to use `shape`";

/// Runs searches in this process over the rayon pool, one target per batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectBackend;

impl SearchBackend for DirectBackend {
    fn runs_shape_stage(&self) -> bool {
        false
    }

    fn run(&self, job: &SearchJob, progress: &dyn Progress) -> Result<SearchOutcome, BackendError> {
        if job.params.shape {
            return Err(BackendError::Failed(SHAPE_UNSUPPORTED.into()));
        }
        let masks = job
            .masks
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut mask = Mask::load(&m.path, &job.params.match_params(i))
                    .map_err(|e| BackendError::Failed(format!("mask {}: {e}", m.name)))?;
                mask.name = m.name.clone();
                Ok(mask)
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        let options = SearchOptions {
            params: job.params.match_params(0),
            top: job.params.max_results_per_mask,
        };
        let total = job.libraries.iter().map(|l| l.entries().len() as u64).sum();
        progress.start(total);
        let counted = Advance(progress);
        let mut outcome = SearchOutcome {
            masks: masks
                .iter()
                .map(|m| MaskOutcome {
                    mask_name: m.name.clone(),
                    mask_pixels: m.prepared.mask_pixel_count(),
                    hits: Vec::new(),
                })
                .collect(),
            targets: 0,
            searched: 0,
            skipped: Vec::new(),
        };
        for library in &job.libraries {
            let source = Deadline {
                inner: library.as_ref(),
                deadline: job.deadline,
            };
            let report = search(&masks, &source, &options, &counted);
            if Instant::now() >= job.deadline {
                return Err(BackendError::TimedOut);
            }
            outcome.targets += report.targets;
            outcome.searched += report.searched;
            outcome
                .skipped
                .extend(report.unreadable.into_iter().map(|u| SkippedTarget {
                    library_name: library.name().to_owned(),
                    image_name: u.image_name,
                    reason: u.reason,
                }));
            for (acc, mask) in outcome.masks.iter_mut().zip(report.masks) {
                acc.hits.extend(
                    mask.results.into_iter().map(|h| {
                        ApiHit::from_hit(library.name().to_owned(), h.image_name.clone(), h)
                    }),
                );
            }
        }
        progress.finish();
        let order = job.library_names();
        for mask in &mut outcome.masks {
            rank_hits(&mut mask.hits, &order, options.top);
        }
        Ok(outcome)
    }
}

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

/// Forwards only `advance` (the backend announces the total once for all
/// libraries).
struct Advance<'a>(&'a dyn Progress);

impl Progress for Advance<'_> {
    fn start(&self, _total: u64) {}
    fn advance(&self, n: u64) {
        self.0.advance(n);
    }
    fn finish(&self) {}
}

/// A target source that refuses every target once the deadline has passed,
/// so that a search past its time-out ends quickly.
struct Deadline<'a> {
    inner: &'a dyn TargetSource,
    deadline: Instant,
}

impl TargetSource for Deadline<'_> {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn name(&self, index: usize) -> &str {
        self.inner.name(index)
    }

    fn load(&self, index: usize, need: &TargetNeed) -> Result<CodedTarget, TargetError> {
        self.check()?;
        self.inner.load(index, need)
    }

    fn load_into(
        &self,
        index: usize,
        need: &TargetNeed,
        out: &mut CodedTarget,
    ) -> Result<(), TargetError> {
        self.check()?;
        self.inner.load_into(index, need, out)
    }
}

impl Deadline<'_> {
    /// Fails once the deadline has passed.
    fn check(&self) -> Result<(), TargetError> {
        if Instant::now() >= self.deadline {
            return Err(TargetError::Source("search timed out".into()));
        }
        Ok(())
    }
}
