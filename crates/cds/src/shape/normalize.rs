//! The per-mask normalized score that combines the pixel-match count with the
//! shape score for the final ranking (higher is better).

/// One hit of a mask: its pixel-match count and its shape score (negative
/// when not shape-scored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoredHit {
    /// `matchingPixels` of the pixel-match stage.
    pub matching_pixels: i64,
    /// The shape score, or -1 when not scored.
    pub shape_score: i64,
}

/// The reference normalized score in f64
/// (`GradientAreaGapUtils.calculateNormalizedScore`): the raw pixel count when
/// there is nothing to normalize with, else
/// `(pm / maxPix) / clamp(2.5 * ss / maxShape, 0.002, 1) * 100`.
pub fn normalized_score_f64(
    matching_pixels: i64,
    shape_score: i64,
    max_matching_pixels: i64,
    max_shape_score: i64,
) -> f64 {
    if matching_pixels == 0 || max_matching_pixels == 0 || shape_score < 0 || max_shape_score <= 0 {
        return matching_pixels as f64;
    }
    let norm_pixels = matching_pixels as f64 / max_matching_pixels as f64;
    let norm_shape = shape_score as f64 / max_shape_score as f64;
    let bounded = (norm_shape * 2.5).clamp(0.002, 1.0);
    norm_pixels / bounded * 100.0
}

/// The normalized score as stored with a match (an f32, as the reference's
/// `(float)` cast).
pub fn normalized_score(
    matching_pixels: i64,
    shape_score: i64,
    max_matching_pixels: i64,
    max_shape_score: i64,
) -> f32 {
    normalized_score_f64(
        matching_pixels,
        shape_score,
        max_matching_pixels,
        max_shape_score,
    ) as f32
}

/// Normalizes all hits of one mask together: the maxima are taken over
/// `hits` (the shape-score maximum starts at -1, so unscored hits count as
/// -1), then every hit gets its [`normalized_score`], in input order.
pub fn normalize_hits(hits: &[ScoredHit]) -> Vec<f32> {
    let max_pixels = hits.iter().map(|h| h.matching_pixels).max().unwrap_or(0);
    let max_shape = hits
        .iter()
        .map(|h| h.shape_score.max(-1))
        .fold(-1, i64::max);
    hits.iter()
        .map(|h| normalized_score(h.matching_pixels, h.shape_score, max_pixels, max_shape))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_are_normalized_against_the_set_maxima() {
        let hits = [
            ScoredHit {
                matching_pixels: 800,
                shape_score: 46447,
            },
            ScoredHit {
                matching_pixels: 500,
                shape_score: 21608,
            },
            ScoredHit {
                matching_pixels: 300,
                shape_score: -1,
            },
        ];
        assert_eq!(normalize_hits(&hits), vec![100.0, 62.5, 300.0]);
    }

    #[test]
    fn unscored_sets_fall_back_to_pixel_counts() {
        let hits = [
            ScoredHit {
                matching_pixels: 7,
                shape_score: -1,
            },
            ScoredHit {
                matching_pixels: 9,
                shape_score: -1,
            },
        ];
        assert_eq!(normalize_hits(&hits), vec![7.0, 9.0]);
        assert!(normalize_hits(&[]).is_empty());
    }
}
