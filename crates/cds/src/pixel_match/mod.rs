//! The pixel-match score of color depth search, exactly as NeuronBridge
//! computes it (see `docs/cds-algorithm.md`).
//!
//! Two implementations give identical results:
//! - [`reference::score`]: the straightforward scalar form of the algorithm,
//!   kept as the oracle for tests and the baseline for benchmarks;
//! - [`PreparedMask`]: the fast form. A mask is prepared once (its pixels
//!   grouped by color class, each class holding the exact ranges of target
//!   colors it accepts) and then scored against many targets, either decoded
//!   ([`PreparedMask::score`]) or pre-coded once per target
//!   ([`CodedTarget`], [`PreparedMask::score_coded`]).

mod accept;
mod coded;
mod gap;
mod prepared;
#[cfg(test)]
mod proptests;
pub mod reference;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod simd;
mod window;

pub use coded::CodedTarget;
pub use gap::pixel_gap;
pub use prepared::{PreparedMask, ScoringLoop};

/// The largest `xy_shift` accepted (the reference accepts any even shift;
/// NeuronBridge uses 0, 2 and 4).
pub const MAX_XY_SHIFT: u32 = 32;

/// Parameters of a pixel-match search. [`Default`] gives the reference
/// service's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchParams {
    /// A mask pixel counts when any channel is above this value.
    pub mask_threshold: u8,
    /// A target pixel can match only when any channel is above this value.
    pub data_threshold: u8,
    /// Color tolerance in percent (`zTolerance = pix_color_fluctuation / 100`).
    pub pix_color_fluctuation: f64,
    /// Largest shift tried in x and y, in pixels: 0, 2, 4, ... (even).
    pub xy_shift: u32,
    /// Also score the horizontally mirrored mask and keep the better result.
    pub mirror_mask: bool,
    /// A target is a hit when its ratio exceeds this percentage.
    pub min_matching_pix_ratio: f64,
}

impl Default for MatchParams {
    fn default() -> Self {
        Self {
            mask_threshold: 100,
            data_threshold: 100,
            pix_color_fluctuation: 2.0,
            xy_shift: 0,
            mirror_mask: false,
            min_matching_pix_ratio: 2.0,
        }
    }
}

impl MatchParams {
    /// Checks that the parameters are in the ranges the algorithm defines.
    pub fn validate(&self) -> Result<(), MatchError> {
        if !self.xy_shift.is_multiple_of(2) || self.xy_shift > MAX_XY_SHIFT {
            return Err(MatchError::InvalidXyShift(self.xy_shift));
        }
        if !self.pix_color_fluctuation.is_finite() || self.pix_color_fluctuation < 0.0 {
            return Err(MatchError::InvalidFluctuation(self.pix_color_fluctuation));
        }
        if !(0.0..=100.0).contains(&self.min_matching_pix_ratio) {
            return Err(MatchError::InvalidMinRatio(self.min_matching_pix_ratio));
        }
        Ok(())
    }

    /// The largest pixel gap that still matches (`pix_color_fluctuation / 100`).
    pub fn z_tolerance(&self) -> f64 {
        self.pix_color_fluctuation / 100.0
    }

    /// The distinct (dx, dy) shifts tried, the unshifted one first.
    pub(crate) fn shifts(&self) -> Vec<(i32, i32)> {
        let mut out = vec![(0, 0)];
        for i in (2..=self.xy_shift as i32).step_by(2) {
            for dx in [-i, 0, i] {
                for dy in [-i, 0, i] {
                    if (dx, dy) != (0, 0) {
                        out.push((dx, dy));
                    }
                }
            }
        }
        out
    }
}

/// The score of one mask against one target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchScore {
    /// Number of matching mask pixels of the best shift (after the negative
    /// mask's subtraction, if any).
    pub matching_pixels: i64,
    /// `matching_pixels / mask pixel count` of the best shift (0 when no
    /// pixel matched), minus the negative mask's ratio if any.
    pub matching_ratio: f64,
    /// Whether the best result came from the mirrored mask.
    pub mirrored: bool,
}

impl MatchScore {
    /// Whether the target is a hit: ratio above `min_matching_pix_ratio` percent.
    pub fn is_hit(&self, params: &MatchParams) -> bool {
        self.matching_ratio > params.min_matching_pix_ratio / 100.0
    }
}

/// Why a score could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatchError {
    /// `xy_shift` must be even and at most [`MAX_XY_SHIFT`].
    #[error("invalid xy_shift {0}: expected an even number of pixels <= {MAX_XY_SHIFT} (0, 2 or 4 in NeuronBridge)")]
    InvalidXyShift(u32),
    /// `pix_color_fluctuation` must be finite and non-negative.
    #[error("invalid pix_color_fluctuation {0}: expected a finite percentage >= 0")]
    InvalidFluctuation(f64),
    /// `min_matching_pix_ratio` must be a percentage.
    #[error("invalid min_matching_pix_ratio {0}: expected a percentage in [0, 100]")]
    InvalidMinRatio(f64),
    /// The mask and the target have different sizes.
    #[error("target size {target:?} differs from mask size {mask:?}: images must have the same width and height")]
    SizeMismatch {
        /// Mask (width, height).
        mask: (usize, usize),
        /// Target (width, height).
        target: (usize, usize),
    },
    /// The negative mask and the mask have different sizes.
    #[error("negative mask size {negative:?} differs from mask size {mask:?}")]
    NegativeSizeMismatch {
        /// Mask (width, height).
        mask: (usize, usize),
        /// Negative mask (width, height).
        negative: (usize, usize),
    },
    /// An image's pixel buffer does not hold width x height pixels.
    #[error("image of {width}x{height} has {len} pixels, expected width x height")]
    MalformedImage {
        /// Declared width.
        width: usize,
        /// Declared height.
        height: usize,
        /// Actual number of pixels.
        len: usize,
    },
    /// Bytes given to [`CodedTarget::from_bytes`] are not a valid coded target.
    #[error("invalid coded target: {0}")]
    InvalidCodedTarget(String),
}

/// Checks that an image's buffer matches its declared size.
pub(crate) fn check_image(image: &crate::RgbImage) -> Result<(), MatchError> {
    if image.pixels.len() != image.width * image.height {
        return Err(MatchError::MalformedImage {
            width: image.width,
            height: image.height,
            len: image.pixels.len(),
        });
    }
    Ok(())
}

/// Whether (x, y) lies in one of the two label areas burnt into CDMs, which
/// are never mask positions.
#[inline]
pub(crate) fn in_label_area(x: usize, y: usize, width: usize) -> bool {
    (x < 330 && y < 100) || (x + 250 >= width && y < 90)
}

/// Whether any channel of a packed pixel is above `threshold`.
#[inline]
pub(crate) fn above(pixel: u32, threshold: u8) -> bool {
    let (r, g, b) = crate::image::channels(pixel);
    r > threshold || g > threshold || b > threshold
}

/// The best count over a set of position lists, as the reference keeps it:
/// the count, and its ratio to the mask size (0 when nothing matched).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Best {
    pub count: i64,
    pub ratio: f64,
}

impl Best {
    /// The best of `counts` for a mask of `mask_size` positions.
    pub(crate) fn of(counts: impl IntoIterator<Item = i64>, mask_size: usize) -> Self {
        let count = counts.into_iter().max().unwrap_or(0).max(0);
        let ratio = if count > 0 {
            count as f64 / mask_size as f64
        } else {
            0.0
        };
        Self { count, ratio }
    }

    /// Subtracts a negative mask's best result, as the reference does:
    /// ratios subtract, counts subtract the negative count scaled by the
    /// ratio of mask sizes, rounded like JavaScript's `Math.round`.
    pub(crate) fn minus(self, negative: Best, mask_size: usize, negative_size: usize) -> Self {
        if negative_size == 0 {
            return self;
        }
        let scale = mask_size as f64 / negative_size as f64;
        Self {
            count: js_round(self.count as f64 - negative.count as f64 * scale),
            ratio: self.ratio - negative.ratio,
        }
    }
}

/// JavaScript's `Math.round`: nearest integer, halves toward +infinity.
fn js_round(x: f64) -> i64 {
    let floor = x.floor();
    if x - floor >= 0.5 {
        floor as i64 + 1
    } else {
        floor as i64
    }
}

/// Combines the direct and mirrored results: the mirrored one wins only
/// when its ratio is strictly greater.
pub(crate) fn final_score(direct: Best, mirrored: Option<Best>) -> MatchScore {
    match mirrored {
        Some(m) if direct.ratio < m.ratio => MatchScore {
            matching_pixels: m.count,
            matching_ratio: m.ratio,
            mirrored: true,
        },
        _ => MatchScore {
            matching_pixels: direct.count,
            matching_ratio: direct.ratio,
            mirrored: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_round_halves_go_up() {
        assert_eq!(js_round(2.5), 3);
        assert_eq!(js_round(-2.5), -2);
        assert_eq!(js_round(-2.6), -3);
        assert_eq!(js_round(0.49999999999999994), 0);
    }

    #[test]
    fn shifts_are_distinct() {
        let p = |s| MatchParams {
            xy_shift: s,
            ..MatchParams::default()
        };
        assert_eq!(p(0).shifts(), vec![(0, 0)]);
        assert_eq!(p(2).shifts().len(), 9);
        assert_eq!(p(4).shifts().len(), 17);
    }

    #[test]
    fn validate_rejects_bad_params() {
        let ok = MatchParams::default();
        assert!(ok.validate().is_ok());
        let bad_shift = MatchParams {
            xy_shift: 3,
            ..ok.clone()
        };
        assert_eq!(bad_shift.validate(), Err(MatchError::InvalidXyShift(3)));
        let bad_tol = MatchParams {
            pix_color_fluctuation: f64::NAN,
            ..ok.clone()
        };
        assert!(matches!(
            bad_tol.validate(),
            Err(MatchError::InvalidFluctuation(_))
        ));
        let bad_ratio = MatchParams {
            min_matching_pix_ratio: 101.0,
            ..ok
        };
        assert_eq!(
            bad_ratio.validate(),
            Err(MatchError::InvalidMinRatio(101.0))
        );
    }
}
