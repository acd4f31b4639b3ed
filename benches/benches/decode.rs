//! CDM decoding: `cds::decode` against the `image` crate decoding the same
//! bytes (the baseline), per image, for each kind of CDM file: into a fresh
//! image, into a reused buffer (as a search loop does), and only the first
//! half of the rows.

use cds::decode::{check_complete, decode_rgb_rows_into};
use cds::{decode_gray16, decode_rgb, RgbImage};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/cdm");

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{rel}")).expect("fixture is readable")
}

/// Re-encodes a CDM as a little-endian LZW TIFF with the horizontal
/// predictor and 8 rows per strip (there is no 1210x566 LZW fixture).
fn lzw_tiff(img: &RgbImage) -> Vec<u8> {
    const ROWS_PER_STRIP: usize = 8;
    let mut file = b"II*\0\0\0\0\0".to_vec();
    let (mut offsets, mut counts) = (Vec::new(), Vec::new());
    for rows in img.pixels.chunks(img.width * ROWS_PER_STRIP) {
        let mut raw = Vec::with_capacity(rows.len() * 3);
        for row in rows.chunks(img.width) {
            let mut prev = [0u8; 3];
            for &p in row {
                let rgb = [(p >> 16) as u8, (p >> 8) as u8, p as u8];
                raw.extend(rgb.iter().zip(prev).map(|(v, l)| v.wrapping_sub(l)));
                prev = rgb;
            }
        }
        let packed = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
            .encode(&raw)
            .expect("LZW encodes");
        offsets.push(file.len() as u32);
        counts.push(packed.len() as u32);
        file.extend_from_slice(&packed);
    }
    let mut external = |values: &[u32], short: bool| -> u32 {
        let at = file.len() as u32;
        for &v in values {
            if short {
                file.extend_from_slice(&(v as u16).to_le_bytes());
            } else {
                file.extend_from_slice(&v.to_le_bytes());
            }
        }
        at
    };
    let bits_at = external(&[8, 8, 8], true);
    let offsets_at = external(&offsets, false);
    let counts_at = external(&counts, false);
    let n = offsets.len() as u32;
    let entries: [(u16, u16, u32, u32); 11] = [
        (256, 4, 1, img.width as u32),
        (257, 4, 1, img.height as u32),
        (258, 3, 3, bits_at),
        (259, 3, 1, 5),
        (262, 3, 1, 2),
        (273, 4, n, offsets_at),
        (277, 3, 1, 3),
        (278, 4, 1, ROWS_PER_STRIP as u32),
        (279, 4, n, counts_at),
        (284, 3, 1, 1),
        (317, 3, 1, 2),
    ];
    let ifd = file.len() as u32;
    file[4..8].copy_from_slice(&ifd.to_le_bytes());
    file.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, typ, count, value) in entries {
        file.extend_from_slice(&tag.to_le_bytes());
        file.extend_from_slice(&typ.to_le_bytes());
        file.extend_from_slice(&count.to_le_bytes());
        file.extend_from_slice(&value.to_le_bytes());
    }
    file.extend_from_slice(&[0; 4]);
    file
}

/// The baseline: the `image` crate's decode to 8-bit RGB.
fn image_crate_rgb(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory(bytes)
        .expect("image crate decodes")
        .into_rgb8()
}

/// The baseline with the same output as `cds`: packed `0x00RRGGBB` words.
fn image_crate_packed(bytes: &[u8]) -> Vec<u32> {
    image_crate_rgb(bytes)
        .pixels()
        .map(|p| (u32::from(p[0]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[2]))
        .collect()
}

fn decode(c: &mut Criterion) {
    let packbits = read("cdsearch/ems/12191_JRC2018U.tif");
    let lzw = lzw_tiff(&decode_rgb(&packbits).expect("fixture decodes"));
    let cases = [
        ("tiff_packbits", packbits),
        ("tiff_lzw_predictor", lzw),
        (
            "tiff_uncompressed",
            read("cdsearch/ems/12191_JRC2018U_FL.tif"),
        ),
        ("png_rgb8", read("mips/testMIP.png")),
    ];
    let mut group = c.benchmark_group("decode_1210x566");
    for (name, bytes) in &cases {
        let ours = decode_rgb(bytes).expect("decodes");
        assert_eq!(
            ours.pixels,
            image_crate_packed(bytes),
            "{name}: decoders disagree"
        );
        let half = ours.height / 2;
        group.bench_with_input(BenchmarkId::new("image_crate", name), bytes, |b, bytes| {
            b.iter(|| image_crate_rgb(black_box(bytes)))
        });
        group.bench_with_input(
            BenchmarkId::new("image_crate_packed", name),
            bytes,
            |b, bytes| b.iter(|| image_crate_packed(black_box(bytes))),
        );
        group.bench_with_input(BenchmarkId::new("cds", name), bytes, |b, bytes| {
            b.iter(|| decode_rgb(black_box(bytes)).expect("decodes"))
        });
        let mut reused = RgbImage::black(0, 0);
        for (id, rows) in [("cds_into", usize::MAX), ("cds_into_half_rows", half)] {
            group.bench_with_input(BenchmarkId::new(id, name), bytes, |b, bytes| {
                b.iter(|| decode_rgb_rows_into(black_box(bytes), rows, &mut reused))
            });
        }
        // What detecting a truncated file costs every decode above (it is
        // part of each): the structure walk alone (PNG chunks to IEND,
        // every TIFF strip and tag value within the file).
        group.bench_with_input(
            BenchmarkId::new("cds_check_complete", name),
            bytes,
            |b, bytes| b.iter(|| check_complete(black_box(bytes)).expect("whole")),
        );
    }
    let gradient = read(
        "cdsearch/grad/BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM.png",
    );
    group.bench_function(BenchmarkId::new("image_crate", "png_gray16"), |b| {
        b.iter(|| {
            image::load_from_memory(black_box(&gradient))
                .expect("decodes")
                .into_luma16()
        })
    });
    group.bench_function(BenchmarkId::new("cds", "png_gray16"), |b| {
        b.iter(|| decode_gray16(black_box(&gradient)).expect("decodes"))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = decode
}
criterion_main!(benches);
