//! `cdsearch library upload` and `cdsearch library list`: libraries in an S3 bucket, in the
//! layout workers read (numbered prefixes, 100 shuffled key-list copies).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use burst::ObjectStore;
use burst_aws::S3ObjectStore;
use cdsearch::progress::Progress;
use cdsearch::store::layout::{ITEM_PREFIXES, MAX_ITEM_PREFIXES};
use cdsearch::store::upload::upload_library;
use cdsearch_aws::catalog::{BucketCatalog, LibraryListing};
use cdsearch_aws::plan_library_upload;
use clap::{Args, ValueEnum};

use crate::aws_args::{tokio_runtime, AwsArgs};
use crate::progress_bar::Bar;

/// Options of `cdsearch library upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The library directory: its .png/.tif/.tiff images are found as `cdsearch search` finds
    /// them (recursively), with their derived images (gradient, z-gap) if they have any.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
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
    /// A JSON array of {prefix, images, itemPrefixes, keyListCopies}.
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
    let plan = plan_library_upload(&args.dir, &args.prefix, args.prefixes)?;
    if plan.items.is_empty() {
        bail!(
            "no images found in {} (expected .png, .tif or .tiff files)",
            args.dir.display()
        );
    }
    let started = std::time::Instant::now();
    let bar = Arc::new(Bar::new("uploading"));
    bar.start(plan.steps());
    let progress_bar = bar.clone();
    let progress = Arc::new(move |done: u64| progress_bar.advance_to(done));
    let summary = tokio_runtime()?.block_on(async {
        let clients = args.aws.clients().await;
        let store: Arc<dyn ObjectStore> =
            Arc::new(S3ObjectStore::new(&clients, args.bucket.clone()));
        upload_library(store, &plan, usize::from(args.concurrency), progress).await
    });
    bar.finish();
    let summary = summary.with_context(|| {
        format!(
            "uploading {} to s3://{}/{} (run the command again to resume)",
            args.dir.display(),
            args.bucket,
            plan.prefix
        )
    })?;
    eprintln!(
        "library s3://{}/{}: {} images; {} files uploaded, {} already there; {} key-list copies \
         written; {:.1} s",
        args.bucket,
        plan.prefix,
        plan.items.len(),
        summary.uploaded,
        summary.skipped,
        summary.key_lists,
        started.elapsed().as_secs_f64()
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
        "{:<width$}  {:>9}  {:>8}  {:>9}",
        "library", "images", "prefixes", "key lists"
    )?;
    for library in libraries {
        writeln!(
            out,
            "{:<width$}  {:>9}  {:>8}  {:>9}",
            library.prefix, library.images, library.item_prefixes, library.key_list_copies
        )?;
    }
    Ok(())
}
