//! The seam between the service and whatever runs a search: the service
//! hands a [`SearchJob`] to a [`SearchRunner`] on a background thread and
//! stores what comes back. The default runner runs searches as burst jobs
//! ([`JobRunner`]); [`DirectRunner`] runs them in this
//! process in one parallel loop (`cdsearch::search`), without the framework.

mod direct;
mod jobs;

pub use direct::{DirectRunner, SHAPE_UNSUPPORTED};
pub use jobs::{JobRunner, JobRunnerError, ABANDONED, DEFAULT_POLL_INTERVAL};

use crate::catalog::ServedLibrary;
use crate::model::SearchOutcome;
use crate::request::SearchParams;
use cdsearch::progress::Progress;
use std::path::PathBuf;
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
    pub libraries: Vec<ServedLibrary>,
    /// When the search must stop with [`RunError::TimedOut`].
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

/// Why a runner did not produce results.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
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

/// Why a runner could not delete what it keeps of a search.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    /// The search's job has not ended yet; deleting may work later.
    #[error("{0}")]
    Busy(String),
    /// Deleting failed (storage error).
    #[error("{0}")]
    Failed(String),
}

/// Runs searches. Called on a background thread; reports progress in batches
/// through `progress` (`start` once with the total, `advance` per batch).
pub trait SearchRunner: Send + Sync {
    /// Runs `job` to the end and returns its ranked results.
    fn run(&self, job: &SearchJob, progress: &dyn Progress) -> Result<SearchOutcome, RunError>;

    /// Whether searches asking for the shape stage (`shape`) can run here;
    /// when not, the service refuses them with a 400 naming `shape`.
    fn runs_shape_stage(&self) -> bool {
        true
    }

    /// Picks up `job`, which a previous server left running: its results if
    /// it can still get them, else [`RunError::Interrupted`] (the
    /// default, for runners that keep nothing across restarts).
    fn resume(
        &self,
        _job: &SearchJob,
        _progress: &dyn Progress,
    ) -> Result<SearchOutcome, RunError> {
        Err(RunError::Interrupted)
    }

    /// Deletes what the runner keeps of search `id` (e.g. its job's state),
    /// called when the search is deleted, before its files, and only for a
    /// search that is not running; deleting a search it keeps nothing of
    /// succeeds. The default keeps nothing.
    fn forget(&self, _id: &str) -> Result<(), ForgetError> {
        Ok(())
    }
}
