//! The second stage of a search: the shape score of the best pixel-match hits
//! of each mask, their per-mask normalized score, and the re-ranking by it.
//!
//! For each mask, the first `top` hits in pixel-match order (the reference's
//! "best matches") are scored with [`cds::shape`] against their target, its
//! gradient image and its z-gap image (both directions of the mask, the
//! reference's production settings). The normalized score is computed over
//! that set, as the reference does. Hits are then ranked: shape-scored hits
//! first, by normalized score (higher is better); then the hits without a
//! shape score (no derived images, an unreadable image, or beyond `top`), in
//! their pixel-match order, since their fallback normalized score (their
//! `matchingPixels`) is on another scale.
//!
//! The same functions serve the CLI's direct search ([`run_stage`] over a
//! [`ShapeImageSource`]) and the job combiner, which fetches the images
//! through its library resolver and then calls [`score_fetched`] and
//! [`rerank`].

use crate::library::{find_derived, DerivedKind, LibraryEntry};
use crate::progress::Progress;
use crate::results::{Hit, MaskResults, SearchReport, ShapeResult, Unreadable};
use cds::shape::{
    normalize_hits, PreparedShapeQuery, ScoredHit, ShapeError, ShapeParams, ShapeScore,
};
use cds::{DecodeError, RgbImage};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Hits per mask that get a shape score when the search does not say.
pub const DEFAULT_SHAPE_TOP: usize = 300;

/// The encoded images the shape score reads for one target. A missing
/// derived image leaves the target not shape-scored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShapeBytes {
    /// The target CDM (PNG or TIFF).
    pub target: Vec<u8>,
    /// Its gradient image (16-bit grayscale PNG or TIFF), if the library has it.
    pub gradient: Option<Vec<u8>>,
    /// Its z-gap image (RGB PNG or TIFF), if the library has it.
    pub zgap: Option<Vec<u8>>,
}

/// Why one hit could not be shape-scored (it stays in the results, not
/// shape-scored).
#[derive(Debug, thiserror::Error)]
pub enum ShapeStageError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An image is not decodable.
    #[error("cannot decode its {image} image: {source}")]
    Decode {
        /// Which image: "target", "gradient" or "z-gap".
        image: &'static str,
        /// The underlying error.
        source: DecodeError,
    },
    /// The images do not fit the mask (sizes).
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// The target is not in the library the stage reads.
    #[error("target {0} is not in the library")]
    UnknownTarget(String),
    /// Any other failure of an image source (e.g. an object store).
    #[error("{0}")]
    Source(String),
}

/// Reads the images of a library's targets by name, on this machine.
pub trait ShapeImageSource: Send + Sync {
    /// The target's image and its derived images (missing ones as `None`).
    fn shape_bytes(&self, image_name: &str) -> Result<ShapeBytes, ShapeStageError>;
}

/// The derived images of a library of files, found next to the targets (see
/// [`crate::library`] for the naming convention).
#[derive(Clone, Debug)]
pub struct FileShapeImages {
    paths: HashMap<String, PathBuf>,
}

impl FileShapeImages {
    /// The images of these library entries, by entry name.
    pub fn new(entries: &[LibraryEntry]) -> Self {
        Self {
            paths: entries
                .iter()
                .map(|e| (e.name.clone(), e.path.clone()))
                .collect(),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ShapeStageError> {
    std::fs::read(path).map_err(|source| ShapeStageError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl ShapeImageSource for FileShapeImages {
    fn shape_bytes(&self, image_name: &str) -> Result<ShapeBytes, ShapeStageError> {
        let path = self
            .paths
            .get(image_name)
            .ok_or_else(|| ShapeStageError::UnknownTarget(image_name.to_owned()))?;
        let derived = |kind| find_derived(path, kind).map(|p| read(&p)).transpose();
        Ok(ShapeBytes {
            target: read(path)?,
            gradient: derived(DerivedKind::Gradient)?,
            zgap: derived(DerivedKind::Zgap)?,
        })
    }
}

/// Prepares a mask for the shape stage with the reference's production
/// settings (threshold 20, both directions, shape-stage label regions).
pub fn prepare_query(mask: &RgbImage) -> Result<PreparedShapeQuery, ShapeError> {
    PreparedShapeQuery::new(mask, None, ShapeParams::default())
}

/// Decodes a target's images and scores it; [`ShapeScore::NOT_SCORED`] when
/// a derived image is missing.
pub fn score_bytes(
    query: &PreparedShapeQuery,
    bytes: &ShapeBytes,
) -> Result<ShapeScore, ShapeStageError> {
    let (Some(gradient), Some(zgap)) = (&bytes.gradient, &bytes.zgap) else {
        return Ok(ShapeScore::NOT_SCORED);
    };
    let decode_error = |image| move |source| ShapeStageError::Decode { image, source };
    let target = cds::decode_rgb(&bytes.target).map_err(decode_error("target"))?;
    let gradient = cds::decode_gray16(gradient).map_err(decode_error("gradient"))?;
    let zgap = cds::decode_rgb(zgap).map_err(decode_error("z-gap"))?;
    Ok(query.score(&target, Some(&gradient), Some(&zgap))?)
}

/// Scores fetched images in parallel (rayon): one outcome per input, the
/// error as text (fetch failures come in as text).
pub fn score_fetched(
    query: &PreparedShapeQuery,
    fetched: Vec<Result<ShapeBytes, String>>,
) -> Vec<Result<ShapeScore, String>> {
    fetched
        .into_par_iter()
        .map(|f| f.and_then(|bytes| score_bytes(query, &bytes).map_err(|e| e.to_string())))
        .collect()
}

/// Re-ranks one mask's hits, given in pixel-match order, with the shape
/// outcomes of the first `outcomes.len()` of them; keeps the best `keep`.
/// Failed outcomes leave their hit not shape-scored and are returned as
/// [`Unreadable`] entries.
pub fn rerank(
    mut hits: Vec<Hit>,
    outcomes: Vec<Result<ShapeScore, String>>,
    keep: usize,
) -> (Vec<Hit>, Vec<Unreadable>) {
    let mut unreadable = Vec::new();
    let scores: Vec<ShapeScore> = hits
        .iter()
        .zip(outcomes)
        .map(|(hit, outcome)| {
            outcome.unwrap_or_else(|reason| {
                unreadable.push(Unreadable {
                    image_name: hit.image_name.clone(),
                    reason: format!("not shape-scored: {reason}"),
                });
                ShapeScore::NOT_SCORED
            })
        })
        .collect();
    let normalized = normalize_hits(
        &hits
            .iter()
            .zip(&scores)
            .map(|(hit, score)| ScoredHit {
                matching_pixels: hit.matching_pixels,
                shape_score: score.shape_score,
            })
            .collect::<Vec<_>>(),
    );
    for (i, hit) in hits.iter_mut().enumerate() {
        let score = scores.get(i).copied().unwrap_or(ShapeScore::NOT_SCORED);
        hit.shape = Some(ShapeResult {
            shape_scored: score.is_scored(),
            gradient_area_gap: score.gradient_area_gap,
            high_expression_area: score.high_expression_area,
            shape_score: score.shape_score,
            shape_mirrored: score.mirrored,
            normalized_score: normalized
                .get(i)
                .copied()
                .unwrap_or(hit.matching_pixels as f32),
        });
    }
    // Stable: unscored hits keep their pixel-match order.
    hits.sort_by(|a, b| {
        let (a, b) = (a.shape.as_ref(), b.shape.as_ref());
        let scored = |s: Option<&ShapeResult>| s.is_some_and(|s| s.shape_scored);
        scored(b).cmp(&scored(a)).then_with(|| {
            if scored(a) && scored(b) {
                let norm = |s: Option<&ShapeResult>| s.map_or(0.0, |s| s.normalized_score);
                norm(b).total_cmp(&norm(a))
            } else {
                std::cmp::Ordering::Equal
            }
        })
    });
    hits.truncate(keep);
    (hits, unreadable)
}

/// What the stage does per mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeStageOptions {
    /// Hits per mask (best by pixel match) that get a shape score.
    pub top: usize,
    /// Hits kept per mask after re-ranking.
    pub keep: usize,
}

/// Runs the stage on a report whose hits are in pixel-match order, reading
/// images from `images`, one prepared query per mask (in report order).
/// Targets of each mask are loaded and scored in parallel; hits that could
/// not be scored are added to the report's unreadable list.
pub fn run_stage(
    report: &mut SearchReport,
    queries: &[PreparedShapeQuery],
    images: &dyn ShapeImageSource,
    options: &ShapeStageOptions,
    progress: &dyn Progress,
) {
    let total = report
        .masks
        .iter()
        .map(|m| m.results.len().min(options.top) as u64)
        .sum();
    progress.start(total);
    for (mask, query) in report.masks.iter_mut().zip(queries) {
        let scored = mask.results.len().min(options.top);
        let outcomes = mask.results[..scored]
            .par_iter()
            .map(|hit| {
                let outcome = images
                    .shape_bytes(&hit.image_name)
                    .and_then(|bytes| score_bytes(query, &bytes))
                    .map_err(|e| e.to_string());
                progress.advance(1);
                outcome
            })
            .collect();
        rerank_mask(mask, outcomes, options.keep, &mut report.unreadable);
    }
    progress.finish();
}

/// [`rerank`] applied to one mask's results in place.
pub fn rerank_mask(
    mask: &mut MaskResults,
    outcomes: Vec<Result<ShapeScore, String>>,
    keep: usize,
    unreadable: &mut Vec<Unreadable>,
) {
    let (hits, failed) = rerank(std::mem::take(&mut mask.results), outcomes, keep);
    mask.results = hits;
    unreadable.extend(failed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(name: &str, pixels: i64) -> Hit {
        Hit {
            image_name: name.into(),
            matching_pixels: pixels,
            matching_ratio: 0.0,
            mirrored: false,
            library_name: None,
            shape: None,
        }
    }

    fn scored(gap: i64, area: i64) -> Result<ShapeScore, String> {
        Ok(ShapeScore::from_areas(gap, area, false))
    }

    fn names(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.image_name.as_str()).collect()
    }

    #[test]
    fn reranks_the_scored_set_by_normalized_score() {
        let hits = vec![hit("a", 800), hit("b", 500), hit("c", 300), hit("d", 200)];
        // a: 46447 (max), b: 21608, c: no derived images, d: beyond top.
        let outcomes = vec![
            scored(40696, 17253),
            scored(21365, 731),
            Ok(ShapeScore::NOT_SCORED),
        ];
        let (ranked, unreadable) = rerank(hits, outcomes, 10);
        assert!(unreadable.is_empty());
        assert_eq!(names(&ranked), ["a", "b", "c", "d"]);
        let norm: Vec<f32> = ranked
            .iter()
            .map(|h| h.shape.unwrap().normalized_score)
            .collect();
        assert_eq!(norm, [100.0, 62.5, 300.0, 200.0]);
        let b = ranked[1].shape.unwrap();
        assert_eq!(
            (b.gradient_area_gap, b.high_expression_area, b.shape_score),
            (21365, 731, 21608)
        );
        assert!(b.shape_scored && !ranked[2].shape.unwrap().shape_scored);
        assert_eq!(ranked[3].shape.unwrap().shape_score, -1);
    }

    #[test]
    fn a_much_better_shape_overtakes_more_pixels() {
        let hits = vec![hit("many", 1000), hit("fit", 900)];
        let (ranked, _) = rerank(hits, vec![scored(100_000, 0), scored(1_000, 0)], 10);
        assert_eq!(names(&ranked), ["fit", "many"]);
        // fit: 0.9 / clamp(2.5 * 0.01) * 100 = 3600; many: 1 / 1 * 100.
        assert!((ranked[0].shape.unwrap().normalized_score - 3600.0).abs() < 1e-2);
        assert_eq!(ranked[1].shape.unwrap().normalized_score, 100.0);
    }

    #[test]
    fn failures_are_reported_and_left_unscored() {
        let hits = vec![hit("bad", 10), hit("good", 5)];
        let (ranked, unreadable) =
            rerank(hits, vec![Err("cannot decode".into()), scored(50, 3)], 1);
        assert_eq!(names(&ranked), ["good"]);
        assert_eq!(unreadable.len(), 1);
        assert_eq!(unreadable[0].image_name, "bad");
        assert!(unreadable[0].reason.contains("cannot decode"));
    }

    #[test]
    fn missing_derived_images_are_not_scored() {
        let mut mask = RgbImage::black(8, 8);
        mask.pixels[9] = 0x00ff_0000;
        let query = PreparedShapeQuery::new(
            &mask,
            None,
            ShapeParams {
                labels: cds::shape::LabelRegions::none(),
                ..ShapeParams::default()
            },
        )
        .unwrap();
        let bytes = ShapeBytes {
            target: b"not an image".to_vec(),
            gradient: None,
            zgap: Some(Vec::new()),
        };
        assert_eq!(score_bytes(&query, &bytes).unwrap(), ShapeScore::NOT_SCORED);
    }
}
