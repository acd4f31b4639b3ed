//! `cdsearch library upload` and `cdsearch library list`: libraries in an S3 bucket, in either
//! form workers read: one object per image (numbered prefixes, 100 shuffled key-list copies) or
//! index shards (coded targets read with ranged GETs), or both.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use burst::ObjectStore;
use burst_aws::S3ObjectStore;
use cdsearch::index::{is_index, Codec, IndexLibrary};
use cdsearch::progress::Progress;
use cdsearch::store::index_upload::{upload_index, IndexSource, IndexUploadOptions};
use cdsearch::store::layout::{ITEM_PREFIXES, MAX_ITEM_PREFIXES};
use cdsearch::store::shards::DEFAULT_SHARD_TARGETS;
use cdsearch::store::upload::upload_library;
use cdsearch_aws::catalog::{BucketCatalog, LibraryListing};
use cdsearch_aws::plan_library_upload;
use clap::{Args, ValueEnum};

use crate::aws_args::{tokio_runtime, AwsArgs};
use crate::progress_bar::Bar;

/// The form of a library in the bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum UploadFormat {
    /// One object per image (and its derived images) with NeuronBridge's key lists.
    Images,
    /// Index shards: coded targets that workers read with a few ranged GETs (fastest to
    /// search; no images, so no shape stage or thumbnails).
    Index,
    /// Both: index shards for the search, the images for the shape stage and thumbnails.
    Both,
}

/// Options of `cdsearch library upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The library: a directory, whose .png/.tif/.tiff images are found as `cdsearch search`
    /// finds them (recursively), with their derived images (gradient, z-gap) if they have any;
    /// or, for `--format index`, an index file made by `cdsearch library index` (its records
    /// are uploaded as they are).
    #[arg(value_name = "DIR|FILE.cdsindex")]
    dir: PathBuf,
    /// What to store: the images, index shards, or both (see the values).
    #[arg(long, value_enum, default_value_t = UploadFormat::Images)]
    format: UploadFormat,
    /// Targets per index shard (each shard is one object, held in memory while it is put).
    #[arg(long, default_value_t = DEFAULT_SHARD_TARGETS,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    shard_targets: u64,
    /// zstd level of the index records coded from images (0: stored, the default; searches read
    /// only the rows they need and load fastest).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i32).range(0..=19))]
    level: i32,
    /// The bucket (it must exist).
    #[arg(long)]
    bucket: String,
    /// Folder of the library in the bucket, which also names it in searches
    /// (e.g. JRC2018_Unisex_20x_HR/MyLibrary).
    #[arg(long)]
    prefix: String,
    /// Uploads in flight at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: u16,
    /// Number of numbered prefixes the images are spread over.
    #[arg(long, default_value_t = ITEM_PREFIXES,
          value_parser = clap::value_parser!(u64).range(1..=MAX_ITEM_PREFIXES))]
    prefixes: u64,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Output format of `cdsearch library list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns.
    Table,
    /// A JSON array of {prefix, form, images, indexShards, itemPrefixes, keyListCopies}.
    Json,
}

/// Options of `cdsearch library list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The bucket.
    #[arg(long)]
    bucket: String,
    /// Only libraries at or under this folder (default: the whole bucket).
    #[arg(long, default_value = "")]
    prefix: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Runs `cdsearch library upload`.
pub fn upload(args: UploadArgs) -> anyhow::Result<()> {
    let is_index = is_index(&args.dir);
    if is_index && args.format != UploadFormat::Index {
        bail!(
            "{} is an index file, which holds coded targets and no images: it can only be \
             uploaded with --format index (or give the library's directory)",
            args.dir.display()
        );
    }
    let started = std::time::Instant::now();
    let runtime = tokio_runtime()?;
    let clients = runtime.block_on(args.aws.clients());
    let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&clients, args.bucket.clone()));
    let prefix = args.prefix.trim_end_matches('/').to_owned();
    let resume = |e: anyhow::Error| {
        e.context(format!(
            "uploading {} to s3://{}/{prefix} (run the command again to resume)",
            args.dir.display(),
            args.bucket
        ))
    };
    if args.format != UploadFormat::Index {
        upload_images(&runtime, store.clone(), &args).map_err(resume)?;
    }
    if args.format != UploadFormat::Images {
        let index = is_index
            .then(|| IndexLibrary::open(&args.dir))
            .transpose()?;
        let entries = match index {
            Some(_) => Vec::new(),
            None => library_entries(&args.dir)?,
        };
        let codec = match args.level {
            0 => Codec::Stored,
            level => Codec::Zstd(level),
        };
        let source = match &index {
            Some(index) => IndexSource::Index(index),
            None => IndexSource::Images(&entries, codec),
        };
        let options = IndexUploadOptions {
            prefix: prefix.clone(),
            shard_targets: args.shard_targets,
            item_prefixes: args.prefixes,
            images: args.format == UploadFormat::Both,
            concurrency: 2,
        };
        let bar = Arc::new(Bar::new("indexing"));
        bar.start(source.len() as u64);
        let progress_bar = bar.clone();
        let progress = Arc::new(move |done: u64| progress_bar.advance_to(done));
        let summary = runtime.block_on(upload_index(store, source, &options, progress));
        bar.finish();
        let summary = summary.map_err(|e| resume(e.into()))?;
        for (name, reason) in &summary.unreadable {
            eprintln!("  unreadable, kept as such in the index: {name}: {reason}");
        }
        let manifest = &summary.manifest;
        eprintln!(
            "index s3://{}/{prefix}: {} targets in {} shards ({:.1} MB); {} shards uploaded, {} \
             already there",
            args.bucket,
            manifest.targets,
            manifest.shards(),
            manifest.bytes as f64 / 1e6,
            summary.uploaded,
            summary.skipped
        );
    }
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The images of a library directory, as a search finds them.
fn library_entries(dir: &std::path::Path) -> anyhow::Result<Vec<cdsearch::library::LibraryEntry>> {
    let entries = cdsearch::library::discover(&[dir.to_path_buf()])?;
    if entries.is_empty() {
        bail!(
            "no images found in {} (expected .png, .tif or .tiff files)",
            dir.display()
        );
    }
    Ok(entries)
}

/// Uploads the images of `args.dir` with their key lists.
fn upload_images(
    runtime: &tokio::runtime::Runtime,
    store: Arc<dyn ObjectStore>,
    args: &UploadArgs,
) -> anyhow::Result<()> {
    let plan = plan_library_upload(&args.dir, &args.prefix, args.prefixes)?;
    if plan.items.is_empty() {
        bail!(
            "no images found in {} (expected .png, .tif or .tiff files)",
            args.dir.display()
        );
    }
    let bar = Arc::new(Bar::new("uploading"));
    bar.start(plan.steps());
    let progress_bar = bar.clone();
    let progress = Arc::new(move |done: u64| progress_bar.advance_to(done));
    let summary = runtime.block_on(upload_library(
        store,
        &plan,
        usize::from(args.concurrency),
        progress,
    ));
    bar.finish();
    let summary = summary?;
    eprintln!(
        "images s3://{}/{}: {} images; {} files uploaded, {} already there; {} key-list copies \
         written",
        args.bucket,
        plan.prefix,
        plan.items.len(),
        summary.uploaded,
        summary.skipped,
        summary.key_lists,
    );
    Ok(())
}

/// Runs `cdsearch library list`.
pub fn list(args: ListArgs) -> anyhow::Result<()> {
    let libraries = tokio_runtime()?
        .block_on(async {
            let clients = args.aws.clients().await;
            BucketCatalog::new(&clients, &args.bucket)
                .find_libraries(&args.prefix)
                .await
        })
        .with_context(|| {
            format!(
                "listing the libraries of s3://{}/{}",
                args.bucket, args.prefix
            )
        })?;
    let mut out = std::io::stdout().lock();
    match args.format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &libraries)?;
            writeln!(out)?;
        }
        ListFormat::Table => write_table(&mut out, &libraries)?,
    }
    out.flush()?;
    Ok(())
}

fn write_table(out: &mut impl Write, libraries: &[LibraryListing]) -> anyhow::Result<()> {
    let width = libraries
        .iter()
        .map(|l| l.prefix.len())
        .max()
        .unwrap_or(0)
        .max("library".len());
    writeln!(
        out,
        "{:<width$}  {:<12}  {:>9}  {:>6}  {:>8}  {:>9}",
        "library", "form", "images", "shards", "prefixes", "key lists"
    )?;
    for l in libraries {
        writeln!(
            out,
            "{:<width$}  {:<12}  {:>9}  {:>6}  {:>8}  {:>9}",
            l.prefix, l.form, l.images, l.index_shards, l.item_prefixes, l.key_list_copies
        )?;
    }
    Ok(())
}
