//! `cdsearch search`: masks against a library, ranked hits on stdout.

use crate::progress_bar::Bar;
use anyhow::{bail, Context};
use cds::pixel_match::MatchParams;
use cdsearch::library::discover;
use cdsearch::progress::Progress;
use cdsearch::results::SearchReport;
use cdsearch::search::{search, FileLibrary, Mask, SearchOptions, TargetSource};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
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

/// Output format of the ranked hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for reading.
    Table,
    /// The whole report as JSON (NeuronBridge field names).
    Json,
    /// One row per hit: mask,rank,target,matchingPixels,matchingRatio,mirrored.
    Csv,
}

/// Options of `cdsearch search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Mask image (PNG or TIFF color depth MIP); repeat for several masks.
    #[arg(long = "mask", required = true, value_name = "MASK")]
    masks: Vec<PathBuf>,
    /// Targets: directories (searched recursively for .png/.tif/.tiff), image
    /// files, or one index file written by `cdsearch library index`.
    #[arg(long, required = true, num_args = 1.., value_name = "DIR|FILE")]
    library: Vec<PathBuf>,
    /// A mask pixel counts when any channel is above this value (0-255).
    #[arg(long, default_value_t = MatchParams::default().mask_threshold)]
    mask_threshold: u8,
    /// A target pixel can match only when any channel is above this value (0-255).
    #[arg(long, default_value_t = MatchParams::default().data_threshold)]
    data_threshold: u8,
    /// Color (depth) tolerance in percent: pixels match when their hue gap is
    /// at most this / 100.
    #[arg(long, default_value_t = MatchParams::default().pix_color_fluctuation)]
    pix_color_fluctuation: f64,
    /// Also try the mask shifted by up to this many pixels in x and y.
    #[arg(long, default_value_t = MatchParams::default().xy_shift,
          value_parser = parse_xy_shift)]
    xy_shift: u32,
    /// Also score the left-right mirrored mask and keep the better side.
    #[arg(long)]
    mirror: bool,
    /// Minimum matching ratio of a hit, in percent of the mask pixels.
    #[arg(long, default_value_t = MatchParams::default().min_matching_pix_ratio)]
    min_ratio: f64,
    /// Hits kept per mask, best first.
    #[arg(long, default_value_t = SearchOptions::default().top)]
    top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
    /// How the search runs: `local` goes through the burst framework (the
    /// same manager/worker/monitor/combiner path as on AWS), `direct` scores
    /// the targets in one parallel loop. Both give the same ranking.
    #[arg(long, value_enum, default_value_t = Runtime::Local)]
    runtime: Runtime,
    /// Targets per batch (worker invocation) with `--runtime local`; by
    /// default a few batches per CPU core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: Option<u64>,
}

/// Parses `--xy-shift`: 0, 2 or 4 pixels, as NeuronBridge offers.
fn parse_xy_shift(s: &str) -> Result<u32, String> {
    match s.trim() {
        "0" => Ok(0),
        "2" => Ok(2),
        "4" => Ok(4),
        _ => Err(format!("expected 0, 2 or 4 (pixels), got {s:?}")),
    }
}

impl SearchArgs {
    fn params(&self) -> MatchParams {
        MatchParams {
            mask_threshold: self.mask_threshold,
            data_threshold: self.data_threshold,
            pix_color_fluctuation: self.pix_color_fluctuation,
            xy_shift: self.xy_shift,
            mirror_mask: self.mirror,
            min_matching_pix_ratio: self.min_ratio,
        }
    }
}

/// Opens the library arguments as a target source.
fn open_library(paths: &[PathBuf]) -> anyhow::Result<Arc<dyn TargetSource + Send + Sync>> {
    if let [path] = paths {
        if cdsearch::index::is_index(path) {
            let index = cdsearch::index::IndexLibrary::open(path)?;
            return Ok(Arc::new(index));
        }
    }
    let entries = discover(paths)?;
    Ok(Arc::new(FileLibrary::new(entries)))
}

/// Name of the one library of a CLI search in the job parameters.
const LIBRARY_NAME: &str = "library";

/// Runs the search as a job on the burst local runtime and returns the
/// combined report, with the masks named as given on the command line.
fn search_on_runtime(
    args: &SearchArgs,
    masks: &[Mask],
    source: Arc<dyn TargetSource + Send + Sync>,
    params: &MatchParams,
) -> anyhow::Result<SearchReport> {
    use cdsearch::job::{self, LibraryParameters, LocalResolver, SearchJobParameters};
    let targets = source.len() as u64;
    let job_params = SearchJobParameters {
        search_bucket: String::new(),
        mask_keys: masks.iter().map(|m| m.name.clone()).collect(),
        mask_thresholds: vec![params.mask_threshold; masks.len()],
        data_threshold: params.data_threshold,
        pix_color_fluctuation: params.pix_color_fluctuation,
        xy_shift: params.xy_shift,
        mirror_mask: params.mirror_mask,
        min_matching_pix_ratio: params.min_matching_pix_ratio,
        max_results_per_mask: args.top.max(1),
        libraries: vec![LibraryParameters {
            library_name: LIBRARY_NAME.into(),
            library_bucket: String::new(),
            searched_neurons_folder: String::new(),
            lsize: targets,
            extra: Default::default(),
        }],
    };
    let batch_size = args
        .batch_size
        .unwrap_or_else(|| job::local_batch_size(targets));
    let request = job::search_request(&job_params, batch_size)?;
    let resolver = LocalResolver::new([(LIBRARY_NAME.to_owned(), source)].into());
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
        let mut shown = 0;
        let outcome = loop {
            tokio::select! {
                outcome = &mut wait => break outcome,
                changed = progress.changed() => match changed {
                    Ok(()) => {
                        let now = *progress.borrow();
                        let done = now.completed + now.failed;
                        bar.advance(done.saturating_sub(shown));
                        shown = shown.max(done);
                    }
                    Err(_) => break (&mut wait).await,
                },
            }
        };
        bar.finish();
        anyhow::Ok(outcome?)
    })?;
    for failure in &outcome.failed_batches {
        eprintln!(
            "batch {} failed after {} attempt(s): {}",
            failure.batch_id, failure.attempts, failure.cause
        );
    }
    if !outcome.missing_batches.is_empty() {
        eprintln!(
            "{} batch(es) without a result: {:?}",
            outcome.missing_batches.len(),
            outcome.missing_batches
        );
    }
    tracing::info!(job_id = outcome.job_id, state = ?outcome.state, batches = outcome.num_batches, "job done");
    Ok(job::outcome_report(&outcome)?)
}

/// Runs `cdsearch search`.
pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    let params = args.params();
    params.validate().context("invalid search parameters")?;
    let masks = args
        .masks
        .iter()
        .map(|path| Mask::load(path, &params))
        .collect::<Result<Vec<_>, _>>()?;
    let source = open_library(&args.library)?;
    if source.is_empty() {
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
        top: args.top,
    };
    let started = std::time::Instant::now();
    let report = match args.runtime {
        Runtime::Direct => search(&masks, source.as_ref(), &options, &Bar::new("searching")),
        Runtime::Local => search_on_runtime(&args, &masks, source, &params)?,
    };
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        targets = report.targets,
        masks = masks.len(),
        secs,
        images_per_sec = report.targets as f64 / secs,
        "search done"
    );
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Table => write_table(&mut out, &report)?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        OutputFormat::Csv => write_csv(&mut out, &report)?,
    }
    out.flush()?;
    report_unreadable(&report);
    if report.searched == 0 {
        bail!("no target could be searched (see the reasons above)");
    }
    Ok(())
}

/// The rows printed for each hit: mask, rank (1-based), target, pixels,
/// ratio, mirrored.
fn rows(report: &SearchReport) -> impl Iterator<Item = (&str, usize, &cdsearch::results::Hit)> {
    report.masks.iter().flat_map(|m| {
        m.results
            .iter()
            .enumerate()
            .map(move |(i, hit)| (m.mask_id.as_str(), i + 1, hit))
    })
}

fn write_table(out: &mut impl Write, report: &SearchReport) -> anyhow::Result<()> {
    for mask in &report.masks {
        writeln!(
            out,
            "mask {} ({} mask pixels): {} hits of {} targets",
            mask.mask_id,
            mask.mask_pixels,
            mask.results.len(),
            report.targets
        )?;
        let width = mask
            .results
            .iter()
            .map(|h| h.image_name.len())
            .max()
            .unwrap_or(0)
            .max("target".len());
        writeln!(
            out,
            "{:>5}  {:<width$}  {:>14}  {:>8}  mirrored",
            "rank", "target", "matchingPixels", "ratio"
        )?;
        for (i, hit) in mask.results.iter().enumerate() {
            writeln!(
                out,
                "{:>5}  {:<width$}  {:>14}  {:>8.4}  {}",
                i + 1,
                hit.image_name,
                hit.matching_pixels,
                hit.matching_ratio,
                if hit.mirrored { "yes" } else { "no" }
            )?;
        }
    }
    Ok(())
}

fn write_csv(out: &mut impl Write, report: &SearchReport) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "mask",
        "rank",
        "target",
        "matchingPixels",
        "matchingRatio",
        "mirrored",
    ])?;
    for (mask, rank, hit) in rows(report) {
        w.write_record([
            mask,
            &rank.to_string(),
            &hit.image_name,
            &hit.matching_pixels.to_string(),
            &hit.matching_ratio.to_string(),
            &hit.mirrored.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Lists the targets that could not be searched, on stderr.
fn report_unreadable(report: &SearchReport) {
    if report.unreadable.is_empty() {
        return;
    }
    eprintln!(
        "{} target(s) could not be searched:",
        report.unreadable.len()
    );
    for u in &report.unreadable {
        eprintln!("  {}: {}", u.image_name, u.reason);
    }
}
