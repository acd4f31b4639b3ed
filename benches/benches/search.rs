//! End-to-end search throughput, images per second on one core, over a
//! synthetic library of 1210x566 CDMs (PNG, PackBits TIFF, and the index
//! format) for one real mask at the golden file's P1 parameters; plus the
//! split of the raw-image cost between decoding, per-target coding (all
//! pixels of the rows, or only the words and brightness the mask needs, as
//! a search does) and scoring. Criterion's throughput line ("elem/s") is images/s/core.

use cds::pixel_match::{CodedTarget, MatchParams};
use cdsearch::index::{write_index, Codec, IndexLibrary};
use cdsearch::job::SubSource;
use cdsearch::library::{discover, LibraryEntry};
use cdsearch::search::{search, FileLibrary, Mask, SearchOptions, TargetNeed, TargetSource};
use cdsearch::synth::{write_library, SynthFormat, SynthOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;
use std::sync::Arc;

/// Images per synthetic library.
const IMAGES: u64 = 300;
/// The EM mask of the golden file (10,299 mask pixels at P1).
const MASK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/cdm/cdsearch/ems/12191_JRC2018U.tif"
);

/// P1 of golden-scores.json.
fn p1() -> MatchParams {
    MatchParams {
        mask_threshold: 20,
        data_threshold: 20,
        pix_color_fluctuation: 2.0,
        xy_shift: 0,
        mirror_mask: false,
        ..MatchParams::default()
    }
}

/// A wrapper that forwards only the owned `load`, as every wrapper did
/// before `load_into`: the baseline for the buffer-reusing path.
struct LoadOnly(Arc<IndexLibrary>);

impl TargetSource for LoadOnly {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn name(&self, index: usize) -> &str {
        self.0.name(index)
    }

    fn load_into(
        &self,
        index: usize,
        need: &TargetNeed,
        out: &mut CodedTarget,
    ) -> Result<(), cdsearch::search::TargetError> {
        *out = self.0.load(index, need)?;
        Ok(())
    }
}

fn synth_library(dir: &Path, format: SynthFormat) -> Vec<LibraryEntry> {
    let out = dir.join(format.extension());
    let options = SynthOptions {
        count: IMAGES,
        seed: 42,
        format,
        ..SynthOptions::default()
    };
    write_library(&out, &options, &()).expect("write synthetic library");
    discover(&[out]).expect("list synthetic library")
}

fn bench_search(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let png = synth_library(dir.path(), SynthFormat::Png);
    let tif = synth_library(dir.path(), SynthFormat::Tif);
    let index_path = dir.path().join("lib.cdsindex");
    write_index(&tif, &index_path, Codec::Zstd(3), &()).expect("write index");
    let stored_path = dir.path().join("lib-stored.cdsindex");
    write_index(&tif, &stored_path, Codec::Stored, &()).expect("write index");

    let params = p1();
    let masks = vec![Mask::load(Path::new(MASK), &params).expect("mask")];
    let need = TargetNeed::of(&masks);
    let rows = need.rows();
    let options = SearchOptions { params, top: 500 };
    let one_core = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("rayon pool");

    let mut e2e = c.benchmark_group("search_e2e_one_core");
    e2e.throughput(Throughput::Elements(IMAGES));
    e2e.sample_size(10);
    let zstd_index = Arc::new(IndexLibrary::open(&index_path).unwrap());
    let stored_index = Arc::new(IndexLibrary::open(&stored_path).unwrap());
    let sources: [(&str, Box<dyn TargetSource>); 8] = [
        ("png", Box::new(FileLibrary::new(png.clone()))),
        ("packbits_tif", Box::new(FileLibrary::new(tif.clone()))),
        (
            "index_zstd",
            Box::new(IndexLibrary::open(&index_path).unwrap()),
        ),
        (
            "index_stored",
            Box::new(IndexLibrary::open(&stored_path).unwrap()),
        ),
        (
            "index_zstd_subsource",
            Box::new(SubSource::new(zstd_index.clone(), 0..IMAGES)),
        ),
        (
            "index_stored_subsource",
            Box::new(SubSource::new(stored_index.clone(), 0..IMAGES)),
        ),
        ("index_zstd_load_only", Box::new(LoadOnly(zstd_index))),
        ("index_stored_load_only", Box::new(LoadOnly(stored_index))),
    ];
    for (name, source) in &sources {
        e2e.bench_function(*name, |b| {
            b.iter(|| one_core.install(|| search(&masks, source.as_ref(), &options, &())))
        });
    }
    e2e.finish();

    // The split of the raw-image path, per image, on pre-read bytes.
    let read_all = |entries: &[LibraryEntry]| -> Vec<Vec<u8>> {
        entries
            .iter()
            .map(|e| std::fs::read(&e.path).unwrap())
            .collect()
    };
    let png_bytes = read_all(&png);
    let tif_bytes = read_all(&tif);
    let decoded: Vec<_> = tif_bytes
        .iter()
        .map(|b| cds::decode::decode_rgb_rows(b, rows).unwrap())
        .collect();
    let coded: Vec<_> = decoded
        .iter()
        .map(|img| CodedTarget::encode_rows(img, rows))
        .collect();
    let index = IndexLibrary::open(&index_path).unwrap();
    let stored = IndexLibrary::open(&stored_path).unwrap();

    let mut split = c.benchmark_group("search_split_one_core");
    split.throughput(Throughput::Elements(IMAGES));
    split.sample_size(10);
    split.bench_function("decode_png_rows", |b| {
        b.iter(|| {
            for bytes in &png_bytes {
                std::hint::black_box(cds::decode::decode_rgb_rows(bytes, rows).unwrap());
            }
        })
    });
    split.bench_function("decode_tif_rows", |b| {
        b.iter(|| {
            for bytes in &tif_bytes {
                std::hint::black_box(cds::decode::decode_rgb_rows(bytes, rows).unwrap());
            }
        })
    });
    split.bench_function("code_target", |b| {
        b.iter(|| {
            for img in &decoded {
                std::hint::black_box(CodedTarget::encode_rows(img, rows));
            }
        })
    });
    split.bench_function("code_target_needed", |b| {
        b.iter(|| {
            for img in &decoded {
                std::hint::black_box(need.code(img));
            }
        })
    });
    split.bench_function("score_coded", |b| {
        b.iter(|| {
            for target in &coded {
                std::hint::black_box(masks[0].prepared.score_coded(target).unwrap());
            }
        })
    });
    for (name, index) in [("index_zstd_load", &index), ("index_stored_load", &stored)] {
        split.bench_function(name, |b| {
            b.iter(|| {
                for i in 0..index.len() {
                    std::hint::black_box(index.load(i, &need).unwrap());
                }
            })
        });
    }
    split.finish();

    let lit: usize = coded.iter().map(CodedTarget::lit_pixels).sum();
    let raw: usize = coded.iter().map(|t| t.to_bytes().len()).sum();
    let zstd = std::fs::metadata(&index_path).unwrap().len();
    println!(
        "library: {IMAGES} images, {:.2}% lit pixels in the first {rows} rows, coded {:.1} KB/image, zstd index {:.1} KB/image",
        100.0 * lit as f64 / (IMAGES as f64 * 1210.0 * rows as f64),
        raw as f64 / IMAGES as f64 / 1e3,
        zstd as f64 / IMAGES as f64 / 1e3
    );
}

criterion_group!(benches, bench_search);
criterion_main!(benches);
