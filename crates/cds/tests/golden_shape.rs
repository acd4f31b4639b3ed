//! The shape score against the golden values computed by the reference Java
//! classes (`fixtures/cdm/golden-shape.json`), plus cross-checks of the fast
//! paths against the literal reference implementations.

use std::collections::HashMap;
use std::path::PathBuf;

use cds::shape::reference::{max_filter_naive, DenseShapeQuery};
use cds::shape::{
    above, combined_shape_score, max_filter, normalized_score, normalized_score_f64, slice_gap,
    slice_number, zgap_from_target, DirectionScores, LabelRegions, PreparedShapeQuery, ShapeError,
    ShapeParams, ShapeScore, ZGAP_FILE_RADIUS, ZGAP_TEST_RADIUS,
};
use cds::{decode_gray16, decode_rgb, Gray16Image, RgbImage};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/cdm");

fn golden() -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/golden-shape.json"))
        .expect("golden-shape.json is readable");
    serde_json::from_str(&text).expect("golden-shape.json is JSON")
}

fn image_path(rel: &str) -> PathBuf {
    PathBuf::from(format!("{FIXTURES}/cdsearch/{rel}"))
}

fn rgb(rel: &str) -> RgbImage {
    let bytes = std::fs::read(image_path(rel)).expect("fixture image is readable");
    decode_rgb(&bytes).expect("fixture image decodes")
}

fn gray16(rel: &str) -> Gray16Image {
    let bytes = std::fs::read(image_path(rel)).expect("fixture gradient is readable");
    decode_gray16(&bytes).expect("fixture gradient decodes")
}

fn int(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("{v} is not an integer"))
}

/// The (gap, area, score) triple of a golden direction or result.
fn triple(v: &Value) -> (i64, i64, i64) {
    (
        int(&v["gradientAreaGap"]),
        int(&v["highExpressionArea"]),
        int(&v["shapeScore"]),
    )
}

fn triple_of(s: &ShapeScore) -> (i64, i64, i64) {
    (s.gradient_area_gap, s.high_expression_area, s.shape_score)
}

/// Checks both directions and the chosen result of one case.
fn check_directions(id: &str, case: &Value, scores: &DirectionScores, what: &str) {
    assert_eq!(
        triple_of(&scores.direct),
        triple(&case["direct"]),
        "{id} {what} direct"
    );
    let mirrored = scores.mirrored.expect("mirroring is on");
    assert!(mirrored.mirrored && !scores.direct.mirrored);
    assert_eq!(
        triple_of(&mirrored),
        triple(&case["mirroredQuery"]),
        "{id} {what} mirrored"
    );
    let best = scores.best();
    assert_eq!(
        triple_of(&best),
        triple(&case["result"]),
        "{id} {what} result"
    );
    assert_eq!(
        best.mirrored,
        case["result"]["mirrored"].as_bool().expect("bool"),
        "{id} {what} chosen direction"
    );
}

#[test]
fn every_golden_case_is_reproduced() {
    let golden = golden();
    let params = ShapeParams::default();
    assert_eq!(
        i64::from(params.mask_threshold),
        int(&golden["params"]["maskThreshold"])
    );
    assert_eq!(
        i64::from(ZGAP_TEST_RADIUS),
        int(&golden["params"]["computedZgapMaxFilterRadius"])
    );
    let cases = golden["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 14);
    let mut queries: HashMap<String, (PreparedShapeQuery, DenseShapeQuery)> = HashMap::new();
    for case in cases {
        let id = case["id"].as_str().expect("id");
        let query_path = case["query"].as_str().expect("query");
        let (fast, dense) = queries.entry(query_path.to_owned()).or_insert_with(|| {
            let q = rgb(query_path);
            (
                PreparedShapeQuery::new(&q, None, params).expect("query prepares"),
                DenseShapeQuery::with_filter(&q, None, params, max_filter).expect("query prepares"),
            )
        });
        let inter = &case["intermediates"];
        assert_eq!(fast.mask_area(), int(&inter["queryMaskArea"]), "{id} sum M");
        assert_eq!(
            fast.high_expression_mask_area(),
            int(&inter["queryHighExpressionMaskArea"]),
            "{id} sum H"
        );
        let masks = dense.masks();
        let query_size = masks
            .query
            .pixels
            .iter()
            .filter(|&&p| above(p, params.mask_threshold))
            .count() as i64;
        assert_eq!(
            query_size,
            int(&inter["querySizeAboveThreshold"]),
            "{id} query size"
        );

        let target = rgb(case["target"].as_str().expect("target"));
        let gradient = gray16(case["gradient"].as_str().expect("gradient"));
        let gradient_sum: i64 = gradient.pixels.iter().map(|&g| i64::from(g)).sum();
        assert_eq!(
            gradient_sum,
            int(&inter["gradientPixelSum"]),
            "{id} gradient sum"
        );
        let zgap = match case["zgap"].as_str() {
            Some(path) => rgb(path),
            None => zgap_from_target(&target, ZGAP_TEST_RADIUS, 20, &params.labels),
        };
        let non_black = zgap.pixels.iter().filter(|&&p| p != 0).count() as i64;
        let channel_sum: i64 = zgap
            .pixels
            .iter()
            .map(|&p| i64::from(cds::shape::channel_sum(p)))
            .sum();
        assert_eq!(
            non_black,
            int(&inter["zgapNonBlackPixels"]),
            "{id} z-gap pixels"
        );
        assert_eq!(channel_sum, int(&inter["zgapChannelSum"]), "{id} z-gap sum");

        let sparse = fast
            .score_directions(&target, Some(&gradient), Some(&zgap))
            .expect("sizes match");
        check_directions(id, case, &sparse, "sparse");
        let literal = dense
            .score_directions(&target, Some(&gradient), Some(&zgap))
            .expect("sizes match");
        check_directions(id, case, &literal, "dense");
        let best = fast
            .score(&target, Some(&gradient), Some(&zgap))
            .expect("sizes match");
        assert_eq!(best, sparse.best(), "{id} score()");
        if let Some(assertion) = case.get("javaTestAssertion") {
            assert_eq!(triple_of(&best), triple(assertion), "{id} Java assertion");
        }
    }
}

#[test]
fn over_expression_masks_of_the_java_test() {
    let golden = golden();
    let check = &golden["unit"]["overExpressesMaskExpression"];
    let q = rgb(check["query"].as_str().expect("query"));
    let prepared = PreparedShapeQuery::new(&q, None, ShapeParams::default()).expect("prepares");
    assert_eq!(prepared.mask_area(), int(&check["queryMaskArea"]));
    assert_eq!(
        prepared.high_expression_mask_area(),
        int(&check["queryHighExpressionMaskArea"])
    );
}

#[test]
fn zgap_file_equals_the_radius_20_recipe() {
    let golden = golden();
    let case = golden["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["zgapSource"] == "file")
        .expect("a case with a z-gap file");
    let target = rgb(case["target"].as_str().expect("target"));
    let file = rgb(case["zgap"].as_str().expect("zgap"));
    let derived = zgap_from_target(&target, ZGAP_FILE_RADIUS, 20, &LabelRegions::shape_stage());
    let differing = |z: &RgbImage| {
        z.pixels
            .iter()
            .zip(&file.pixels)
            .filter(|(a, b)| a != b)
            .count()
    };
    assert_eq!(differing(&derived), 0);
    let r10 = zgap_from_target(&target, ZGAP_TEST_RADIUS, 20, &LabelRegions::shape_stage());
    assert_eq!(
        differing(&r10),
        56110,
        "the golden file's radius-10 difference"
    );
}

fn unit_values(golden: &Value, table: &str) -> Vec<Value> {
    golden["unit"][table]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("unit table {table}"))
        .clone()
}

#[test]
fn slice_gap_table() {
    let values = unit_values(&golden(), "sliceGap");
    assert_eq!(values.len(), 1041);
    for v in values {
        let (q, z, gap) = (int(&v[0]) as u32, int(&v[1]) as u32, int(&v[2]));
        assert_eq!(
            i64::from(slice_gap(q, z)),
            gap,
            "sliceGap({q:06x}, {z:06x})"
        );
    }
}

#[test]
fn slice_number_table() {
    let values = unit_values(&golden(), "sliceNumberOfColor");
    assert_eq!(values.len(), 400);
    for v in values {
        let (c, slice) = (int(&v[0]) as u32, int(&v[1]));
        assert_eq!(i64::from(slice_number(c)), slice, "slice of {c:06x}");
    }
}

#[test]
fn shape_score_table() {
    let values = unit_values(&golden(), "shapeScore");
    assert!(!values.is_empty());
    for v in values {
        let (gap, high, score) = (int(&v[0]), int(&v[1]), int(&v[2]));
        assert_eq!(combined_shape_score(gap, high), score, "({gap}, {high})");
    }
}

#[test]
fn normalized_score_table() {
    let golden = golden();
    let values = unit_values(&golden, "normalizedScore");
    assert_eq!(values.len(), 17);
    for v in values {
        let args = (
            int(&v["pixelMatch"]),
            int(&v["shapeScore"]),
            int(&v["maxPixelMatch"]),
            int(&v["maxShapeScore"]),
        );
        let double = normalized_score_f64(args.0, args.1, args.2, args.3);
        assert_eq!(
            double,
            v["normalizedScore"].as_f64().expect("f64"),
            "{args:?}"
        );
        let float = normalized_score(args.0, args.1, args.2, args.3);
        assert_eq!(
            float,
            v["asFloat"].as_f64().expect("f64") as f32,
            "{args:?}"
        );
    }
    let java = golden["unit"]["normalizedScore"]["javaTestAssertion"]["cases"]
        .as_array()
        .expect("cases")
        .clone();
    for c in java {
        let score = combined_shape_score(int(&c["gap"]), int(&c["highExpr"]));
        assert_eq!(score, int(&c["shapeScore"]));
        let n = normalized_score(
            int(&c["pixelMatch"]),
            score,
            int(&c["maxPixelMatch"]),
            int(&c["maxShapeScore"]),
        );
        let expected = c["normalizedScore"].as_f64().expect("f64");
        assert!((f64::from(n) - expected).abs() <= c["tolerance"].as_f64().expect("f64"));
    }
}

/// A small deterministic generator (xorshift64*) for random test images.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A random image where roughly `density` per mille of the pixels are
    /// lit with a random colour.
    fn image(&mut self, width: usize, height: usize, density: u64) -> RgbImage {
        let pixels = (0..width * height)
            .map(|_| {
                if self.next() % 1000 < density {
                    (self.next() & 0x00ff_ffff) as u32
                } else {
                    0
                }
            })
            .collect();
        RgbImage {
            width,
            height,
            pixels,
        }
    }
}

#[test]
fn max_filter_matches_the_naive_filter_on_random_images() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let shapes = [(1, 1), (1, 37), (53, 1), (61, 47), (97, 33), (40, 90)];
    for (i, &(w, h)) in shapes.iter().enumerate() {
        for density in [2, 30, 400, 1000] {
            let img = rng.image(w, h, density);
            for radius in [0, 1, 2, 3, 5, 10, 20, 23] {
                assert_eq!(
                    max_filter(&img, radius),
                    max_filter_naive(&img, radius),
                    "shape {i} ({w}x{h}), density {density}, radius {radius}"
                );
            }
        }
    }
}

#[test]
fn max_filter_matches_the_naive_filter_at_radius_60_on_a_real_query() {
    let q = rgb("ems/12191_JRC2018U.tif");
    let crop = RgbImage {
        width: q.width,
        height: 160,
        pixels: q.pixels[200 * q.width..360 * q.width].to_vec(),
    };
    assert_eq!(max_filter(&crop, 60), max_filter_naive(&crop, 60));
}

#[test]
fn roi_and_no_mirror_agree_with_the_dense_implementation() {
    let q = rgb("ems/12191_JRC2018U_FL.tif");
    let target = rgb("lms/VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif");
    let gradient = gray16("grad/VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.png");
    let zgap = zgap_from_target(&target, ZGAP_FILE_RADIUS, 20, &LabelRegions::shape_stage());
    let mut roi = RgbImage::black(q.width, q.height);
    for (i, p) in roi.pixels.iter_mut().enumerate() {
        if (i % q.width) < q.width / 2 + 100 {
            *p = 0x00ff_ffff;
        }
    }
    for mirror in [true, false] {
        let params = ShapeParams {
            mirror,
            ..ShapeParams::default()
        };
        for roi in [None, Some(&roi)] {
            let fast = PreparedShapeQuery::new(&q, roi, params).expect("prepares");
            let dense =
                DenseShapeQuery::with_filter(&q, roi, params, max_filter).expect("prepares");
            let a = fast.score_directions(&target, Some(&gradient), Some(&zgap));
            let b = dense.score_directions(&target, Some(&gradient), Some(&zgap));
            assert_eq!(a, b, "mirror {mirror}, roi {}", roi.is_some());
            let a = a.expect("sizes match");
            assert_eq!(a.mirrored.is_some(), mirror);
            assert!(a.direct.gradient_area_gap > 0);
        }
    }
}

#[test]
fn missing_inputs_are_not_scored_and_sizes_must_match() {
    let q = rgb("ems/12191_JRC2018U.tif");
    let target = rgb("lms/VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01.tif");
    let gradient = gray16("grad/VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01.png");
    let zgap = zgap_from_target(&target, ZGAP_TEST_RADIUS, 20, &LabelRegions::shape_stage());
    let prepared = PreparedShapeQuery::new(&q, None, ShapeParams::default()).expect("prepares");
    let not_scored = Ok(ShapeScore::NOT_SCORED);
    assert_eq!(prepared.score(&target, None, Some(&zgap)), not_scored);
    assert_eq!(prepared.score(&target, Some(&gradient), None), not_scored);
    assert_eq!(prepared.score(&target, None, None), not_scored);
    assert!(!ShapeScore::NOT_SCORED.is_scored());

    let small = RgbImage::black(10, 5);
    let err = prepared
        .score(&target, Some(&gradient), Some(&small))
        .expect_err("z-gap size differs");
    assert_eq!(
        err,
        ShapeError::SizeMismatch {
            image: "z-gap",
            expected_width: q.width,
            expected_height: q.height,
            found_width: 10,
            found_height: 5,
        }
    );
    assert!(err.to_string().contains("z-gap image is 10x5"));
    assert!(prepared.score(&small, None, None).is_err());
    assert!(PreparedShapeQuery::new(&q, Some(&small), ShapeParams::default()).is_err());
}
