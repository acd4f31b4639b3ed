//! `cdsearch search`: masks against a library, ranked hits on stdout.

use crate::output::{print_report, warn_incomplete};
use crate::progress_bar::Bar;
use crate::s3_url::s3_url;
use crate::search_flags::SearchFlags;
use anyhow::{bail, Context};
use cds::pixel_match::MatchParams;
use cdsearch::job::{self, LibraryParameters, LocalResolver, SearchJobParameters};
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
    /// files, one index file written by `cdsearch library index`, or (built
    /// with the `aws` feature) one library in a bucket, `s3://BUCKET/PREFIX`,
    /// as `cdsearch library upload` wrote it (either form), searched on this
    /// machine through the local runtime with the Lambda worker's reader.
    #[arg(long, required = true, num_args = 1.., value_name = "DIR|FILE|s3://BUCKET/PREFIX")]
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
    /// Where AWS is, for an `s3://` library.
    #[cfg(feature = "aws")]
    #[command(flatten)]
    aws: crate::aws_args::AwsArgs,
}

/// The bucket and prefix of an `s3://BUCKET/PREFIX` library argument.
fn s3_library(paths: &[PathBuf]) -> Option<(String, String)> {
    let [path] = paths else { return None };
    s3_url(path.to_str()?)
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

/// The resolver and job parameters of a search of a library held here.
fn local_library(library: OpenLibrary) -> (LocalResolver, LibraryParameters) {
    let targets = library.source.len() as u64;
    let mut resolver = LocalResolver::new([(LIBRARY_NAME.to_owned(), library.source)].into());
    if let Some(images) = library.shape_images {
        resolver = resolver.with_shape_images(LIBRARY_NAME, images);
    }
    (resolver, LibraryParameters::local(LIBRARY_NAME, targets))
}

/// The resolver and job parameters of a search of the library at `prefix`
/// of `bucket`: its form read once here, its targets read as a Lambda worker
/// reads them.
#[cfg(feature = "aws")]
fn bucket_library(
    tokio: &tokio::runtime::Runtime,
    args: &SearchArgs,
    bucket: &str,
    prefix: &str,
) -> anyhow::Result<(LocalResolver, LibraryParameters)> {
    let library =
        crate::aws_args::describe_bucket_library(tokio, &args.aws, bucket, prefix, LIBRARY_NAME)?;
    let resolver = cdsearch_aws::s3_library_resolver(&library.clients);
    Ok((
        LocalResolver::new(Default::default()).with_remote(Arc::new(resolver)),
        library.params,
    ))
}

/// Runs the search of `library` (read through `resolver`) as a job on the
/// burst local runtime and returns the combined report, with the masks named
/// as given on the command line.
fn search_on_runtime(
    tokio: &tokio::runtime::Runtime,
    args: &SearchArgs,
    masks: &[Mask],
    (resolver, library): (LocalResolver, LibraryParameters),
    params: &MatchParams,
) -> anyhow::Result<SearchReport> {
    let targets = library.lsize;
    let job_params = SearchJobParameters::new(
        "",
        masks.iter().map(|m| m.name.clone()).collect(),
        vec![params.mask_threshold; masks.len()],
        params,
        args.search.top.max(1),
        vec![library],
    );
    let batch_size = args
        .batch_size
        .unwrap_or_else(|| job::local_batch_size(targets));
    let request = job::search_request(&job_params, &args.search.shape_parameters(), batch_size)?;
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

/// Searches the library in a bucket named by `--library s3://...`.
fn search_bucket(
    args: &SearchArgs,
    masks: &[Mask],
    params: &MatchParams,
    (bucket, prefix): (String, String),
) -> anyhow::Result<SearchReport> {
    if args.runtime == Runtime::Direct {
        bail!("--runtime direct searches local files only; an s3:// library is searched through the local runtime (leave out --runtime)");
    }
    #[cfg(feature = "aws")]
    {
        let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        let library = bucket_library(&tokio, args, &bucket, &prefix)?;
        search_on_runtime(&tokio, args, masks, library, params)
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (masks, params);
        bail!(
            "s3://{bucket}/{prefix}: this cdsearch was built without AWS support; build it with \
             the `aws` feature (cargo install --path crates/cdsearch-cli --features aws)"
        )
    }
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
    if let Some(bucket) = s3_library(&args.library) {
        let started = std::time::Instant::now();
        let report = search_bucket(&args, &masks, &params, bucket)?;
        report_reads(&report, started.elapsed().as_secs_f64());
        return print_report(&report, args.search.format);
    }
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
        Runtime::Local => {
            let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            search_on_runtime(&tokio, &args, &masks, local_library(library), &params)?
        }
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

/// Says on stderr what reading the targets took (requests, bytes): the cost
/// drivers of a search over an object store.
fn report_reads(report: &SearchReport, secs: f64) {
    eprintln!(
        "{} targets in {secs:.1} s; read {} requests, {:.1} MB",
        report.targets,
        report.reads.requests,
        report.reads.bytes as f64 / 1e6
    );
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
