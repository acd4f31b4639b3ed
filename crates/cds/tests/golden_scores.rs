//! Every record of fixtures/cdm/golden-scores.json (scores computed by the
//! reference JavaScript), reproduced by the reference scorer, the fast
//! scorer on decoded targets and the fast scorer on coded targets that went
//! through a bytes round trip.

use std::collections::HashMap;

use cds::pixel_match::{reference, CodedTarget, MatchParams, MatchScore, PreparedMask};
use cds::RgbImage;
use serde::Deserialize;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/cdm");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Golden {
    params: HashMap<String, GoldenParams>,
    images: Vec<GoldenImage>,
    scores: Vec<GoldenScore>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoldenParams {
    mask_threshold: u8,
    data_threshold: u8,
    pix_color_fluctuation: f64,
    xy_shift: u32,
    mirror_mask: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoldenImage {
    path: String,
    width: usize,
    height: usize,
    mask_pixels: HashMap<String, usize>,
    load_mip_decode_differs_from_correct_decode: Option<DecodeDiff>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DecodeDiff {
    correct_decode_mask_pixels: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoldenScore {
    mask: String,
    target: String,
    params: String,
    matching_pixels: i64,
    matching_pix_ratio: f64,
    best_score_mirrored: bool,
    correct_decode_matching_pixels: Option<i64>,
    correct_decode_matching_pix_ratio: Option<f64>,
    correct_decode_best_score_mirrored: Option<bool>,
}

impl GoldenScore {
    /// The expected score: the correct-decode values where the reference
    /// loader decoded an image wrongly.
    fn expected(&self) -> MatchScore {
        MatchScore {
            matching_pixels: self
                .correct_decode_matching_pixels
                .unwrap_or(self.matching_pixels),
            matching_ratio: self
                .correct_decode_matching_pix_ratio
                .unwrap_or(self.matching_pix_ratio),
            mirrored: self
                .correct_decode_best_score_mirrored
                .unwrap_or(self.best_score_mirrored),
        }
    }
}

impl From<&GoldenParams> for MatchParams {
    fn from(p: &GoldenParams) -> Self {
        MatchParams {
            mask_threshold: p.mask_threshold,
            data_threshold: p.data_threshold,
            pix_color_fluctuation: p.pix_color_fluctuation,
            xy_shift: p.xy_shift,
            mirror_mask: p.mirror_mask,
            ..MatchParams::default()
        }
    }
}

struct Fixture {
    golden: Golden,
    images: HashMap<String, RgbImage>,
}

fn load() -> Fixture {
    let text = std::fs::read_to_string(format!("{FIXTURES}/golden-scores.json"))
        .expect("golden-scores.json");
    let golden: Golden = serde_json::from_str(&text).expect("golden file parses");
    let images = golden
        .images
        .iter()
        .map(|img| {
            let bytes = std::fs::read(format!("{FIXTURES}/{}", img.path)).expect("fixture image");
            let decoded = cds::decode_rgb(&bytes).unwrap_or_else(|e| panic!("{}: {e}", img.path));
            assert_eq!(
                (decoded.width, decoded.height),
                (img.width, img.height),
                "{}",
                img.path
            );
            (img.path.clone(), decoded)
        })
        .collect();
    Fixture { golden, images }
}

/// Checks every golden record with `scorer(mask path, mask, target path,
/// target, params)`, reporting all mismatches at once.
fn check_all(
    fixture: &Fixture,
    scorer: impl Fn(&str, &RgbImage, &str, &RgbImage, &MatchParams) -> MatchScore,
) {
    assert_eq!(fixture.golden.scores.len(), 486);
    let mut failures = Vec::new();
    for rec in &fixture.golden.scores {
        let params = MatchParams::from(&fixture.golden.params[&rec.params]);
        let (mask, target) = (&fixture.images[&rec.mask], &fixture.images[&rec.target]);
        let got = scorer(&rec.mask, mask, &rec.target, target, &params);
        let want = rec.expected();
        let same = got.matching_pixels == want.matching_pixels
            && (got.matching_ratio - want.matching_ratio).abs() <= 1e-12
            && got.mirrored == want.mirrored;
        if !same {
            failures.push(format!(
                "{} vs {} ({}): got {got:?}, want {want:?}",
                rec.mask, rec.target, rec.params
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Prepared masks, built once per (mask path, params name).
fn prepared_masks(fixture: &Fixture) -> HashMap<(String, String), PreparedMask> {
    let mut out = HashMap::new();
    for rec in &fixture.golden.scores {
        let params = MatchParams::from(&fixture.golden.params[&rec.params]);
        out.entry((rec.mask.clone(), rec.params.clone()))
            .or_insert_with(|| {
                PreparedMask::new(&fixture.images[&rec.mask], &params).expect("valid mask")
            });
    }
    out
}

fn params_name(fixture: &Fixture, params: &MatchParams) -> String {
    let (name, _) = fixture
        .golden
        .params
        .iter()
        .find(|(_, p)| MatchParams::from(*p) == *params)
        .expect("known params");
    name.clone()
}

#[test]
fn mask_pixel_counts() {
    let fixture = load();
    for img in &fixture.golden.images {
        let counts = img
            .load_mip_decode_differs_from_correct_decode
            .as_ref()
            .map_or(&img.mask_pixels, |d| &d.correct_decode_mask_pixels);
        for (threshold, &want) in counts {
            let threshold: u8 = threshold.parse().expect("threshold");
            let image = &fixture.images[&img.path];
            let params = MatchParams {
                mask_threshold: threshold,
                ..MatchParams::default()
            };
            assert_eq!(
                reference::mask_positions(image, threshold).len(),
                want,
                "{} at {threshold}",
                img.path
            );
            let prepared = PreparedMask::new(image, &params).expect("valid mask");
            assert_eq!(
                prepared.mask_pixel_count(),
                want,
                "{} at {threshold}",
                img.path
            );
        }
    }
}

#[test]
fn reference_scorer_matches_golden() {
    let fixture = load();
    check_all(&fixture, |_, mask, _, target, params| {
        reference::score(mask, target, params).expect("scorable")
    });
}

/// The matched pixels of the winning alignment (found with lean lists, as
/// the service does) are as many as the golden score's matching pixels,
/// from the side (direct or mirrored) it names.
#[test]
fn matched_pixels_match_golden() {
    let fixture = load();
    check_all(&fixture, |_, mask, _, target, params| {
        let matched = reference::ReferenceMask::lean(mask, None, params)
            .and_then(|m| m.matched_pixels(target))
            .expect("scorable");
        let score = reference::score(mask, target, params).expect("scorable");
        MatchScore {
            matching_pixels: matched.target_positions.len() as i64,
            mirrored: matched.mirrored,
            ..score
        }
    });
}

#[test]
fn fast_scorer_matches_golden() {
    let fixture = load();
    let masks = prepared_masks(&fixture);
    check_all(&fixture, |mask_path, _, _, target, params| {
        let mask = &masks[&(mask_path.to_string(), params_name(&fixture, params))];
        mask.score(target).expect("scorable")
    });
}

#[test]
fn coded_scorer_matches_golden() {
    let fixture = load();
    let masks = prepared_masks(&fixture);
    let coded: HashMap<&str, CodedTarget> = fixture
        .images
        .iter()
        .map(|(path, img)| {
            let bytes = CodedTarget::encode(img).to_bytes();
            (
                path.as_str(),
                CodedTarget::from_bytes(&bytes).expect("round trip"),
            )
        })
        .collect();
    check_all(&fixture, |mask_path, _, target_path, _, params| {
        let mask = &masks[&(mask_path.to_string(), params_name(&fixture, params))];
        mask.score_coded(&coded[target_path]).expect("scorable")
    });
}
