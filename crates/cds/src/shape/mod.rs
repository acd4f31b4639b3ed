//! The second stage of color depth search: the 2D shape score ("gradient
//! area gap") of Janelia's colormipsearch, reproduced to the integer, and the
//! per-mask normalized score that ranks hits with it.
//!
//! Usage: prepare each mask once with [`PreparedShapeQuery::new`] (label
//! clearing, query mask, high-expression ring from radius-20 and radius-60
//! max filters, and sparse lists of the pixels that can contribute), then call
//! [`PreparedShapeQuery::score`] per target with the target CDM, its gradient
//! image and its z-gap image. [`normalize_hits`] combines the scores of a
//! mask's hits with their pixel-match counts. The behaviour is specified in
//! `docs/cds-shape-score.md` of the shared docs; [`reference`] holds slow,
//! literal implementations used to check and benchmark the fast ones.

mod derive;
mod labels;
mod maxfilter;
mod normalize;
mod ops;
pub mod reference;
mod score;
mod slice;

pub use derive::{gradient_from_target, zgap_from_target, ZGAP_FILE_RADIUS, ZGAP_TEST_RADIUS};
pub use labels::{Corner, LabelRegions};
pub use maxfilter::{kernel_half_widths, max_filter};
pub use normalize::{normalize_hits, normalized_score, normalized_score_f64, ScoredHit};
pub use ops::{above, channel_sum, gray, mirror, mirror_gray16, threshold};
pub use score::{
    combined_shape_score, shape_score, DirectionScores, PreparedShapeQuery, QueryMasks, ShapeError,
    ShapeParams, ShapeScore, GAP_FLOOR, RING_INNER_RADIUS, RING_OUTER_RADIUS, SLICE_GAP_CUTOFF,
    SLICE_GAP_OFFSET,
};
pub use slice::{slice_gap, slice_number, COLOR_DEPTH_LUT};
