//! Search results, with NeuronBridge's field names where it has them
//! (`maskId`, `results`, `imageName`, `matchingPixels`, `matchingRatio`,
//! `mirrored`, and for the shape stage `gradientAreaGap`,
//! `highExpressionArea`, `shapeScore`, `normalizedScore`), and the pure
//! ranking used by local searches and combiners.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// One target matching a mask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    /// The target's name in its library (relative path).
    pub image_name: String,
    /// Matching mask pixels of the best shift (and side).
    pub matching_pixels: i64,
    /// `matchingPixels` / mask pixel count.
    pub matching_ratio: f64,
    /// Whether the best score came from the mirrored mask.
    pub mirrored: bool,
    /// The library of the target: set by job workers when the job runs the
    /// shape stage, which finds derived images through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library_name: Option<String>,
    /// The second stage's results, present when the search ran it.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<ShapeResult>,
}

/// A hit's shape-stage results. A hit the stage did not score (no derived
/// images, or beyond the stage's top K) has -1 for the three areas and
/// scores, as the reference stores it, `shapeScored: false`, and its
/// `matchingPixels` as `normalizedScore`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ShapeResult {
    /// Whether the shape score was computed for this hit.
    pub shape_scored: bool,
    /// Sum of per-pixel gaps between mask and target (-1: not scored).
    pub gradient_area_gap: i64,
    /// Target signal in the mask's high-expression ring (-1: not scored).
    pub high_expression_area: i64,
    /// `gradientAreaGap + highExpressionArea / 3`, lower is better (-1: not scored).
    pub shape_score: i64,
    /// Whether the shape score came from the mirrored mask.
    pub shape_mirrored: bool,
    /// The per-mask normalized score the hits are ranked by, higher is better.
    pub normalized_score: f32,
}

impl ShapeResult {
    /// The CSV columns of the shape stage, in the order of [`Self::csv_cells`].
    pub const CSV_COLUMNS: [&'static str; 5] = [
        "shapeScored",
        "gradientAreaGap",
        "highExpressionArea",
        "shapeScore",
        "normalizedScore",
    ];

    /// The CSV cells of a hit's shape results (empty cells when it has none).
    pub fn csv_cells(shape: Option<&Self>) -> Vec<String> {
        match shape {
            Some(s) => vec![
                s.shape_scored.to_string(),
                s.gradient_area_gap.to_string(),
                s.high_expression_area.to_string(),
                s.shape_score.to_string(),
                s.normalized_score.to_string(),
            ],
            None => vec![String::new(); Self::CSV_COLUMNS.len()],
        }
    }
}

/// One hit as a row of the hits CSV that the CLI and the API write: the
/// mask, the rank, the pixel-match values, any extra columns (the API's
/// `library`), then the shape stage's when the search ran it.
#[derive(Clone, Copy, Debug)]
pub struct CsvHit<'a> {
    /// The mask's name.
    pub mask: &'a str,
    /// 1-based rank within the mask.
    pub rank: usize,
    /// The target's name.
    pub image_name: &'a str,
    /// Matching mask pixels.
    pub matching_pixels: i64,
    /// Matching ratio.
    pub matching_ratio: f64,
    /// Whether the mirrored mask scored best.
    pub mirrored: bool,
    /// The shape stage's values, if any.
    pub shape: Option<&'a ShapeResult>,
}

impl CsvHit<'_> {
    /// The header of a hits CSV with `extra` columns, and the shape stage's
    /// columns when `shaped`.
    pub fn header<'c>(extra: &[&'c str], shaped: bool) -> Vec<&'c str> {
        let mut header = vec![
            "mask",
            "rank",
            "target",
            "matchingPixels",
            "matchingRatio",
            "mirrored",
        ];
        header.extend_from_slice(extra);
        if shaped {
            header.extend(ShapeResult::CSV_COLUMNS);
        }
        header
    }

    /// The row's cells under [`CsvHit::header`] with the same `extra`
    /// columns (given here as cells) and `shaped`.
    pub fn cells(&self, extra: &[&str], shaped: bool) -> Vec<String> {
        let mut cells = vec![
            self.mask.to_owned(),
            self.rank.to_string(),
            self.image_name.to_owned(),
            self.matching_pixels.to_string(),
            self.matching_ratio.to_string(),
            self.mirrored.to_string(),
        ];
        cells.extend(extra.iter().map(|c| c.to_string()));
        if shaped {
            cells.extend(ShapeResult::csv_cells(self.shape));
        }
        cells
    }
}

/// The ranked hits of one mask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaskResults {
    /// The mask's name (its path as given).
    pub mask_id: String,
    /// Number of mask pixels (positions above the mask threshold, label areas
    /// excluded): the denominator of `matchingRatio`.
    pub mask_pixels: usize,
    /// Hits sorted by [`rank_order`], best first.
    pub results: Vec<Hit>,
}

/// A target that could not be searched, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unreadable {
    /// The target's name in its library.
    pub image_name: String,
    /// What went wrong (decode error, size mismatch, ...).
    pub reason: String,
}

/// The outcome of a search: ranked hits per mask, and the targets that could
/// not be searched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchReport {
    /// Per mask, in the order the masks were given.
    pub masks: Vec<MaskResults>,
    /// Number of targets in the library.
    pub targets: usize,
    /// Number of targets scored against at least one mask.
    pub searched: usize,
    /// Targets (or target/mask pairs) that could not be scored.
    pub unreadable: Vec<Unreadable>,
    /// What reading the targets took: the cost drivers of a search over an
    /// object store (requests, bytes).
    #[serde(default, skip_serializing_if = "ReadStats::is_empty")]
    pub reads: ReadStats,
}

/// Reads made to get a search's targets: object-store requests (whole or
/// ranged GETs, key lists and tables of contents included) or file reads,
/// and the bytes they returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadStats {
    /// Requests (or file reads).
    pub requests: u64,
    /// Bytes read.
    pub bytes: u64,
}

impl ReadStats {
    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl std::ops::AddAssign for ReadStats {
    fn add_assign(&mut self, other: Self) {
        self.requests += other.requests;
        self.bytes += other.bytes;
    }
}

/// The ranking order: more matching pixels first, then by target name so that
/// ties are broken the same way every run.
pub fn rank_order(a: &Hit, b: &Hit) -> Ordering {
    b.matching_pixels
        .cmp(&a.matching_pixels)
        .then_with(|| a.image_name.cmp(&b.image_name))
}

/// Sorts hits by [`rank_order`] and keeps the best `top`.
pub fn rank(mut hits: Vec<Hit>, top: usize) -> Vec<Hit> {
    hits.sort_by(rank_order);
    hits.truncate(top);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(name: &str, pixels: i64) -> Hit {
        Hit {
            image_name: name.into(),
            matching_pixels: pixels,
            matching_ratio: pixels as f64 / 100.0,
            mirrored: false,
            library_name: None,
            shape: None,
        }
    }

    #[test]
    fn ranks_by_pixels_then_name_and_truncates() {
        let ranked = rank(vec![hit("b", 5), hit("c", 9), hit("a", 5), hit("d", 1)], 3);
        let names: Vec<_> = ranked.iter().map(|h| h.image_name.as_str()).collect();
        assert_eq!(names, ["c", "a", "b"]);
    }

    #[test]
    fn serializes_with_neuronbridge_names() {
        let json = serde_json::to_value(MaskResults {
            mask_id: "m.tif".into(),
            mask_pixels: 100,
            results: vec![hit("t.png", 7)],
        })
        .unwrap();
        assert_eq!(json["maskId"], "m.tif");
        let r = &json["results"][0];
        assert_eq!(r["imageName"], "t.png");
        assert_eq!(r["matchingPixels"], 7);
        assert_eq!(r["matchingRatio"], 0.07);
        assert_eq!(r["mirrored"], false);
        assert!(r.get("shapeScore").is_none() && r.get("libraryName").is_none());
    }

    #[test]
    fn shape_results_are_flat_fields_and_read_back() {
        let mut h = hit("t.png", 7);
        h.shape = Some(ShapeResult {
            shape_scored: true,
            gradient_area_gap: 21365,
            high_expression_area: 731,
            shape_score: 21608,
            shape_mirrored: false,
            normalized_score: 62.5,
        });
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["gradientAreaGap"], 21365);
        assert_eq!(json["highExpressionArea"], 731);
        assert_eq!(json["shapeScore"], 21608);
        assert_eq!(json["normalizedScore"], 62.5);
        assert_eq!(json["shapeScored"], true);
        assert_eq!(serde_json::from_value::<Hit>(json).unwrap(), h);
        let plain = serde_json::to_value(hit("u.png", 3)).unwrap();
        assert_eq!(serde_json::from_value::<Hit>(plain).unwrap().shape, None);
    }
}
