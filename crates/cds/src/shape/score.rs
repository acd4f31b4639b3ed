//! Query preparation and the per-target shape score (gradient area gap plus
//! high-expression area), direct and mirrored.

use super::labels::LabelRegions;
use super::maxfilter::{max_filter_rows, BPP};
use super::ops::{above, channel_sum, mirror_pixels};
use super::slice::slice_number;
use crate::image::{Gray16Image, RgbImage};

/// Radius of the max filter whose black pixels define the inside edge of the
/// high-expression ring.
pub const RING_INNER_RADIUS: u32 = 20;
/// Radius of the max filter that bounds the outside of the high-expression ring.
pub const RING_OUTER_RADIUS: u32 = 60;
/// A per-pixel gap counts only if it is strictly above this.
pub const GAP_FLOOR: i64 = 3;
/// A slice gap at or above this replaces the gradient term.
pub const SLICE_GAP_CUTOFF: u16 = 80;
/// Subtracted from a slice gap that reaches [`SLICE_GAP_CUTOFF`].
pub const SLICE_GAP_OFFSET: u16 = 40;
/// Query mask pixels have `gray > 2`, i.e. a channel sum of at least this.
const MASK_MIN_CHANNEL_SUM: u32 = 8;
/// The ring needs `gray > 0` at radius 60, i.e. a channel sum of at least this.
const RING_MIN_CHANNEL_SUM: u32 = 2;

/// Parameters of the shape score, fixed when a query is prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeParams {
    /// Threshold of the target signal and of the z-gap mask (`--maskThreshold`).
    pub mask_threshold: u8,
    /// Also score the horizontally mirrored query and keep the better direction.
    pub mirror: bool,
    /// Label regions blanked in the query, the ROI and the target.
    pub labels: LabelRegions,
}

impl Default for ShapeParams {
    /// The production settings of the reference: threshold 20, mirrored,
    /// shape-stage label regions.
    fn default() -> Self {
        Self {
            mask_threshold: 20,
            mirror: true,
            labels: LabelRegions::shape_stage(),
        }
    }
}

/// The shape score of one (query, target) pair; lower is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeScore {
    /// Sum of the per-pixel gaps above the floor, -1 when not scored.
    pub gradient_area_gap: i64,
    /// Target signal pixels inside the query's high-expression ring, -1 when not scored.
    pub high_expression_area: i64,
    /// `gradient_area_gap + high_expression_area / 3`, -1 when not scored.
    pub shape_score: i64,
    /// Whether the mirrored query gave this (strictly better) result.
    pub mirrored: bool,
}

impl ShapeScore {
    /// The result when the gradient or z-gap image is missing.
    pub const NOT_SCORED: ShapeScore = ShapeScore {
        gradient_area_gap: -1,
        high_expression_area: -1,
        shape_score: -1,
        mirrored: false,
    };

    /// The score of one direction from its two areas.
    pub fn from_areas(gradient_area_gap: i64, high_expression_area: i64, mirrored: bool) -> Self {
        Self {
            gradient_area_gap,
            high_expression_area,
            shape_score: combined_shape_score(gradient_area_gap, high_expression_area),
            mirrored,
        }
    }

    /// Whether this is a real score (not [`ShapeScore::NOT_SCORED`]).
    pub fn is_scored(&self) -> bool {
        self.shape_score >= 0
    }
}

/// `calculate2DShapeScore`: `gap + high / 3`, or -1 if either is negative
/// (absent).
pub fn combined_shape_score(gradient_area_gap: i64, high_expression_area: i64) -> i64 {
    if gradient_area_gap < 0 || high_expression_area < 0 {
        -1
    } else {
        gradient_area_gap + high_expression_area / 3
    }
}

/// Why a shape score could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// An image does not have the query's size (no resampling is done).
    #[error("{image} image is {found_width}x{found_height}, expected the query's size {expected_width}x{expected_height}")]
    SizeMismatch {
        /// Which input: "target", "gradient", "z-gap" or "ROI".
        image: &'static str,
        /// The query's width.
        expected_width: usize,
        /// The query's height.
        expected_height: usize,
        /// The offending image's width.
        found_width: usize,
        /// The offending image's height.
        found_height: usize,
    },
}

/// Fails unless an image of `found` size matches the query's `expected` size.
pub(crate) fn check_size(
    image: &'static str,
    expected: (usize, usize),
    found: (usize, usize),
) -> Result<(), ShapeError> {
    if expected == found {
        Ok(())
    } else {
        Err(ShapeError::SizeMismatch {
            image,
            expected_width: expected.0,
            expected_height: expected.1,
            found_width: found.0,
            found_height: found.1,
        })
    }
}

/// The per-pixel query images of section 4 of the spec, before mirroring
/// and ROI: `Q` (labels cleared), the query mask `M` and the
/// high-expression ring `H`.
#[derive(Clone, Debug)]
pub struct QueryMasks {
    /// The query with label regions blanked.
    pub query: RgbImage,
    /// `M`: `gray(Q) > 2`.
    pub mask: Vec<bool>,
    /// `H`: no non-black `Q` within radius 20, and `gray > 0` of the
    /// channel-wise max within radius 60.
    pub high_expression: Vec<bool>,
}

impl QueryMasks {
    /// Computes `Q`, `M` and `H` with the given circular max filter
    /// (`filter(image, radius)`), materializing both filtered images.
    pub fn with_filter(
        query: &RgbImage,
        labels: &LabelRegions,
        filter: impl Fn(&RgbImage, u32) -> RgbImage,
    ) -> Self {
        let query = labels.cleared(query);
        let near = filter(&query, RING_INNER_RADIUS);
        let far = filter(&query, RING_OUTER_RADIUS);
        let high_expression = near
            .pixels
            .iter()
            .zip(&far.pixels)
            .map(|(&n, &f)| n & 0x00ff_ffff == 0 && channel_sum(f) >= RING_MIN_CHANNEL_SUM)
            .collect();
        Self::from_parts(query, high_expression)
    }

    /// Computes `Q`, `M` and `H` with the fast max filter, consuming its
    /// output row by row (no filtered image is built).
    pub fn new(query: &RgbImage, labels: &LabelRegions) -> Self {
        let query = labels.cleared(query);
        let width = query.width;
        let mut high_expression = vec![false; query.pixels.len()];
        let mut mark = |radius, value: bool, test: fn(&[u8]) -> bool| {
            max_filter_rows(&query, radius, |y, start, pixels| {
                let row = &mut high_expression[y * width + start..];
                for (h, p) in row.iter_mut().zip(pixels.chunks_exact(BPP)) {
                    if test(p) {
                        *h = value;
                    }
                }
            });
        };
        mark(RING_OUTER_RADIUS, true, |p| {
            u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2]) >= RING_MIN_CHANNEL_SUM
        });
        mark(RING_INNER_RADIUS, false, |p| p[..3] != [0, 0, 0]);
        Self::from_parts(query, high_expression)
    }

    /// Adds `M` to the label-cleared query and its ring.
    fn from_parts(query: RgbImage, high_expression: Vec<bool>) -> Self {
        let mask = query
            .pixels
            .iter()
            .map(|&p| channel_sum(p) >= MASK_MIN_CHANNEL_SUM)
            .collect();
        Self {
            query,
            mask,
            high_expression,
        }
    }
}

/// A query pixel that can contribute to the gradient area gap (its `Q` is
/// non-black), with everything that does not depend on the target.
#[derive(Clone, Copy, Debug)]
struct GapPixel {
    /// Index into the z-gap image (the query's own position: `Z` is mirrored
    /// with the query).
    zgap_pos: u32,
    /// Index into the gradient image (the position in the scored direction).
    gradient_pos: u32,
    /// Slice number of the query colour.
    slice: u16,
    /// `M = 1` at this pixel.
    in_mask: bool,
}

/// The sparse pixel lists of one direction.
#[derive(Clone, Debug)]
struct Direction {
    mirrored: bool,
    gap_pixels: Vec<GapPixel>,
    /// Target indices where `H = 1`, outside the target's label regions.
    ring_pixels: Vec<u32>,
}

/// A query (mask) prepared once for scoring any number of targets: the
/// labels are cleared, `M` and `H` computed, and for each direction the
/// pixels that can contribute are listed (spec section 9).
#[derive(Clone, Debug)]
pub struct PreparedShapeQuery {
    width: usize,
    height: usize,
    params: ShapeParams,
    mask_area: i64,
    high_expression_mask_area: i64,
    directions: Vec<Direction>,
}

impl PreparedShapeQuery {
    /// Prepares `query` (and the optional ROI mask, which must have the
    /// query's size) for scoring with `params`.
    pub fn new(
        query: &RgbImage,
        roi: Option<&RgbImage>,
        params: ShapeParams,
    ) -> Result<Self, ShapeError> {
        let size = (query.width, query.height);
        let roi = roi
            .map(|r| {
                check_size("ROI", size, (r.width, r.height))?;
                Ok(params.labels.cleared(r))
            })
            .transpose()?;
        let masks = QueryMasks::new(query, &params.labels);
        let sources = Sources::new(&masks);
        let mut directions = vec![Direction::new(&sources, roi.as_ref(), &params, false)];
        if params.mirror {
            directions.push(Direction::new(&sources, roi.as_ref(), &params, true));
        }
        Ok(Self {
            width: query.width,
            height: query.height,
            params,
            mask_area: sources.gap.iter().filter(|p| p.in_mask).count() as i64,
            high_expression_mask_area: sources.ring.len() as i64,
            directions,
        })
    }

    /// The parameters the query was prepared with.
    pub fn params(&self) -> &ShapeParams {
        &self.params
    }

    /// `(width, height)` of the query; every target image must match it.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// `Σ M`: query pixels with `gray > 2` (labels cleared, no ROI).
    pub fn mask_area(&self) -> i64 {
        self.mask_area
    }

    /// `Σ H`: pixels of the high-expression ring (labels cleared, no ROI).
    pub fn high_expression_mask_area(&self) -> i64 {
        self.high_expression_mask_area
    }

    /// Scores one target: `target` is the target CDM, `gradient` its
    /// gradient image and `zgap` its z-gap image (either missing gives
    /// [`ShapeScore::NOT_SCORED`]). All images must have the query's size.
    /// The mirrored direction is kept only if strictly better.
    pub fn score(
        &self,
        target: &RgbImage,
        gradient: Option<&Gray16Image>,
        zgap: Option<&RgbImage>,
    ) -> Result<ShapeScore, ShapeError> {
        Ok(self.score_directions(target, gradient, zgap)?.best())
    }

    /// Like [`score`](Self::score), but returns both directions.
    pub fn score_directions(
        &self,
        target: &RgbImage,
        gradient: Option<&Gray16Image>,
        zgap: Option<&RgbImage>,
    ) -> Result<DirectionScores, ShapeError> {
        let Some((gradient, zgap)) = checked_inputs(self.size(), target, gradient, zgap)? else {
            return Ok(DirectionScores::NOT_SCORED);
        };
        let thr = self.params.mask_threshold;
        let mut scores = self
            .directions
            .iter()
            .map(|d| d.score(target, gradient, zgap, thr));
        Ok(DirectionScores {
            direct: scores.next().unwrap_or(ShapeScore::NOT_SCORED),
            mirrored: scores.next(),
        })
    }
}

/// The scores of both directions of one (query, target) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectionScores {
    /// The direct (unmirrored) query.
    pub direct: ShapeScore,
    /// The mirrored query, `None` when mirroring is off or not scored.
    pub mirrored: Option<ShapeScore>,
}

impl DirectionScores {
    /// Both directions not scored (missing gradient or z-gap image).
    pub const NOT_SCORED: DirectionScores = DirectionScores {
        direct: ShapeScore::NOT_SCORED,
        mirrored: None,
    };

    /// The direct score, or the mirrored one if it is strictly smaller.
    pub fn best(&self) -> ShapeScore {
        match self.mirrored {
            Some(m) if m.shape_score < self.direct.shape_score => m,
            _ => self.direct,
        }
    }
}

/// Checks the sizes of the per-target inputs against the query's `size`;
/// `None` when the gradient or the z-gap image is missing.
pub(crate) fn checked_inputs<'a>(
    size: (usize, usize),
    target: &RgbImage,
    gradient: Option<&'a Gray16Image>,
    zgap: Option<&'a RgbImage>,
) -> Result<Option<(&'a Gray16Image, &'a RgbImage)>, ShapeError> {
    check_size("target", size, (target.width, target.height))?;
    let (Some(gradient), Some(zgap)) = (gradient, zgap) else {
        return Ok(None);
    };
    check_size("gradient", size, (gradient.width, gradient.height))?;
    check_size("z-gap", size, (zgap.width, zgap.height))?;
    Ok(Some((gradient, zgap)))
}

/// Shorthand for [`PreparedShapeQuery::score`].
pub fn shape_score(
    query: &PreparedShapeQuery,
    target: &RgbImage,
    gradient: Option<&Gray16Image>,
    zgap: Option<&RgbImage>,
) -> Result<ShapeScore, ShapeError> {
    query.score(target, gradient, zgap)
}

/// The query pixels that can contribute, in query coordinates, shared by
/// both directions.
struct Sources {
    width: usize,
    /// Non-black `Q` pixels (`zgap_pos` and `gradient_pos` both hold the
    /// query position).
    gap: Vec<GapPixel>,
    /// Positions where `H = 1`.
    ring: Vec<u32>,
}

impl Sources {
    fn new(masks: &QueryMasks) -> Self {
        let gap = masks
            .query
            .pixels
            .iter()
            .zip(&masks.mask)
            .enumerate()
            .filter(|(_, (&q, _))| q & 0x00ff_ffff != 0)
            .map(|(pos, (&q, &in_mask))| GapPixel {
                zgap_pos: pos as u32,
                gradient_pos: pos as u32,
                slice: slice_number(q),
                in_mask,
            })
            .collect();
        let ring = masks
            .high_expression
            .iter()
            .enumerate()
            .filter(|(_, &h)| h)
            .map(|(pos, _)| pos as u32)
            .collect();
        Self {
            width: masks.query.width,
            gap,
            ring,
        }
    }

    /// The (x, y) of the target pixel that a query position meets.
    fn target_xy(&self, query_pos: u32, mirrored: bool) -> (usize, usize) {
        let (x, y) = (
            query_pos as usize % self.width,
            query_pos as usize / self.width,
        );
        (if mirrored { self.width - 1 - x } else { x }, y)
    }
}

impl Direction {
    /// Lists the contributing pixels of the direct or mirrored direction:
    /// the query-side lists moved to their target positions, without the
    /// pixels outside the ROI and, for the ring, inside the target's labels.
    fn new(
        sources: &Sources,
        roi: Option<&RgbImage>,
        params: &ShapeParams,
        mirrored: bool,
    ) -> Self {
        let width = sources.width;
        let target_pos = |query_pos: u32| {
            let (x, y) = sources.target_xy(query_pos, mirrored);
            let pos = y * width + x;
            let inside = roi.is_none_or(|r| r.pixels[pos] & 0x00ff_ffff != 0);
            inside.then_some((pos as u32, x, y))
        };
        let gap_pixels = sources
            .gap
            .iter()
            .filter_map(|&p| {
                let (pos, _, _) = target_pos(p.zgap_pos)?;
                Some(GapPixel {
                    gradient_pos: pos,
                    ..p
                })
            })
            .collect();
        let ring_pixels = sources
            .ring
            .iter()
            .filter_map(|&q| target_pos(q))
            .filter(|&(_, x, y)| !params.labels.contains(x, y, width))
            .map(|(pos, _, _)| pos)
            .collect();
        Self {
            mirrored,
            gap_pixels,
            ring_pixels,
        }
    }

    /// The score of this direction against one target.
    fn score(
        &self,
        target: &RgbImage,
        gradient: &Gray16Image,
        zgap: &RgbImage,
        thr: u8,
    ) -> ShapeScore {
        let gap: i64 = self
            .gap_pixels
            .iter()
            .map(|p| {
                let g = || {
                    if p.in_mask {
                        i64::from(gradient.pixels[p.gradient_pos as usize])
                    } else {
                        0
                    }
                };
                let z = zgap.pixels[p.zgap_pos as usize];
                let gap = if above(z, thr) {
                    pixel_gap(p.slice, slice_number(z), g)
                } else {
                    g()
                };
                if gap > GAP_FLOOR {
                    gap
                } else {
                    0
                }
            })
            .sum();
        let area = self
            .ring_pixels
            .iter()
            .filter(|&&t| above(target.pixels[t as usize], thr))
            .count() as i64;
        ShapeScore::from_areas(gap, area, self.mirrored)
    }
}

/// The gap of a pixel whose query and z-gap colours are both non-black:
/// the offset slice gap if it reaches the cutoff, else the gradient term.
#[inline]
pub(crate) fn pixel_gap(
    query_slice: u16,
    zgap_slice: u16,
    gradient_term: impl FnOnce() -> i64,
) -> i64 {
    let k = query_slice.abs_diff(zgap_slice);
    if k >= SLICE_GAP_CUTOFF {
        i64::from(k - SLICE_GAP_OFFSET)
    } else {
        gradient_term()
    }
}

/// Mirrors a row-major mask when `mirrored` is set, else copies it.
pub(crate) fn oriented<T: Copy>(pixels: &[T], width: usize, mirrored: bool) -> Vec<T> {
    if mirrored {
        mirror_pixels(pixels, width)
    } else {
        pixels.to_vec()
    }
}
