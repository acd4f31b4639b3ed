//! Shape score (second CDS stage): mask preparation and per-target scoring,
//! each against a literal baseline measured in the same run (an `O(r²)` max
//! filter; a dense per-pixel score loop over materialized mirrored images).

use cds::shape::reference::{max_filter_naive, DenseShapeQuery};
use cds::shape::{max_filter, zgap_from_target, PreparedShapeQuery, ShapeParams, ZGAP_FILE_RADIUS};
use cds::{decode_gray16, decode_rgb, Gray16Image, RgbImage};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/cdm/cdsearch");
const QUERY: &str = "ems/12191_JRC2018U.tif";
const TARGET: &str = "lms/BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM.tif";
const GRADIENT: &str = "grad/BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM.png";
const ZGAP: &str = "zgap/BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM.tif";

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{rel}")).expect("fixture is readable")
}

fn rgb(rel: &str) -> RgbImage {
    decode_rgb(&read(rel)).expect("fixture decodes")
}

fn gray16(rel: &str) -> Gray16Image {
    decode_gray16(&read(rel)).expect("fixture decodes")
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// Query preparation: labels, `M`, and the ring `H` from the radius-60 and
/// radius-20 max filters (plus the sparse lists in the fast version).
fn mask_preparation(c: &mut Criterion) {
    let query = rgb(QUERY);
    let params = ShapeParams::default();
    let mut group = c.benchmark_group("shape/mask_preparation");
    group.bench_function("fast", |b| {
        b.iter(|| PreparedShapeQuery::new(black_box(&query), None, params))
    });
    group.bench_function("naive_dense", |b| {
        b.iter(|| DenseShapeQuery::with_filter(black_box(&query), None, params, max_filter_naive))
    });
    group.finish();
}

/// The circular max filter alone, radius 20 and 60, on the query.
fn max_filters(c: &mut Criterion) {
    let query = rgb(QUERY);
    let mut group = c.benchmark_group("shape/max_filter");
    for radius in [20, 60] {
        group.bench_function(format!("fast_r{radius}"), |b| {
            b.iter(|| max_filter(black_box(&query), radius))
        });
        group.bench_function(format!("naive_r{radius}"), |b| {
            b.iter(|| max_filter_naive(black_box(&query), radius))
        });
    }
    group.finish();
}

/// One target (direct + mirrored) with the gradient and z-gap images given.
fn target_score(c: &mut Criterion) {
    let query = rgb(QUERY);
    let target = rgb(TARGET);
    let gradient = gray16(GRADIENT);
    let zgap = rgb(ZGAP);
    let params = ShapeParams::default();
    let fast = PreparedShapeQuery::new(&query, None, params).expect("query prepares");
    let dense = DenseShapeQuery::with_filter(&query, None, params, max_filter).expect("prepares");
    let mut group = c.benchmark_group("shape/target_score");
    group.bench_function("sparse", |b| {
        b.iter(|| fast.score(black_box(&target), Some(&gradient), Some(&zgap)))
    });
    group.bench_function("dense", |b| {
        b.iter(|| dense.score_directions(black_box(&target), Some(&gradient), Some(&zgap)))
    });
    group.finish();
}

/// Deriving a z-gap image (radius 20) from a target, as `library derive` does.
fn zgap_derivation(c: &mut Criterion) {
    let target = rgb(TARGET);
    let labels = ShapeParams::default().labels;
    c.benchmark_group("shape/zgap_r20")
        .bench_function("fast", |b| {
            b.iter(|| zgap_from_target(black_box(&target), ZGAP_FILE_RADIUS, 20, &labels))
        });
}

criterion_group! {
    name = benches;
    config = config();
    targets = mask_preparation, max_filters, target_score, zgap_derivation
}
criterion_main!(benches);
