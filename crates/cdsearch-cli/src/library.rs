//! `cdsearch library ...`: build libraries (synthetic images, the index).

use crate::progress_bar::Bar;
use anyhow::{bail, Context};
use cdsearch::index::{write_index, Codec};
use cdsearch::library::discover;
use cdsearch::synth::{write_library, SynthFormat, SynthOptions};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Library subcommands.
#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Write a synthetic library of realistic color depth MIPs (neuron-like
    /// tracts colored by depth, label areas), for trying and benchmarking.
    Synth(SynthArgs),
    /// Preprocess a library into one index file that searches read instead
    /// of the images: every target coded once for scoring (row by row, the
    /// lit bitmap words plus a code word per lit pixel), stored or zstd-compressed.
    Index(IndexArgs),
    /// Write the derived images the shape stage (`search --shape`) reads:
    /// `<name>.zgap.png` next to each target (and `<name>.grad.png` with
    /// `--gradients`), skipping those that exist.
    Derive(crate::derive::DeriveArgs),
    #[cfg(feature = "aws")]
    /// Upload a library directory to S3 in the layout workers read: images
    /// (and their derived images) under numbered prefixes, then 100 shuffled
    /// copies of the key list. Resumable: files already there are skipped.
    Upload(crate::upload::UploadArgs),
    #[cfg(feature = "aws")]
    /// List the libraries in an S3 bucket: images, prefixes, key-list copies.
    List(crate::upload::ListArgs),
}

/// Options of `cdsearch library index`.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Library directories (searched recursively) and/or image files.
    #[arg(required = true, value_name = "DIR|FILE")]
    library: Vec<PathBuf>,
    /// The index file to write (e.g. library.cdsindex).
    #[arg(long)]
    out: PathBuf,
    /// zstd compression level (1-19); 0, the default, stores the records
    /// uncompressed: searches read only the rows they need and load fastest.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i32).range(0..=19))]
    level: i32,
}

/// Image format of a synthetic library.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    /// 8-bit RGB PNG.
    Png,
    /// RGB TIFF with PackBits compression, as Fiji writes CDMs.
    Tif,
}

/// Options of `cdsearch library synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of images to write.
    #[arg(long)]
    count: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Random seed: the same seed writes the same images.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Image file format.
    #[arg(long, value_enum, default_value_t = FormatArg::Png)]
    format: FormatArg,
    /// Image size as WIDTHxHEIGHT (1210x566 is the JRC2018 unisex brain).
    #[arg(long, default_value = "1210x566", value_parser = parse_size)]
    size: (usize, usize),
    /// Do not write the derived images (z-gap, approximate gradient) next to
    /// each image.
    #[arg(long)]
    no_derived: bool,
}

/// Parses "WIDTHxHEIGHT".
fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let parse = |v: &str| v.trim().parse::<usize>().ok().filter(|&n| n > 0);
    match s.split_once(['x', 'X']) {
        Some((w, h)) => match (parse(w), parse(h)) {
            (Some(w), Some(h)) => Ok((w, h)),
            _ => Err(format!(
                "expected WIDTHxHEIGHT with positive integers, got {s:?}"
            )),
        },
        None => Err(format!("expected WIDTHxHEIGHT (e.g. 1210x566), got {s:?}")),
    }
}

/// Runs a library subcommand.
pub fn run(command: LibraryCommand) -> anyhow::Result<()> {
    match command {
        LibraryCommand::Synth(args) => synth(args),
        LibraryCommand::Index(args) => index(args),
        LibraryCommand::Derive(args) => crate::derive::run(args),
        #[cfg(feature = "aws")]
        LibraryCommand::Upload(args) => crate::upload::upload(args),
        #[cfg(feature = "aws")]
        LibraryCommand::List(args) => crate::upload::list(args),
    }
}

fn index(args: IndexArgs) -> anyhow::Result<()> {
    let entries = discover(&args.library)?;
    if entries.is_empty() {
        bail!("no images found to index (expected .png, .tif or .tiff files)");
    }
    let codec = match args.level {
        0 => Codec::Stored,
        level => Codec::Zstd(level),
    };
    let started = std::time::Instant::now();
    let summary = write_index(&entries, &args.out, codec, &Bar::new("indexing"))?;
    for u in &summary.unreadable {
        eprintln!("  left out {}: {}", u.image_name, u.reason);
    }
    if summary.written == 0 {
        bail!("no image could be indexed (see the reasons above)");
    }
    eprintln!(
        "indexed {} images into {} ({:.1} MB, {:.1} MB before compression) in {:.1} s",
        summary.written,
        args.out.display(),
        summary.file_bytes as f64 / 1e6,
        summary.raw_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn synth(args: SynthArgs) -> anyhow::Result<()> {
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let options = SynthOptions {
        count: args.count,
        seed: args.seed,
        format: match args.format {
            FormatArg::Png => SynthFormat::Png,
            FormatArg::Tif => SynthFormat::Tif,
        },
        width: args.size.0,
        height: args.size.1,
        derived: !args.no_derived,
    };
    let started = std::time::Instant::now();
    let paths = write_library(&args.out, &options, &Bar::new("writing"))
        .with_context(|| format!("writing synthetic library to {}", args.out.display()))?;
    tracing::info!(
        images = paths.len(),
        secs = started.elapsed().as_secs_f64(),
        "synthetic library written"
    );
    eprintln!(
        "wrote {} images to {} in {:.1} s",
        paths.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1210x566"), Ok((1210, 566)));
        assert_eq!(parse_size("573X1119"), Ok((573, 1119)));
        assert!(parse_size("1210").is_err());
        assert!(parse_size("0x5").is_err());
    }
}
