//! [`DirectRunner`]: runs searches in this process in one parallel loop
//! (`cdsearch::search`) over the rayon pool, without the framework.

use std::time::Instant;

use cds::pixel_match::CodedTarget;
use cdsearch::progress::Progress;
use cdsearch::search::{search, Mask, SearchOptions, TargetError, TargetNeed, TargetSource};

use super::{RunError, SearchJob, SearchRunner};
use crate::catalog::ServedLibrary;
use crate::model::{ApiHit, MaskOutcome, SearchOutcome, SkippedTarget};
use crate::outcome::rank_hits;

/// Why [`DirectRunner`] refuses searches with the shape stage.
pub const SHAPE_UNSUPPORTED: &str =
    "this server runs searches with `--runtime direct`, which has no \
     shape stage; start it with `--runtime local` (the default) to use `shape`";

/// Runs searches in this process over the rayon pool, one target per batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectRunner;

impl SearchRunner for DirectRunner {
    fn runs_shape_stage(&self) -> bool {
        false
    }

    fn run(&self, job: &SearchJob, progress: &dyn Progress) -> Result<SearchOutcome, RunError> {
        if job.params.shape {
            return Err(RunError::Failed(SHAPE_UNSUPPORTED.into()));
        }
        let libraries = job
            .libraries
            .iter()
            .map(|library| match library {
                ServedLibrary::Files(files) => Ok(files.clone()),
                ServedLibrary::Store(_) => Err(RunError::Failed(format!(
                    "library {} is in an object store, which `--runtime direct` does not read; \
                     start the server with `--runtime local` (the default) to search it",
                    library.name()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let masks = job
            .masks
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut mask = Mask::load(&m.path, &job.params.match_params(i))
                    .map_err(|e| RunError::Failed(format!("mask {}: {e}", m.name)))?;
                mask.name = m.name.clone();
                Ok(mask)
            })
            .collect::<Result<Vec<_>, RunError>>()?;
        let options = SearchOptions {
            params: job.params.match_params(0),
            top: job.params.max_results_per_mask,
        };
        let total = libraries.iter().map(|l| l.entries().len() as u64).sum();
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
        for library in &libraries {
            let source = Deadline {
                inner: library.as_ref(),
                deadline: job.deadline,
            };
            let report = search(&masks, &source, &options, &counted);
            if Instant::now() >= job.deadline {
                return Err(RunError::TimedOut);
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

/// Forwards only `advance` (the runner announces the total once for all
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
