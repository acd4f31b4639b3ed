//! Property tests: the fast scorer (on decoded and on coded targets) gives
//! exactly the reference scorer's results on random small images.

use proptest::prelude::*;

use super::reference::{self, ReferenceMask};
use super::{CodedTarget, MatchParams, PreparedMask, ScoringLoop};
use crate::image::pack;
use crate::RgbImage;

/// Pixels that exercise every rule: black, random colors, pure single
/// channels, ties between the two largest channels, and small variations
/// of a few hues (so that gaps fall near the tolerance).
fn pixel() -> impl Strategy<Value = u32> {
    let near = (0usize..4, -3i16..=3, -3i16..=3).prop_map(|(i, dr, dg)| {
        let base = [(40, 90, 200), (200, 190, 20), (30, 220, 120), (210, 40, 90)][i];
        let ch = |v: i16, d: i16| (v + d).clamp(0, 255) as u8;
        pack(ch(base.0, dr), ch(base.1, dg), base.2)
    });
    prop_oneof![
        4 => Just(0u32),
        3 => any::<u32>().prop_map(|p| p & 0x00ff_ffff),
        1 => (any::<u8>(), 0usize..3).prop_map(|(v, c)| u32::from(v) << (8 * c)),
        1 => (any::<u8>(), any::<u8>(), 0usize..3).prop_map(|(a, b, c)| match c {
            0 => pack(a, a, b),
            1 => pack(a, b, a),
            _ => pack(b, a, a),
        }),
        3 => near,
    ]
}

/// An image of the given size with random pixels.
fn image(width: usize, height: usize) -> impl Strategy<Value = RgbImage> {
    prop::collection::vec(pixel(), width * height).prop_map(move |pixels| RgbImage {
        width,
        height,
        pixels,
    })
}

/// Sizes with mask positions: narrow images taller than the label areas
/// (rows >= 100 count), and wide flat ones (x in 330..width-250 counts).
fn size() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![(3usize..=20, 97usize..=106), (581usize..=600, 2usize..=4)]
}

fn params() -> impl Strategy<Value = MatchParams> {
    let fluctuation = prop_oneof![Just(0.0), Just(1.0), Just(2.0), 0.0f64..40.0];
    (
        0u8..80,
        0u8..80,
        fluctuation,
        prop::sample::select(vec![0u32, 2, 4]),
        any::<bool>(),
    )
        .prop_map(
            |(mask_threshold, data_threshold, pix_color_fluctuation, xy_shift, mirror_mask)| {
                MatchParams {
                    mask_threshold,
                    data_threshold,
                    pix_color_fluctuation,
                    xy_shift,
                    mirror_mask,
                    ..MatchParams::default()
                }
            },
        )
}

/// A mask, a target, an optional negative mask, all of one size, and params.
fn case() -> impl Strategy<Value = (RgbImage, RgbImage, Option<RgbImage>, MatchParams)> {
    size().prop_flat_map(|(w, h)| {
        (
            image(w, h),
            image(w, h),
            prop::option::weighted(0.3, image(w, h)),
            params(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn fast_equals_reference((mask, target, negative, params) in case()) {
        let want = reference::score_with_negative(&mask, negative.as_ref(), &target, &params).unwrap();
        let mut prepared = PreparedMask::new(&mask, &params).unwrap();
        if let Some(neg) = &negative {
            prepared = prepared.with_negative(neg).unwrap();
        }
        prop_assert_eq!(prepared.score(&target).unwrap(), want);
        let coded = CodedTarget::from_bytes(&CodedTarget::encode(&target).to_bytes()).unwrap();
        prop_assert_eq!(prepared.score_coded(&coded).unwrap(), want);
        for other in other_loops(&prepared) {
            prop_assert_eq!(other.score(&target).unwrap(), want);
            prop_assert_eq!(other.score_coded(&coded).unwrap(), want);
        }
    }

    #[test]
    fn matched_pixels_agree_with_the_score((mask, target, negative, params) in case()) {
        for negative in [None, negative.as_ref()] {
            let reference = ReferenceMask::new(&mask, negative, &params).unwrap();
            let score = reference.score(&target).unwrap();
            let matched = reference.matched_pixels(&target).unwrap();
            let lean = ReferenceMask::lean(&mask, negative, &params).unwrap();
            prop_assert_eq!(lean.score(&target).unwrap(), score);
            prop_assert_eq!(&lean.matched_pixels(&target).unwrap(), &matched);
            prop_assert_eq!(matched.mirrored, score.mirrored);
            if negative.is_none() {
                prop_assert_eq!(matched.target_positions.len() as i64, score.matching_pixels);
            }
            prop_assert!(matched.mask_positions.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(matched.mask_positions.len(), matched.target_positions.len());
            let (dx, dy) = matched.shift;
            prop_assert!(dx.abs() <= i64::from(params.xy_shift) && dy.abs() <= i64::from(params.xy_shift));
            let width = mask.width as i64;
            for (&m, &t) in matched.mask_positions.iter().zip(&matched.target_positions) {
                let x = m as i64 % width + dx;
                let x = if matched.mirrored { width - 1 - x } else { x };
                prop_assert_eq!(t as i64, (m as i64 / width + dy) * width + x);
            }
        }
    }

    #[test]
    fn rows_after_rows_needed_are_never_read((mask, target, _neg, params) in case()) {
        let prepared = PreparedMask::new(&mask, &params).unwrap();
        let mut cut = target.clone();
        cut.pixels[prepared.rows_needed() * target.width..].fill(0);
        prop_assert_eq!(prepared.score(&cut).unwrap(), prepared.score(&target).unwrap());
    }

    #[test]
    fn mask_scored_against_itself_matches_reference((mask, _t, _n, params) in case()) {
        let prepared = PreparedMask::new(&mask, &params).unwrap();
        prop_assert_eq!(prepared.score(&mask).unwrap(), reference::score(&mask, &mask, &params).unwrap());
    }
}

#[test]
fn size_mismatch_is_an_error() {
    let params = MatchParams::default();
    let mask = PreparedMask::new(&RgbImage::black(10, 10), &params).unwrap();
    let err = mask.score(&RgbImage::black(10, 11)).unwrap_err();
    assert_eq!(
        err,
        super::MatchError::SizeMismatch {
            mask: (10, 10),
            target: (10, 11)
        }
    );
    let coded = CodedTarget::encode(&RgbImage::black(11, 10));
    assert!(mask.score_coded(&coded).is_err());
}

/// The mask with each scoring loop this CPU runs besides the default one.
fn other_loops(mask: &PreparedMask) -> Vec<PreparedMask> {
    [
        ScoringLoop::Avx512,
        ScoringLoop::Avx2,
        ScoringLoop::Neon,
        ScoringLoop::Portable,
    ]
    .into_iter()
    .filter_map(|l| mask.clone().with_loop(l))
    .collect()
}

/// The vector loop of the architecture the tests run on is among those
/// they compare: NEON on every aarch64 CPU, AVX2 on x86_64 CPUs with AVX2
/// (and the bit instructions the loops use).
#[test]
fn the_vector_loop_of_this_architecture_is_tested() {
    #[cfg(target_arch = "aarch64")]
    assert!(ScoringLoop::Neon.available());
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        ScoringLoop::Avx2.available(),
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
    );
}

/// The vector loops (where the CPU has them) and the portable loop give
/// the same scores on real 1210x566 CDMs at the golden parameter sets.
#[test]
fn vector_and_portable_loops_agree_on_real_images() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/cdm/cdsearch");
    let images: Vec<RgbImage> = [
        "ems/12191_JRC2018U.tif",
        "grad/VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.png",
        "lms/VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01.tif",
        "lms/BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM.tif",
    ]
    .iter()
    .map(|name| crate::decode_rgb(&std::fs::read(format!("{dir}/{name}")).unwrap()).unwrap())
    .collect();
    let coded: Vec<CodedTarget> = images.iter().map(CodedTarget::encode).collect();
    let mut matched = 0;
    for (threshold, fluctuation, xy_shift) in [(20, 2.0, 0), (20, 2.0, 2), (100, 1.0, 4)] {
        let params = MatchParams {
            mask_threshold: threshold,
            data_threshold: threshold,
            pix_color_fluctuation: fluctuation,
            xy_shift,
            mirror_mask: xy_shift > 0,
            ..MatchParams::default()
        };
        for mask in &images {
            let fast = PreparedMask::new(mask, &params).unwrap();
            let others = other_loops(&fast);
            assert!(!others.is_empty());
            for target in &coded {
                let score = fast.score_coded(target).unwrap();
                for other in &others {
                    assert_eq!(score, other.score_coded(target).unwrap());
                }
                matched += usize::from(score.matching_pixels > 0);
            }
        }
    }
    assert!(matched >= 20, "only {matched} of 48 pairs matched");
}
