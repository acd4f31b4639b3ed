//! `cdsearch library derive`: the derived images of a library's targets for
//! the shape stage (z-gap images, and on request approximate gradients).

use crate::progress_bar::Bar;
use anyhow::bail;
use cdsearch::derive::{derive_library, DeriveOptions};
use cdsearch::library::discover;
use clap::Args;
use std::path::PathBuf;

/// Options of `cdsearch library derive`.
#[derive(Debug, Args)]
pub struct DeriveArgs {
    /// Library directories (searched recursively) and/or image files.
    #[arg(required = true, value_name = "DIR|FILE")]
    library: Vec<PathBuf>,
    /// Max filter radius of the z-gap images (20, as the reference's files).
    #[arg(long, default_value_t = cds::shape::ZGAP_FILE_RADIUS)]
    zgap_radius: u32,
    /// Also write gradient images, computed as a distance map of the
    /// target's signal: an approximation of the reference's gradient images,
    /// whose recipe is not public (scores are then not NeuronBridge's).
    #[arg(long)]
    gradients: bool,
    /// Rewrite derived images that already exist.
    #[arg(long)]
    force: bool,
}

/// Runs `cdsearch library derive`.
pub fn run(args: DeriveArgs) -> anyhow::Result<()> {
    let entries = discover(&args.library)?;
    if entries.is_empty() {
        bail!("no target images found (expected .png, .tif or .tiff files)");
    }
    let options = DeriveOptions {
        zgap_radius: args.zgap_radius,
        gradients: args.gradients,
        force: args.force,
    };
    let started = std::time::Instant::now();
    let summary = derive_library(&entries, &options, &Bar::new("deriving"));
    for failed in &summary.failed {
        eprintln!("  {}: {}", failed.image_name, failed.reason);
    }
    eprintln!(
        "derived images of {} targets: {} written, {} already there, {} targets failed, in {:.1} s",
        entries.len(),
        summary.written,
        summary.skipped,
        summary.failed.len(),
        started.elapsed().as_secs_f64()
    );
    if summary.failed.len() == entries.len() {
        bail!("no target could be derived (see the reasons above)");
    }
    Ok(())
}
