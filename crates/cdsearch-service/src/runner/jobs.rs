//! [`JobRunner`], the service's default runner: every search runs as a
//! color depth search job ([`cdsearch::job`]) on the burst local runtime, whose
//! task table and objects live on disk so that a restarted server can pick up
//! the outcome of a job that ended while it was down.
//!
//! One job covers all the libraries of a search. Target names are tagged
//! with their library's name inside the job so that the combined hits say
//! which library each came from.

use crate::catalog::{Collection, ServedLibrary};
use crate::model::SearchOutcome;
use crate::outcome::outcome_of_job;
use crate::runner::{ForgetError, RunError, SearchJob, SearchRunner};
use async_trait::async_trait;
use burst::local::LocalRuntime;
use burst::{JobOutcome, TaskError};
use cds::pixel_match::CodedTarget;
use cdsearch::job::{
    local_batch_size, local_runtime, LibraryParameters, LibraryResolver, LocalResolver, SubSource,
};
use cdsearch::progress::Progress;
use cdsearch::results::ReadStats;
use cdsearch::search::{TargetError, TargetNeed, TargetSource};
use cdsearch::shape_stage::{FileShapeImages, ShapeBytes, ShapeImageSource};
use cdsearch::store::{StoreResolver, FETCH_CONCURRENCY};
use std::collections::HashMap;
use std::ops::{Deref, Range};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Separates a library's name from an image name in the target names of a
/// job (a control character, so it never occurs in either).
const TAG: char = '\u{1f}';

/// How long after a search's deadline the runner stops waiting for the job
/// to report its time-out by itself.
const DEADLINE_GRACE: Duration = Duration::from_secs(30);

/// The monitor's poll interval used by [`JobRunner::open`]: progress and
/// the end of a job are seen at most this late.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Why the job runner could not start.
#[derive(Debug, thiserror::Error)]
pub enum JobRunnerError {
    /// The async runtime driving jobs could not start.
    #[error("cannot start the async runtime of the job runner: {0}")]
    Tokio(#[from] std::io::Error),
    /// The burst local runtime could not be built.
    #[error("cannot build the burst local runtime: {0}")]
    Burst(#[from] burst::BurstError),
}

/// Runs searches as jobs on the burst local runtime (manager tree, workers,
/// task table, monitor state machine and combiner, as on AWS).
pub struct JobRunner {
    tokio: tokio::runtime::Runtime,
    runtime: LocalRuntime,
    resolver: Arc<CatalogResolver>,
}

impl JobRunner {
    /// A runner keeping its task table and objects under `dir`, with the
    /// monitor polling every [`DEFAULT_POLL_INTERVAL`].
    pub fn open(dir: &Path) -> Result<Self, JobRunnerError> {
        Self::with_poll_interval(dir, DEFAULT_POLL_INTERVAL)
    }

    /// A runner keeping its task table and objects under `dir`, with the
    /// monitor polling every `poll`.
    pub fn with_poll_interval(dir: &Path, poll: Duration) -> Result<Self, JobRunnerError> {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .thread_name("cdsearch-jobs")
            .enable_all()
            .build()?;
        let resolver = Arc::new(CatalogResolver::new());
        let runtime = local_runtime(resolver.clone())
            .on_disk(dir)
            .poll_interval(poll)
            .build()?;
        Ok(Self {
            tokio,
            runtime,
            resolver,
        })
    }

    /// Submits the job of `job` and follows it to its end, reporting batches
    /// done as the monitor sees them.
    async fn drive(
        &self,
        request: burst::JobRequest,
        remaining: Duration,
        progress: &dyn Progress,
    ) -> Result<JobOutcome, RunError> {
        let handle = self.runtime.submit(request).await.map_err(failed)?;
        progress.start(handle.dispatch.num_batches);
        let mut updates = handle.progress();
        let wait = tokio::time::timeout(remaining + DEADLINE_GRACE, handle.wait());
        tokio::pin!(wait);
        let mut shown = 0;
        let mut show = |p: burst::Progress| {
            let done = p.completed + p.failed;
            progress.advance(done.saturating_sub(shown));
            shown = shown.max(done);
        };
        let ended = loop {
            tokio::select! {
                ended = &mut wait => break ended,
                changed = updates.changed() => match changed {
                    Ok(()) => show(*updates.borrow()),
                    Err(_) => break (&mut wait).await,
                },
            }
        };
        let outcome = ended.map_err(|_| RunError::TimedOut)?.map_err(failed)?;
        show(burst::Progress {
            completed: outcome.completed,
            failed: outcome.failed_batches.len() as u64,
            total: outcome.num_batches,
        });
        Ok(outcome)
    }
}

impl SearchRunner for JobRunner {
    fn run(&self, job: &SearchJob, progress: &dyn Progress) -> Result<SearchOutcome, RunError> {
        let remaining = job.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(RunError::TimedOut);
        }
        for library in &job.libraries {
            self.resolver.register(library);
        }
        let mask_keys = job
            .masks
            .iter()
            .map(|m| m.path.to_string_lossy().into_owned())
            .collect();
        let libraries: Vec<LibraryParameters> = job
            .libraries
            .iter()
            .map(|l| match l {
                ServedLibrary::Files(files) => {
                    LibraryParameters::local(l.name(), files.entries().len() as u64)
                }
                ServedLibrary::Store(store) => store.params.clone(),
            })
            .collect();
        let total = libraries.iter().map(|l| l.lsize).sum();
        let mut request = job
            .params
            .job_request("", mask_keys, libraries, local_batch_size(total))
            .map_err(|e| RunError::Failed(e.to_string()))?;
        request.job_id = Some(job.id.clone());
        request.search_timeout_secs = remaining.as_secs_f64();
        let outcome = self
            .tokio
            .block_on(self.drive(request, remaining, progress))?;
        search_outcome(job, &outcome)
    }

    /// Re-attaches to the job of `job` (same id): if it ended while the
    /// server was down, its outcome is the search's; otherwise the job died
    /// with the previous server and the search is interrupted.
    fn resume(&self, job: &SearchJob, progress: &dyn Progress) -> Result<SearchOutcome, RunError> {
        let report = self
            .tokio
            .block_on(self.runtime.attach(&job.id))
            .map_err(|_| RunError::Interrupted)?;
        let Some(outcome) = report.outcome else {
            progress.start(report.progress.total);
            progress.advance(report.progress.completed + report.progress.failed);
            return Err(RunError::Interrupted);
        };
        progress.start(outcome.num_batches);
        progress.advance(outcome.completed + outcome.failed_batches.len() as u64);
        search_outcome(job, &outcome)
    }

    /// Deletes the state of the search's job (same id) under the runtime's
    /// directory: rows, attempt log, status, outcome and partial results. A
    /// job still running here is refused ([`ForgetError::Busy`]: a search
    /// that timed out while its job was ending); one whose status says it
    /// runs although it does not run here was left by a previous server (no
    /// two servers share a data directory), so it is marked failed
    /// ([`ABANDONED`]) and deleted.
    fn forget(&self, id: &str) -> Result<(), ForgetError> {
        let forget = async {
            self.runtime.abandon_job(id, ABANDONED).await?;
            self.runtime.forget_job(id).await
        };
        match self.tokio.block_on(forget) {
            Ok(_) => Ok(()),
            Err(e @ burst::BurstError::JobNotEnded { .. }) => Err(ForgetError::Busy(format!(
                "the job of search {id} is still ending ({e}); try again shortly"
            ))),
            Err(e) => Err(ForgetError::Failed(format!(
                "cannot delete the job state of search {id}: {e}"
            ))),
        }
    }
}

/// The error recorded in the status of a job that a previous server left
/// running when its search is deleted.
pub const ABANDONED: &str = "the server running this job stopped before it ended";

fn failed(e: burst::BurstError) -> RunError {
    RunError::Failed(e.to_string())
}

/// The search's results from a job's outcome, or the error its final state
/// stands for.
fn search_outcome(job: &SearchJob, outcome: &JobOutcome) -> Result<SearchOutcome, RunError> {
    outcome_of_job(
        outcome,
        &job.mask_names(),
        &job.library_names(),
        split_tag,
        job.params.max_results_per_mask,
    )
}

/// `library` and `image` of a tagged target name (untagged names belong to
/// no known library).
fn split_tag(name: &str) -> (String, String) {
    match name.split_once(TAG) {
        Some((library, image)) => (library.to_owned(), image.to_owned()),
        None => (String::new(), name.to_owned()),
    }
}

/// Targets of `inner` named `"{library}{TAG}{name}"`, so the combined hits
/// of a job over several libraries say which library each came from.
struct Tagged<S> {
    inner: S,
    names: Vec<String>,
}

impl<S> Tagged<S>
where
    S: Deref + Sync,
    S::Target: TargetSource,
{
    fn new(library: &str, inner: S) -> Self {
        let names = (0..inner.len())
            .map(|i| format!("{library}{TAG}{}", inner.name(i)))
            .collect();
        Self { inner, names }
    }
}

impl<S> TargetSource for Tagged<S>
where
    S: Deref + Sync,
    S::Target: TargetSource,
{
    fn len(&self) -> usize {
        self.names.len()
    }

    fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    fn load_into(
        &self,
        index: usize,
        need: &TargetNeed,
        out: &mut CodedTarget,
    ) -> Result<(), TargetError> {
        self.inner.load_into(index, need, out)
    }

    fn chunks(&self) -> Vec<Range<usize>> {
        self.inner.chunks()
    }

    fn reads(&self) -> ReadStats {
        self.inner.reads()
    }
}

/// A library of files registered for jobs: its targets, tagged, and the
/// derived images of its targets (found next to them) for the shape stage.
struct Registered {
    collection: Arc<Collection>,
    targets: Arc<Tagged<Arc<Collection>>>,
    shape_images: Arc<FileShapeImages>,
}

/// Resolves the libraries of the service's searches by name (registered as
/// searches name them) and masks as files.
struct CatalogResolver {
    files: LocalResolver,
    libraries: Mutex<HashMap<String, Arc<Registered>>>,
    stores: Mutex<HashMap<String, Arc<StoreResolver>>>,
}

impl CatalogResolver {
    fn new() -> Self {
        Self {
            files: LocalResolver::new(HashMap::new()),
            libraries: Mutex::new(HashMap::new()),
            stores: Mutex::new(HashMap::new()),
        }
    }

    /// The registered library of a job's `library`.
    fn library(&self, library: &LibraryParameters) -> Result<Arc<Registered>, TaskError> {
        self.libraries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&library.library_name)
            .cloned()
            .ok_or_else(|| {
                TaskError::new(format!(
                    "library {:?} is not served here",
                    library.library_name
                ))
            })
    }

    /// The reader of a job's `library` when it is in an object store.
    fn store(&self, library: &LibraryParameters) -> Option<Arc<StoreResolver>> {
        let stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        stores.get(&library.library_name).cloned()
    }

    /// Makes `library` resolvable by its name (once).
    fn register(&self, library: &ServedLibrary) {
        match library {
            ServedLibrary::Files(files) => {
                let mut libraries = self.libraries.lock().unwrap_or_else(|e| e.into_inner());
                if !libraries
                    .get(files.name())
                    .is_some_and(|r| Arc::ptr_eq(&r.collection, files))
                {
                    let registered = Registered {
                        collection: files.clone(),
                        targets: Arc::new(Tagged::new(files.name(), files.clone())),
                        shape_images: Arc::new(FileShapeImages::new(files.entries())),
                    };
                    libraries.insert(files.name().to_owned(), Arc::new(registered));
                }
            }
            ServedLibrary::Store(store) => {
                let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
                stores.entry(library.name().to_owned()).or_insert_with(|| {
                    let bucket = store.store.clone();
                    Arc::new(StoreResolver::new(
                        move |_| Ok(bucket.clone()),
                        FETCH_CONCURRENCY,
                    ))
                });
            }
        }
    }
}

#[async_trait]
impl LibraryResolver for CatalogResolver {
    async fn mask_bytes(&self, bucket: &str, key: &str) -> Result<Vec<u8>, TaskError> {
        self.files.mask_bytes(bucket, key).await
    }

    async fn targets(
        &self,
        library: &LibraryParameters,
        range: Range<u64>,
        need: &TargetNeed,
    ) -> Result<Box<dyn TargetSource + Send>, TaskError> {
        if let Some(store) = self.store(library) {
            let inner = store.targets(library, range, need).await?;
            return Ok(Box::new(Tagged::new(&library.library_name, inner)));
        }
        let targets = self.library(library)?.targets.clone();
        Ok(Box::new(SubSource::new(targets, range)))
    }

    async fn shape_bytes(
        &self,
        library: &LibraryParameters,
        image_name: &str,
    ) -> Result<ShapeBytes, TaskError> {
        let (_, image) = split_tag(image_name);
        if let Some(store) = self.store(library) {
            return store.shape_bytes(library, &image).await;
        }
        let images = self.library(library)?.shape_images.clone();
        tokio::task::spawn_blocking(move || {
            images
                .shape_bytes(&image)
                .map_err(|e| TaskError::new(format!("{image}: {e}")))
        })
        .await
        .map_err(|e| TaskError::new(format!("reading shape images failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_back_into_library_and_image() {
        assert_eq!(
            split_tag(&format!("lib{TAG}dir/a.tif")),
            ("lib".to_owned(), "dir/a.tif".to_owned())
        );
        assert_eq!(split_tag("plain"), (String::new(), "plain".to_owned()));
    }
}
