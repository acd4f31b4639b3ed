//! Search results in NeuronBridge's own result JSON, so that tools built for
//! NeuronBridge read them: one `CustomMatches` object per mask, an
//! `inputImage` (the uploaded mask) and its `results`, a list of `CDSMatch`
//! entries (`image`, `files`, `mirrored`, `normalizedScore`,
//! `matchingPixels`) sorted by `matchingPixels`, highest first, as
//! NeuronBridge sorts them.
//!
//! Our libraries carry no published metadata, so the `image` of a match is
//! named from the file: `id` is the target's name in its library,
//! `publishedName` the file name without directories and extensions, and
//! NeuronBridge's `alignmentSpace`, `anatomicalArea` and `gender` are left
//! out rather than guessed. `normalizedScore` is the shape stage's normalized
//! score when the search ran it, else `matchingPixels` (which is what the
//! reference stores for hits the shape stage did not score).

use crate::results::{Hit, ShapeResult};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;

/// The files of an image or a match, under NeuronBridge's file type names.
/// Each is a URL or a path, as the caller names its images.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Files {
    /// The color depth MIP of the image.
    #[serde(rename = "ColorDepthMip", skip_serializing_if = "Option::is_none")]
    pub color_depth_mip: Option<String>,
    /// A thumbnail of the color depth MIP.
    #[serde(
        rename = "ColorDepthMipThumbnail",
        skip_serializing_if = "Option::is_none"
    )]
    pub color_depth_mip_thumbnail: Option<String>,
    /// Of a match: the color depth image that was input (the mask).
    #[serde(rename = "ColorDepthMipInput", skip_serializing_if = "Option::is_none")]
    pub color_depth_mip_input: Option<String>,
    /// Of a match: the color depth image that was matched (the target).
    #[serde(rename = "ColorDepthMipMatch", skip_serializing_if = "Option::is_none")]
    pub color_depth_mip_match: Option<String>,
}

/// The uploaded image a search started from: NeuronBridge's `inputImage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputImage {
    /// The mask's name.
    pub id: String,
    /// Where the mask image is.
    pub files: Files,
}

/// A matched library image: NeuronBridge's `NeuronImage`, named from its file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NeuronImage {
    /// The target's name in its library.
    pub id: String,
    /// The library holding the target.
    pub library_name: String,
    /// The file name without directories and extensions.
    pub published_name: String,
    /// Where the target image (and its thumbnail) are.
    pub files: Files,
}

/// One hit: NeuronBridge's `CDSMatch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CdsMatch {
    /// The matched target.
    pub image: NeuronImage,
    /// The mask and target images of this match.
    pub files: Files,
    /// Whether the best score came from the mirrored mask.
    pub mirrored: bool,
    /// The shape stage's normalized score, or `matchingPixels` without it.
    pub normalized_score: f64,
    /// Matching mask pixels.
    pub matching_pixels: i64,
}

/// The results of one mask: NeuronBridge's `CustomMatches`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomMatches {
    /// The mask.
    pub input_image: InputImage,
    /// The hits, most matching pixels first.
    pub results: Vec<CdsMatch>,
}

/// A hit's values and what the caller knows of where its images are.
#[derive(Clone, Copy, Debug)]
pub struct HitFiles<'a> {
    /// The target's name in its library.
    pub image_name: &'a str,
    /// Matching mask pixels.
    pub matching_pixels: i64,
    /// Whether the best score came from the mirrored mask.
    pub mirrored: bool,
    /// The shape stage's values, if the search ran it.
    pub shape: Option<&'a ShapeResult>,
    /// The library holding the target.
    pub library_name: &'a str,
    /// Where the target image is (URL or path).
    pub image: &'a str,
    /// Where its thumbnail is, if anywhere.
    pub thumbnail: Option<&'a str>,
}

impl<'a> HitFiles<'a> {
    /// The values of a search core's `hit`, with its images at `image` and
    /// `thumbnail` in library `library_name`.
    pub fn of_hit(
        hit: &'a Hit,
        library_name: &'a str,
        image: &'a str,
        thumbnail: Option<&'a str>,
    ) -> Self {
        Self {
            image_name: &hit.image_name,
            matching_pixels: hit.matching_pixels,
            mirrored: hit.mirrored,
            shape: hit.shape.as_ref(),
            library_name,
            image,
            thumbnail,
        }
    }
}

/// `name` without directories and without extensions (`a/b.tif.png` → `b`).
pub fn published_name(name: &str) -> &str {
    let file = name.rsplit('/').next().unwrap_or(name);
    match file.find('.') {
        Some(0) | None => file,
        Some(dot) => &file[..dot],
    }
}

/// The NeuronBridge results of one mask named `mask_name`, whose image is at
/// `mask_image`, from its `hits` in our ranking order: sorted by matching
/// pixels, highest first (a stable sort, so ties keep our order).
pub fn custom_matches<'a>(
    mask_name: &str,
    mask_image: &str,
    hits: impl IntoIterator<Item = HitFiles<'a>>,
) -> CustomMatches {
    let mut results: Vec<CdsMatch> = hits
        .into_iter()
        .map(|h| CdsMatch {
            image: NeuronImage {
                id: h.image_name.to_owned(),
                library_name: h.library_name.to_owned(),
                published_name: published_name(h.image_name).to_owned(),
                files: Files {
                    color_depth_mip: Some(h.image.to_owned()),
                    color_depth_mip_thumbnail: h.thumbnail.map(str::to_owned),
                    ..Files::default()
                },
            },
            files: Files {
                color_depth_mip_input: Some(mask_image.to_owned()),
                color_depth_mip_match: Some(h.image.to_owned()),
                ..Files::default()
            },
            mirrored: h.mirrored,
            normalized_score: h
                .shape
                .map_or(h.matching_pixels as f64, |s| f64::from(s.normalized_score)),
            matching_pixels: h.matching_pixels,
        })
        .collect();
    results.sort_by_key(|m| Reverse(m.matching_pixels));
    CustomMatches {
        input_image: InputImage {
            id: mask_name.to_owned(),
            files: Files {
                color_depth_mip: Some(mask_image.to_owned()),
                ..Files::default()
            },
        },
        results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_names_drop_directories_and_extensions() {
        assert_eq!(published_name("a/b/VT016795_115C08.tif"), "VT016795_115C08");
        assert_eq!(published_name("x.tif.grad.png"), "x");
        assert_eq!(published_name("plain"), "plain");
        assert_eq!(published_name(".hidden"), ".hidden");
    }

    /// Shape-stage hits in our order (by normalized score), one of them not
    /// shape-scored; their pixel counts are in another order.
    fn shaped_hits() -> Vec<Hit> {
        let shape = |gap, high, score, norm| ShapeResult {
            shape_scored: true,
            gradient_area_gap: gap,
            high_expression_area: high,
            shape_score: score,
            shape_mirrored: false,
            normalized_score: norm,
        };
        let hit = |name: &str, pixels, ratio, shape| Hit {
            image_name: name.into(),
            matching_pixels: pixels,
            matching_ratio: ratio,
            mirrored: false,
            library_name: Some("shapes".into()),
            shape,
        };
        vec![
            hit("b.tif", 300, 0.03, Some(shape(10, 3, 11, 90.5))),
            hit("a.tif", 500, 0.05, Some(shape(40, 3, 41, 40.0))),
            hit("c.tif", 400, 0.04, None),
        ]
    }

    #[test]
    fn sorts_by_matching_pixels_and_names_files() {
        let hits = shaped_hits();
        let images: Vec<String> = hits
            .iter()
            .map(|h| format!("/i/{}", h.image_name))
            .collect();
        let m = custom_matches(
            "mask.png",
            "/m/0",
            hits.iter()
                .zip(&images)
                .map(|(hit, image)| HitFiles::of_hit(hit, "shapes", image, None)),
        );
        let order: Vec<(&str, i64, f64)> = m
            .results
            .iter()
            .map(|r| (r.image.id.as_str(), r.matching_pixels, r.normalized_score))
            .collect();
        assert_eq!(
            order,
            [
                ("a.tif", 500, 40.0),
                ("c.tif", 400, 400.0),
                ("b.tif", 300, 90.5)
            ]
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["inputImage"]["id"], "mask.png");
        assert_eq!(json["inputImage"]["files"]["ColorDepthMip"], "/m/0");
        let first = &json["results"][0];
        assert_eq!(first["image"]["libraryName"], "shapes");
        assert_eq!(first["image"]["publishedName"], "a");
        assert_eq!(first["files"]["ColorDepthMipInput"], "/m/0");
        assert_eq!(first["files"]["ColorDepthMipMatch"], "/i/a.tif");
        assert!(first["image"]["files"]
            .get("ColorDepthMipThumbnail")
            .is_none());
        let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
        let mut expected = [
            "files",
            "image",
            "matchingPixels",
            "mirrored",
            "normalizedScore",
        ];
        expected.sort();
        assert_eq!(keys, expected);
    }
}
