//! Straightforward implementations of the shape score, written to follow the
//! spec line by line rather than to be fast: an `O(r²)` circular max filter
//! and a dense per-pixel score loop over materialized (mirrored) images.
//! Tests use them to cross-check the fast paths; benchmarks use them as the
//! baseline.

use super::maxfilter::kernel_half_widths;
use super::ops::{above, threshold};
use super::score::{
    check_size, checked_inputs, oriented, pixel_gap, DirectionScores, QueryMasks, ShapeError,
    ShapeParams, ShapeScore, GAP_FLOOR,
};
use super::slice::slice_number;
use crate::image::{Gray16Image, RgbImage};

/// Channel-wise max over ImageJ's circular kernel, visiting every kernel
/// offset of every pixel.
pub fn max_filter_naive(image: &RgbImage, radius: u32) -> RgbImage {
    let widths = kernel_half_widths(radius);
    let reach = widths.len() - 1;
    let (w, h) = (image.width, image.height);
    let mut out = RgbImage::black(w, h);
    for y in 0..h {
        for x in 0..w {
            let mut max = [0u32; 3];
            for yy in y.saturating_sub(reach)..=(y + reach).min(h - 1) {
                let k = widths[yy.abs_diff(y)];
                let row = &image.pixels[yy * w..(yy + 1) * w];
                for &p in &row[x.saturating_sub(k)..=(x + k).min(w - 1)] {
                    max[0] = max[0].max((p >> 16) & 0xff);
                    max[1] = max[1].max((p >> 8) & 0xff);
                    max[2] = max[2].max(p & 0xff);
                }
            }
            out.pixels[y * w + x] = (max[0] << 16) | (max[1] << 8) | max[2];
        }
    }
    out
}

/// A query prepared as dense images, scored by a loop over every pixel.
#[derive(Clone, Debug)]
pub struct DenseShapeQuery {
    masks: QueryMasks,
    roi: Option<RgbImage>,
    params: ShapeParams,
}

impl DenseShapeQuery {
    /// Prepares the query with the given max filter (`filter(image, radius)`).
    pub fn with_filter(
        query: &RgbImage,
        roi: Option<&RgbImage>,
        params: ShapeParams,
        filter: impl Fn(&RgbImage, u32) -> RgbImage,
    ) -> Result<Self, ShapeError> {
        let roi = roi
            .map(|r| {
                check_size("ROI", (query.width, query.height), (r.width, r.height))?;
                Ok(params.labels.cleared(r))
            })
            .transpose()?;
        Ok(Self {
            masks: QueryMasks::with_filter(query, &params.labels, filter),
            roi,
            params,
        })
    }

    /// The dense `Q`, `M` and `H` images.
    pub fn masks(&self) -> &QueryMasks {
        &self.masks
    }

    /// Scores both directions of one target; same contract as
    /// [`PreparedShapeQuery::score_directions`](super::PreparedShapeQuery::score_directions).
    pub fn score_directions(
        &self,
        target: &RgbImage,
        gradient: Option<&Gray16Image>,
        zgap: Option<&RgbImage>,
    ) -> Result<DirectionScores, ShapeError> {
        let size = (self.masks.query.width, self.masks.query.height);
        let Some((gradient, zgap)) = checked_inputs(size, target, gradient, zgap)? else {
            return Ok(DirectionScores::NOT_SCORED);
        };
        let target = self.params.labels.cleared(target);
        let zgap = threshold(zgap, self.params.mask_threshold);
        Ok(DirectionScores {
            direct: self.direction(&target, gradient, &zgap, false),
            mirrored: self
                .params
                .mirror
                .then(|| self.direction(&target, gradient, &zgap, true)),
        })
    }

    /// One direction: `Q`, `M`, `H` and `Z` mirrored if asked, `G` and `T`
    /// never, then the ROI applied, then every pixel visited.
    fn direction(
        &self,
        target: &RgbImage,
        gradient: &Gray16Image,
        zgap: &RgbImage,
        mirrored: bool,
    ) -> ShapeScore {
        let w = target.width;
        let q = oriented(&self.masks.query.pixels, w, mirrored);
        let m = oriented(&self.masks.mask, w, mirrored);
        let h = oriented(&self.masks.high_expression, w, mirrored);
        let z = oriented(&zgap.pixels, w, mirrored);
        let (mut gap_sum, mut area) = (0i64, 0i64);
        for i in 0..q.len() {
            let inside = self.roi.as_ref().is_none_or(|r| r.pixels[i] != 0);
            let (q, m, h) = if inside {
                (q[i], m[i], h[i])
            } else {
                (0, false, false)
            };
            let gradient_term = if m { i64::from(gradient.pixels[i]) } else { 0 };
            let gap = if q != 0 && z[i] != 0 {
                pixel_gap(slice_number(q), slice_number(z[i]), || gradient_term)
            } else {
                gradient_term
            };
            if gap > GAP_FLOOR {
                gap_sum += gap;
            }
            if h && above(target.pixels[i], self.params.mask_threshold) {
                area += 1;
            }
        }
        ShapeScore::from_areas(gap_sum, area, mirrored)
    }
}
