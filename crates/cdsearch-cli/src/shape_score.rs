//! `cdsearch shape-score`: the second-stage shape score of one (mask, target)
//! pair, as colormipsearch computes it.

use anyhow::Context;
use cds::shape::{zgap_from_target, PreparedShapeQuery, ShapeParams, ShapeScore};
use cds::{decode_gray16, decode_rgb, Gray16Image, RgbImage};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

/// Output format of the shape score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShapeFormat {
    /// One `name: value` line per field.
    Text,
    /// One JSON object (colormipsearch field names).
    Json,
}

/// Options of `cdsearch shape-score`.
#[derive(Debug, Args)]
pub struct ShapeScoreArgs {
    /// Mask (query) color depth MIP, PNG or TIFF.
    #[arg(long)]
    mask: PathBuf,
    /// Target color depth MIP, PNG or TIFF.
    #[arg(long)]
    target: PathBuf,
    /// The target's gradient image (16-bit grayscale PNG or TIFF).
    #[arg(long)]
    gradient: PathBuf,
    /// The target's z-gap image; without it the z-gap is derived from the
    /// target (labels cleared, thresholded, max filter of `--zgap-radius`).
    #[arg(long)]
    zgap: Option<PathBuf>,
    /// Max filter radius of a derived z-gap: 20 as for the stored z-gap
    /// files, 10 as in the reference tests.
    #[arg(long, default_value_t = cds::shape::ZGAP_FILE_RADIUS)]
    zgap_radius: u32,
    /// Threshold of the target signal and of the z-gap mask (0-255).
    #[arg(long, default_value_t = ShapeParams::default().mask_threshold)]
    mask_threshold: u8,
    /// Score only the mask as given, not its mirror image.
    #[arg(long)]
    no_mirror: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ShapeFormat::Text)]
    format: ShapeFormat,
}

/// Where the z-gap image came from.
enum ZgapSource<'a> {
    File(&'a Path),
    Derived { radius: u32 },
}

/// Runs `cdsearch shape-score`.
pub fn run(args: ShapeScoreArgs) -> anyhow::Result<()> {
    let params = ShapeParams {
        mask_threshold: args.mask_threshold,
        mirror: !args.no_mirror,
        ..ShapeParams::default()
    };
    let mask = read_rgb(&args.mask, "mask")?;
    let target = read_rgb(&args.target, "target")?;
    let gradient = read_gray16(&args.gradient)?;
    let (zgap, source) = match &args.zgap {
        Some(path) => (read_rgb(path, "z-gap")?, ZgapSource::File(path)),
        None => (
            zgap_from_target(
                &target,
                args.zgap_radius,
                params.mask_threshold,
                &params.labels,
            ),
            ZgapSource::Derived {
                radius: args.zgap_radius,
            },
        ),
    };
    let query = PreparedShapeQuery::new(&mask, None, params)
        .with_context(|| format!("preparing mask {}", args.mask.display()))?;
    let score = query
        .score(&target, Some(&gradient), Some(&zgap))
        .with_context(|| format!("scoring target {}", args.target.display()))?;
    println!("{}", render(&score, &source, args.format));
    Ok(())
}

fn read_rgb(path: &Path, what: &str) -> anyhow::Result<RgbImage> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))?;
    decode_rgb(&bytes).with_context(|| format!("decoding {what} {}", path.display()))
}

fn read_gray16(path: &Path) -> anyhow::Result<Gray16Image> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading gradient {}", path.display()))?;
    decode_gray16(&bytes).with_context(|| format!("decoding gradient {}", path.display()))
}

fn render(score: &ShapeScore, source: &ZgapSource, format: ShapeFormat) -> String {
    let zgap = match source {
        ZgapSource::File(path) => serde_json::json!({
            "source": "file",
            "path": path.display().to_string(),
        }),
        ZgapSource::Derived { radius } => serde_json::json!({
            "source": "derived",
            "radius": radius,
        }),
    };
    match format {
        ShapeFormat::Json => serde_json::json!({
            "gradientAreaGap": score.gradient_area_gap,
            "highExpressionArea": score.high_expression_area,
            "shapeScore": score.shape_score,
            "mirrored": score.mirrored,
            "zgap": zgap,
        })
        .to_string(),
        ShapeFormat::Text => {
            let zgap = match source {
                ZgapSource::File(path) => format!("file {}", path.display()),
                ZgapSource::Derived { radius } => {
                    format!("derived from the target, radius {radius}")
                }
            };
            format!(
                "gradientAreaGap: {}\nhighExpressionArea: {}\nshapeScore: {}\nmirrored: {}\nzgap: {zgap}",
                score.gradient_area_gap,
                score.high_expression_area,
                score.shape_score,
                score.mirrored,
            )
        }
    }
}
