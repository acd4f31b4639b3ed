//! Pixel-match scoring throughput: the reference scalar scorer (baseline)
//! against the fast scorer on decoded targets (`score`, including the
//! per-target coding) and on pre-coded targets (`score_coded`, with the
//! fastest loop the CPU runs, and with each of the AVX2 (x86_64), NEON
//! (aarch64) and portable loops that it runs), for the real 1210x566 masks
//! of the fixtures against every 1210x566 fixture target, at the three
//! parameter sets of golden-scores.json. Throughput is in pairs (mask,
//! target) per second on one core; the per-target coding time is measured
//! on its own.
//!
//! Run: `cargo bench -p benchmarks --bench pixel_match` (on Graviton too:
//! docs/graviton.md)

use cds::pixel_match::reference::ReferenceMask;
use cds::pixel_match::{CodedTarget, MatchParams, PreparedMask, ScoringLoop};
use cds::RgbImage;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/cdm");

/// The fixture CDMs of the standard 1210x566 size.
const IMAGES: [&str; 12] = [
    "cdsearch/ems/12191_JRC2018U.tif",
    "cdsearch/ems/12191_JRC2018U_FL.tif",
    "cdsearch/grad/BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM.png",
    "cdsearch/grad/VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.png",
    "cdsearch/grad/VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01.png",
    "cdsearch/lms/BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM.tif",
    "cdsearch/lms/VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif",
    "cdsearch/lms/VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01.tif",
    "cdsearch/zgap/BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM.tif",
    "imageprocessing/1281324958-DNp11-RT_18U_FL.tif",
    "mips/testMIP.png",
    "mips/testMIP.tif",
];

/// The scoring loops besides the default (fastest) one, where the CPU runs them.
const LOOPS: [(&str, ScoringLoop); 3] = [
    ("avx2_score_coded", ScoringLoop::Avx2),
    ("neon_score_coded", ScoringLoop::Neon),
    ("portable_score_coded", ScoringLoop::Portable),
];

/// The VT016795 mask (61,768 positions at threshold 20).
const BIG_MASK: usize = 6;

fn params(name: &str) -> MatchParams {
    let (threshold, fluctuation, xy_shift, mirror_mask) = match name {
        "P1" => (20, 2.0, 0, false),
        "P2" => (20, 2.0, 2, true),
        "P3" => (100, 1.0, 4, true),
        _ => unreachable!("unknown parameter set {name}"),
    };
    MatchParams {
        mask_threshold: threshold,
        data_threshold: threshold,
        pix_color_fluctuation: fluctuation,
        xy_shift,
        mirror_mask,
        ..MatchParams::default()
    }
}

fn load() -> Vec<RgbImage> {
    IMAGES
        .iter()
        .map(|path| {
            let bytes = std::fs::read(format!("{FIXTURES}/{path}")).expect("fixture image");
            cds::decode_rgb(&bytes).expect("fixture decodes")
        })
        .collect()
}

/// The masks (images with at least one mask position), prepared for
/// `params` by both scorers (outside the timed loops, as a search does).
fn masks<'a>(
    images: &'a [RgbImage],
    params: &MatchParams,
) -> Vec<(ReferenceMask<'a>, PreparedMask)> {
    images
        .iter()
        .map(|img| {
            let reference = ReferenceMask::new(img, None, params).expect("valid mask");
            (
                reference,
                PreparedMask::new(img, params).expect("valid mask"),
            )
        })
        .filter(|(_, m)| m.mask_pixel_count() > 0)
        .collect()
}

fn scoring(c: &mut Criterion) {
    let images = load();
    let coded: Vec<CodedTarget> = images.iter().map(CodedTarget::encode).collect();
    for name in ["P1", "P2", "P3"] {
        let params = params(name);
        let masks = masks(&images, &params);
        let pairs = (masks.len() * images.len()) as u64;
        let mut group = c.benchmark_group(format!("pixel_match/{name}"));
        group.throughput(Throughput::Elements(pairs));
        group.bench_function("reference", |b| {
            b.iter(|| {
                for (mask, _) in &masks {
                    for t in &images {
                        black_box(mask.score(t).expect("scorable"));
                    }
                }
            })
        });
        group.bench_function("fast_score", |b| {
            b.iter(|| {
                for (_, mask) in &masks {
                    for t in &images {
                        black_box(mask.score(t).expect("scorable"));
                    }
                }
            })
        });
        group.bench_function("fast_score_coded", |b| {
            b.iter(|| {
                for (_, mask) in &masks {
                    for t in &coded {
                        black_box(mask.score_coded(t).expect("scorable"));
                    }
                }
            })
        });
        for (name, scoring_loop) in LOOPS {
            let Some(with_loop) = masks
                .iter()
                .map(|(_, m)| m.clone().with_loop(scoring_loop))
                .collect::<Option<Vec<PreparedMask>>>()
            else {
                continue;
            };
            group.bench_function(name, |b| {
                b.iter(|| {
                    for mask in &with_loop {
                        for t in &coded {
                            black_box(mask.score_coded(t).expect("scorable"));
                        }
                    }
                })
            });
        }
        group.finish();
    }
}

fn big_mask(c: &mut Criterion) {
    let images = load();
    let coded: Vec<CodedTarget> = images.iter().map(CodedTarget::encode).collect();
    let params = params("P2");
    let reference = ReferenceMask::new(&images[BIG_MASK], None, &params).expect("valid mask");
    let mask = PreparedMask::new(&images[BIG_MASK], &params).expect("valid mask");
    assert_eq!(mask.mask_pixel_count(), 61_768);
    let mut group = c.benchmark_group("pixel_match/P2_VT016795");
    group.throughput(Throughput::Elements(images.len() as u64));
    group.bench_function("reference", |b| {
        b.iter(|| {
            for t in &images {
                black_box(reference.score(t).expect("scorable"));
            }
        })
    });
    group.bench_function("fast_score", |b| {
        b.iter(|| {
            for t in &images {
                black_box(mask.score(t).expect("scorable"));
            }
        })
    });
    group.bench_function("fast_score_coded", |b| {
        b.iter(|| {
            for t in &coded {
                black_box(mask.score_coded(t).expect("scorable"));
            }
        })
    });
    for (name, scoring_loop) in LOOPS {
        let Some(with_loop) = mask.clone().with_loop(scoring_loop) else {
            continue;
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                for t in &coded {
                    black_box(with_loop.score_coded(t).expect("scorable"));
                }
            })
        });
    }
    group.finish();
}

fn coding(c: &mut Criterion) {
    let images = load();
    let mut group = c.benchmark_group("pixel_match/coding");
    group.throughput(Throughput::Elements(images.len() as u64));
    group.bench_function(BenchmarkId::new("encode", "all rows"), |b| {
        b.iter(|| {
            for t in &images {
                black_box(CodedTarget::encode(t));
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = scoring, big_mask, coding
}
criterion_main!(benches);
