//! The flags of a search that do not depend on where it runs (masks, scoring, hits kept,
//! shape stage, output), shared by `cdsearch search` and `cdsearch submit`.

use crate::output::OutputFormat;
use cds::pixel_match::MatchParams;
use cdsearch::job::ShapeJobParameters;
use cdsearch::search::SearchOptions;
use cdsearch::shape_stage::DEFAULT_SHAPE_TOP;
use clap::Args;
use std::path::PathBuf;

/// Masks, scoring parameters, hits kept and output of a search.
#[derive(Debug, Args)]
pub struct SearchFlags {
    /// Mask image (PNG or TIFF color depth MIP); repeat for several masks.
    #[arg(long = "mask", required = true, value_name = "MASK")]
    pub masks: Vec<PathBuf>,
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
    pub top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Second stage: shape-score the best `--shape-top` pixel-match hits of
    /// each mask (targets need gradient and z-gap images, see `cdsearch
    /// library derive`), and rank hits by the normalized score; hits without
    /// derived images keep their pixel-match order after the scored ones.
    #[arg(long)]
    pub shape: bool,
    /// Hits per mask that get a shape score with `--shape`.
    #[arg(long, value_name = "K", default_value_t = DEFAULT_SHAPE_TOP,
          value_parser = parse_shape_top)]
    pub shape_top: usize,
}

/// Parses `--shape-top`: at least one hit.
fn parse_shape_top(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(k) if k > 0 => Ok(k),
        _ => Err(format!(
            "expected a number of hits of at least 1, got {s:?}"
        )),
    }
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

impl SearchFlags {
    /// The pixel-match parameters.
    pub fn params(&self) -> MatchParams {
        MatchParams {
            mask_threshold: self.mask_threshold,
            data_threshold: self.data_threshold,
            pix_color_fluctuation: self.pix_color_fluctuation,
            xy_shift: self.xy_shift,
            mirror_mask: self.mirror,
            min_matching_pix_ratio: self.min_ratio,
        }
    }

    /// The shape stage's settings.
    pub fn shape_parameters(&self) -> ShapeJobParameters {
        ShapeJobParameters {
            shape: self.shape,
            shape_top: self.shape_top,
        }
    }
}
