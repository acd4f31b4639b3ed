//! Search results, with NeuronBridge's field names where it has them
//! (`maskId`, `results`, `imageName`, `matchingPixels`, `matchingRatio`,
//! `mirrored`), and the pure ranking used by local searches and combiners.

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
    }
}
