//! `cdsearch search`: masks against a library, ranked hits on stdout.

use crate::output::{print_report, warn_incomplete};
use crate::progress_bar::Bar;
use crate::search_flags::SearchFlags;
use anyhow::{bail, Context};
use cds::pixel_match::MatchParams;
use cdsearch::library::discover;
use cdsearch::progress::Progress;
use cdsearch::results::SearchReport;
use cdsearch::search::{search, FileLibrary, Mask, SearchOptions, TargetSource};
use cdsearch::shape_stage::{
    prepare_query, run_stage, FileShapeImages, ShapeImageSource, ShapeStageOptions,
};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a search runs on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Runtime {
    /// Through the burst framework's local runtime: manager tree, workers,
    /// task table, monitor state machine and combiner, as on AWS.
    Local,
    /// Straight over the targets in one parallel loop (no framework).
    Direct,
}

/// Options of `cdsearch search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    search: SearchFlags,
    /// Targets: directories (searched recursively for .png/.tif/.tiff), image
    /// files, or one index file written by `cdsearch library index`.
    #[arg(long, required = true, num_args = 1.., value_name = "DIR|FILE")]
    library: Vec<PathBuf>,
    /// How the search runs: `local` goes through the burst framework (the
    /// same manager/worker/monitor/combiner path as on AWS), `direct` scores
    /// the targets in one parallel loop. Both give the same ranking.
    #[arg(long, value_enum, default_value_t = Runtime::Local)]
    runtime: Runtime,
    /// Targets per batch (worker invocation) with `--runtime local`; by
    /// default a few batches per CPU core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: Option<u64>,
    /// With `--shape`: the image directory holding the targets and their
    /// derived images (gradient, z-gap), where the shape stage reads them.
    /// Needed when `--library` is an index, which holds coded targets only
    /// (give the directory the index was built from); by default the
    /// library's own directories.
    #[arg(long, value_name = "DIR")]
    shape_images: Option<PathBuf>,
}

/// A library opened for a search.
struct OpenLibrary {
    /// The targets.
    source: Arc<dyn TargetSource + Send + Sync>,
    /// Where the shape stage reads targets and derived images; `None` for an
    /// index (it holds coded targets only).
    shape_images: Option<Arc<dyn ShapeImageSource>>,
}

/// Opens the library arguments as a target source, with the shape stage's
/// images from `shape_images` if given, else from the library's directories.
fn open_library(paths: &[PathBuf], shape_images: Option<&Path>) -> anyhow::Result<OpenLibrary> {
    let images_in = |dir: &Path| -> anyhow::Result<Arc<dyn ShapeImageSource>> {
        let entries = discover(&[dir.to_path_buf()])
            .with_context(|| format!("--shape-images {}", dir.display()))?;
        Ok(Arc::new(FileShapeImages::new(&entries)))
    };
    if let [path] = paths {
        if cdsearch::index::is_index(path) {
            let index = cdsearch::index::IndexLibrary::open(path)?;
            return Ok(OpenLibrary {
                source: Arc::new(index),
                shape_images: shape_images.map(images_in).transpose()?,
            });
        }
    }
    let entries = discover(paths)?;
    Ok(OpenLibrary {
        shape_images: Some(match shape_images {
            Some(dir) => images_in(dir)?,
            None => Arc::new(FileShapeImages::new(&entries)),
        }),
        source: Arc::new(FileLibrary::new(entries)),
    })
}

/// Name of the one library of a CLI search in the job parameters.
const LIBRARY_NAME: &str = "library";

/// Runs the search as a job on the burst local runtime and returns the
/// combined report, with the masks named as given on the command line.
fn search_on_runtime(
    args: &SearchArgs,
    masks: &[Mask],
    library: OpenLibrary,
    params: &MatchParams,
) -> anyhow::Result<SearchReport> {
    let source = library.source;
    use cdsearch::job::{self, LibraryParameters, LocalResolver, SearchJobParameters};
    let targets = source.len() as u64;
    let job_params = SearchJobParameters::new(
        "",
        masks.iter().map(|m| m.name.clone()).collect(),
        vec![params.mask_threshold; masks.len()],
        params,
        args.search.top.max(1),
        vec![LibraryParameters::local(LIBRARY_NAME, targets)],
    );
    let batch_size = args
        .batch_size
        .unwrap_or_else(|| job::local_batch_size(targets));
    let request = job::search_request(&job_params, &args.search.shape_parameters(), batch_size)?;
    let mut resolver = LocalResolver::new([(LIBRARY_NAME.to_owned(), source)].into());
    if let Some(images) = library.shape_images {
        resolver = resolver.with_shape_images(LIBRARY_NAME, images);
    }
    let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let outcome = tokio.block_on(async {
        let runtime = job::local_runtime(Arc::new(resolver))
            .poll_interval(std::time::Duration::from_millis(100))
            .build()?;
        let handle = runtime.submit(request).await?;
        let bar = Bar::new("batches");
        bar.start(handle.dispatch.num_batches);
        let mut progress = handle.progress();
        let wait = handle.wait();
        tokio::pin!(wait);
        let outcome = loop {
            tokio::select! {
                outcome = &mut wait => break outcome,
                changed = progress.changed() => match changed {
                    Ok(()) => {
                        let now = *progress.borrow();
                        bar.advance_to(now.completed + now.failed);
                    }
                    Err(_) => break (&mut wait).await,
                },
            }
        };
        bar.finish();
        anyhow::Ok(outcome?)
    })?;
    warn_incomplete(&outcome);
    tracing::info!(job_id = outcome.job_id, state = ?outcome.state, batches = outcome.num_batches, "job done");
    Ok(job::outcome_report(&outcome)?)
}

/// Runs `cdsearch search`.
pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    let params = args.search.params();
    params.validate().context("invalid search parameters")?;
    let masks = args
        .search
        .masks
        .iter()
        .map(|path| Mask::load(path, &params))
        .collect::<Result<Vec<_>, _>>()?;
    let library = open_library(&args.library, args.shape_images.as_deref())?;
    if args.search.shape && library.shape_images.is_none() {
        eprintln!(
            "warning: --shape needs the target images and their derived images, which an \
             index does not hold; hits are not shape-scored (add --shape-images DIR, the \
             directory the index was built from)"
        );
    }
    if library.source.is_empty() {
        bail!(
            "no target images found in {} (expected .png, .tif or .tiff files, or an index file)",
            args.library
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let options = SearchOptions {
        params: params.clone(),
        top: args.search.shape_parameters().hits_kept(args.search.top),
    };
    let started = std::time::Instant::now();
    let report = match args.runtime {
        Runtime::Direct => search_direct(&args, &masks, &library, &options)?,
        Runtime::Local => search_on_runtime(&args, &masks, library, &params)?,
    };
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        targets = report.targets,
        masks = masks.len(),
        secs,
        images_per_sec = report.targets as f64 / secs,
        "search done"
    );
    print_report(&report, args.search.format)
}

/// Searches in one parallel loop, then runs the shape stage if asked.
fn search_direct(
    args: &SearchArgs,
    masks: &[Mask],
    library: &OpenLibrary,
    options: &SearchOptions,
) -> anyhow::Result<SearchReport> {
    let mut report = search(
        masks,
        library.source.as_ref(),
        options,
        &Bar::new("searching"),
    );
    if !args.search.shape {
        return Ok(report);
    }
    let queries = args
        .search
        .masks
        .iter()
        .map(|path| {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading mask {}", path.display()))?;
            let image = cds::decode_rgb(&bytes)
                .with_context(|| format!("decoding mask {}", path.display()))?;
            prepare_query(&image)
                .with_context(|| format!("preparing mask {} for the shape score", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stage = ShapeStageOptions {
        top: args.search.shape_top,
        keep: args.search.top,
    };
    let images: &dyn ShapeImageSource = match &library.shape_images {
        Some(images) => images.as_ref(),
        None => &NoShapeImages,
    };
    run_stage(&mut report, &queries, images, &stage, &Bar::new("shape"));
    Ok(report)
}

/// The shape images of a library that has none (an index): every hit stays
/// not shape-scored.
struct NoShapeImages;

impl ShapeImageSource for NoShapeImages {
    fn shape_bytes(
        &self,
        _image_name: &str,
    ) -> Result<cdsearch::shape_stage::ShapeBytes, cdsearch::shape_stage::ShapeStageError> {
        Ok(Default::default())
    }
}
