//! The shape stage of a search (`cdsearch search --shape`), each figure
//! against a baseline measured in the same run:
//! - `shape_stage/combiner_k300`: what the combiner adds per mask for
//!   K = 300 hits (mask preparation, then for each hit: read the target and
//!   its two derived images, decode them, score both directions), against a
//!   pixel-match search of the same 300 images;
//! - `shape_stage/per_hit`: where one hit's time goes (decoding the target,
//!   its gradient and its z-gap, and the score itself), against the
//!   pixel-match stage's load-and-score of the same target;
//! - `shape_stage/sample`: a direct search of the sample library with and
//!   without the stage (z-gaps derived, real gradients where the fixtures
//!   have them, approximate ones otherwise);
//! - `shape_stage/synth_N`: the same on a synthetic library of N images
//!   (`SHAPE_BENCH_IMAGES`, default 10,000) with derived images.

use cds::pixel_match::MatchParams;
use cdsearch::derive::{derive_library, DeriveOptions};
use cdsearch::library::{derived_path, discover, DerivedKind, LibraryEntry};
use cdsearch::results::SearchReport;
use cdsearch::search::{load_image_target, search, FileLibrary, Mask, SearchOptions, TargetNeed};
use cdsearch::shape_stage::{
    prepare_query, run_stage, score_bytes, FileShapeImages, ShapeImageSource, ShapeStageOptions,
};
use cdsearch::synth::{write_library, SynthOptions};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const MASK: &str = "sample/masks/12191_JRC2018U.tif";
const SHAPE_TOP: usize = 300;

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// Pixel-match parameters that make most targets hits (so that the stage
/// has its full K), as a permissive user search would.
fn params() -> MatchParams {
    MatchParams {
        mask_threshold: 20,
        data_threshold: 20,
        min_matching_pix_ratio: 0.0,
        ..MatchParams::default()
    }
}

fn mask_path() -> PathBuf {
    Path::new(ROOT).join(MASK)
}

/// A synthetic library of `count` images with their derived images.
fn synth_library(dir: &Path, count: u64) -> Vec<LibraryEntry> {
    let options = SynthOptions {
        count,
        seed: 7,
        derived: true,
        ..SynthOptions::default()
    };
    write_library(dir, &options, &()).expect("write synthetic library");
    discover(&[dir.to_path_buf()]).expect("list synthetic library")
}

/// The sample library copied to `dir`, with the fixtures' real gradients
/// where they exist, then z-gaps and the other gradients derived.
fn sample_library(dir: &Path) -> Vec<LibraryEntry> {
    let sample = Path::new(ROOT).join("sample/library");
    let grads = Path::new(ROOT).join("fixtures/cdm/cdsearch/grad");
    for entry in std::fs::read_dir(&sample).expect("sample library") {
        let path = entry.expect("sample entry").path();
        std::fs::copy(&path, dir.join(path.file_name().expect("file name"))).expect("copy");
        let stem = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let grad = grads.join(format!("{stem}.png"));
        if grad.is_file() {
            let target = dir.join(path.file_name().expect("file name"));
            std::fs::copy(grad, derived_path(&target, DerivedKind::Gradient))
                .expect("copy gradient");
        }
    }
    let entries = discover(&[dir.to_path_buf()]).expect("list sample library");
    let options = DeriveOptions {
        gradients: true,
        ..DeriveOptions::default()
    };
    derive_library(&entries, &options, &());
    entries
}

/// A direct search, then (with `shape`) the shape stage, as the CLI runs them.
fn search_with_stage(mask: &Mask, library: &FileLibrary, shape: bool) -> SearchReport {
    let options = SearchOptions {
        params: params(),
        top: if shape { SHAPE_TOP.max(100) } else { 100 },
    };
    let mut report = search(std::slice::from_ref(mask), library, &options, &());
    if shape {
        let image = cds::decode_rgb(&std::fs::read(mask_path()).expect("mask")).expect("decode");
        let query = prepare_query(&image).expect("prepare");
        let stage = ShapeStageOptions {
            top: SHAPE_TOP,
            keep: 100,
        };
        let images = FileShapeImages::new(library.entries());
        run_stage(&mut report, &[query], &images, &stage, &());
    }
    report
}

/// Search with and without the stage over one library.
fn bench_library(c: &mut Criterion, group_name: &str, entries: Vec<LibraryEntry>) {
    let mask = Mask::load(&mask_path(), &params()).expect("mask loads");
    let library = FileLibrary::new(entries);
    let scored = search_with_stage(&mask, &library, true).masks[0]
        .results
        .iter()
        .filter(|h| h.shape.is_some_and(|s| s.shape_scored))
        .count();
    eprintln!(
        "{group_name}: {} targets, {scored} hits shape-scored",
        library.entries().len()
    );
    let mut group = c.benchmark_group(group_name);
    group.bench_function("pixel_match_only", |b| {
        b.iter(|| search_with_stage(black_box(&mask), &library, false))
    });
    group.bench_function("with_shape_stage", |b| {
        b.iter(|| search_with_stage(black_box(&mask), &library, true))
    });
    group.finish();
}

/// The combiner's work per mask for K = 300, against the pixel-match
/// search of the same 300 images.
fn combiner_k300(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    // About half the synthetic images are hits: twice K images give K hits.
    let entries = synth_library(dir.path(), 2 * SHAPE_TOP as u64);
    let mask = Mask::load(&mask_path(), &params()).expect("mask loads");
    let options = SearchOptions {
        params: params(),
        top: SHAPE_TOP,
    };
    let report = search(
        std::slice::from_ref(&mask),
        &FileLibrary::new(entries.clone()),
        &options,
        &(),
    );
    let library = FileLibrary::new(entries[..SHAPE_TOP].to_vec());
    let mask_image = cds::decode_rgb(&std::fs::read(mask_path()).expect("mask")).expect("decode");
    let images = FileShapeImages::new(&entries);
    let stage = ShapeStageOptions {
        top: SHAPE_TOP,
        keep: SHAPE_TOP,
    };
    eprintln!(
        "combiner_k300: {} hits of {} targets",
        report.masks[0].results.len(),
        entries.len()
    );
    let mut group = c.benchmark_group("shape_stage/combiner_k300");
    group.bench_function("pixel_match_300_targets", |b| {
        b.iter(|| {
            search(
                std::slice::from_ref(&mask),
                &library,
                black_box(&options),
                &(),
            )
        })
    });
    group.bench_function("shape_stage_per_mask", |b| {
        b.iter(|| {
            let query = prepare_query(black_box(&mask_image)).expect("prepare");
            let mut report = report.clone();
            run_stage(&mut report, &[query], &images, &stage, &());
            report
        })
    });
    group.finish();
}

/// One hit of a synthetic library, step by step.
fn per_hit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let entries = synth_library(dir.path(), 1);
    let target_path = &entries[0].path;
    let images = FileShapeImages::new(&entries);
    let bytes = images.shape_bytes(&entries[0].name).expect("shape images");
    let (gradient, zgap) = (
        bytes.gradient.clone().expect("gradient"),
        bytes.zgap.clone().expect("z-gap"),
    );
    let mask_image = cds::decode_rgb(&std::fs::read(mask_path()).expect("mask")).expect("decode");
    let query = prepare_query(&mask_image).expect("prepare");
    let mask = Mask::load(&mask_path(), &params()).expect("mask loads");
    let need = TargetNeed::of(std::slice::from_ref(&mask));
    let decoded = (
        cds::decode_rgb(&bytes.target).expect("target"),
        cds::decode_gray16(&gradient).expect("gradient"),
        cds::decode_rgb(&zgap).expect("z-gap"),
    );
    let mut group = c.benchmark_group("shape_stage/per_hit");
    group.bench_function("pixel_match_load_and_score", |b| {
        b.iter(|| {
            let target = load_image_target(black_box(target_path), &need).expect("load");
            mask.prepared.score_coded(&target)
        })
    });
    group.bench_function("read_files", |b| {
        b.iter(|| images.shape_bytes(black_box(&entries[0].name)))
    });
    group.bench_function("decode_target", |b| {
        b.iter(|| cds::decode_rgb(black_box(&bytes.target)))
    });
    group.bench_function("decode_gradient", |b| {
        b.iter(|| cds::decode_gray16(black_box(&gradient)))
    });
    group.bench_function("decode_zgap", |b| {
        b.iter(|| cds::decode_rgb(black_box(&zgap)))
    });
    group.bench_function("score", |b| {
        b.iter(|| query.score(black_box(&decoded.0), Some(&decoded.1), Some(&decoded.2)))
    });
    group.bench_function("whole_hit", |b| {
        b.iter(|| score_bytes(&query, black_box(&bytes)))
    });
    group.finish();
}

fn sample(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let entries = sample_library(dir.path());
    bench_library(c, "shape_stage/sample", entries);
}

fn synthetic(c: &mut Criterion) {
    let count: u64 = std::env::var("SHAPE_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
    let entries = synth_library(dir.path(), count);
    eprintln!(
        "synthetic library of {count} images with derived images written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    bench_library(c, &format!("shape_stage/synth_{count}"), entries);
}

criterion_group! {
    name = benches;
    config = config();
    targets = per_hit, combiner_k300, sample, synthetic
}
criterion_main!(benches);
