//! Hand-made images for each supported PNG and TIFF variant, checked
//! against values computed straight from the samples written (and against
//! the `image` crate and zune-png where they read the variant), plus
//! corrupt, truncated and unsupported inputs, which must give the right
//! typed error and never panic.

use std::io::Write;

use cds::decode::{decode_rgb_rows, image_size};
use cds::{decode_gray16, decode_rgb, DecodeError, RgbImage};

/// Deterministic pseudo-random numbers (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }
}

/// Samples of `bits` bits (1 to 16), row-major: the left half of each row
/// noisy, the right half constant, so that compressors see runs and
/// literals.
fn samples(width: usize, height: usize, per_pixel: usize, bits: u32, seed: u64) -> Vec<u16> {
    let mut rng = Lcg(seed);
    let max = (1u32 << bits) - 1;
    let mut out = Vec::with_capacity(width * height * per_pixel);
    for y in 0..height {
        for x in 0..width {
            for c in 0..per_pixel {
                let v = if x < width / 2 {
                    rng.next() % (max + 1)
                } else {
                    (y as u32 * 37 + c as u32 * 101) % (max + 1)
                };
                out.push(v as u16);
            }
        }
    }
    out
}

fn pack(r: u8, g: u8, b: u8) -> u32 {
    (u32::from(r) << 16) | (u32::from(g) << 8) | u32::from(b)
}

/// A sample scaled to 8 bits: 8-bit as is, 16-bit as round(v * 255 / 65535).
fn to8(v: u16, bits: u32) -> u8 {
    match bits {
        16 => (f64::from(v) * 255.0 / 65535.0).round() as u8,
        _ => v as u8,
    }
}

fn rgb_of(bytes: &[u8]) -> RgbImage {
    decode_rgb(bytes).unwrap_or_else(|e| panic!("decode failed: {e}"))
}

/// Checks the full decode and row-limited decodes against `expected`.
fn check_rgb(what: &str, bytes: &[u8], width: usize, height: usize, expected: &[u32]) {
    assert_eq!(image_size(bytes), Ok((width, height)), "{what}");
    let img = rgb_of(bytes);
    assert_eq!((img.width, img.height), (width, height), "{what}");
    assert_eq!(img.pixels, expected, "{what}");
    for rows in [0, 1, height / 2, height, height + 3] {
        let part = decode_rgb_rows(bytes, rows).unwrap();
        let split = rows.min(height) * width;
        assert_eq!(
            part.pixels[..split],
            expected[..split],
            "{what}, {rows} rows"
        );
        assert!(
            part.pixels[split..].iter().all(|&p| p == 0),
            "{what}, {rows} rows"
        );
    }
}

/// Compares with the `image` crate when it reads the file (8-bit output).
fn check_against_image_crate(what: &str, bytes: &[u8], expected: &[u32], must_read: bool) {
    match image::load_from_memory(bytes) {
        Ok(img) => {
            let theirs: Vec<u32> = img
                .to_rgb8()
                .pixels()
                .map(|p| pack(p[0], p[1], p[2]))
                .collect();
            assert_eq!(theirs, expected, "{what}: image crate disagrees");
        }
        Err(e) => assert!(!must_read, "{what}: image crate failed: {e}"),
    }
}

// ---------------------------------------------------------------- TIFF ---

const RGB: u16 = 2;
const GRAY: u16 = 1;
const WHITE_IS_ZERO: u16 = 0;
const PALETTE: u16 = 3;
const NONE: u16 = 1;
const LZW: u16 = 5;
const PACKBITS: u16 = 32773;

/// What to write in a hand-made TIFF.
#[derive(Clone, Debug)]
struct TiffSpec {
    big_endian: bool,
    width: usize,
    height: usize,
    samples: usize,
    bits: u32,
    photometric: u16,
    compression: u16,
    predictor: bool,
    planar: bool,
    rows_per_strip: usize,
    /// Extra or overriding tags: (tag, type, values).
    extra: Vec<(u16, u16, Vec<u32>)>,
}

impl TiffSpec {
    fn new(photometric: u16, samples: usize, bits: u32, compression: u16) -> Self {
        TiffSpec {
            big_endian: false,
            width: 13,
            height: 11,
            samples,
            bits,
            photometric,
            compression,
            predictor: false,
            planar: false,
            rows_per_strip: 4,
            extra: Vec::new(),
        }
    }
}

/// Greedy PackBits: runs of 3 or more equal bytes become run packets.
fn packbits(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut literal: Vec<u8> = Vec::new();
    let flush = |literal: &mut Vec<u8>, out: &mut Vec<u8>| {
        for chunk in literal.chunks(128) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
        literal.clear();
    };
    while i < data.len() {
        let run = data[i..]
            .iter()
            .take(128)
            .take_while(|&&b| b == data[i])
            .count();
        if run >= 3 {
            flush(&mut literal, &mut out);
            out.push((1i16 - run as i16) as u8);
            out.push(data[i]);
            i += run;
        } else {
            literal.push(data[i]);
            i += 1;
        }
    }
    flush(&mut literal, &mut out);
    out
}

fn compress(spec: &TiffSpec, raw: &[u8]) -> Vec<u8> {
    match spec.compression {
        NONE => raw.to_vec(),
        LZW => weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
            .encode(raw)
            .unwrap(),
        PACKBITS => packbits(raw),
        c => panic!("no test encoder for compression {c}"),
    }
}

/// The bytes of rows y0..y1 of one plane (chunky: all samples), with the
/// horizontal predictor applied when the spec asks for it.
fn strip_bytes(
    spec: &TiffSpec,
    data: &[u16],
    plane: Option<usize>,
    y0: usize,
    y1: usize,
) -> Vec<u8> {
    let per_pixel = if plane.is_some() { 1 } else { spec.samples };
    let mask = ((1u32 << spec.bits) - 1) as u16;
    let mut out = Vec::new();
    for y in y0..y1 {
        let row: Vec<u16> = (0..spec.width * per_pixel)
            .map(|i| {
                let (x, c) = (i / per_pixel, plane.unwrap_or(i % per_pixel));
                data[(y * spec.width + x) * spec.samples + c]
            })
            .collect();
        for (i, &v) in row.iter().enumerate() {
            let v = if spec.predictor && i >= per_pixel {
                v.wrapping_sub(row[i - per_pixel]) & mask
            } else {
                v
            };
            match (spec.bits, spec.big_endian) {
                (16, true) => out.extend_from_slice(&v.to_be_bytes()),
                (16, false) => out.extend_from_slice(&v.to_le_bytes()),
                _ => out.push(v as u8),
            }
        }
    }
    out
}

/// Writes a TIFF: header, strips, out-of-line tag values, then the IFD last
/// (so that any truncation cuts something the decoder needs).
fn build_tiff(spec: &TiffSpec, data: &[u16]) -> Vec<u8> {
    let be = spec.big_endian;
    let u16b = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let u32b = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut file: Vec<u8> = if be {
        b"MM\0*".to_vec()
    } else {
        b"II*\0".to_vec()
    };
    file.extend_from_slice(&[0; 4]);
    let planes: Vec<Option<usize>> = if spec.planar {
        (0..spec.samples).map(Some).collect()
    } else {
        vec![None]
    };
    let (mut offsets, mut counts) = (Vec::new(), Vec::new());
    for &plane in &planes {
        for y0 in (0..spec.height).step_by(spec.rows_per_strip) {
            let y1 = (y0 + spec.rows_per_strip).min(spec.height);
            let packed = compress(spec, &strip_bytes(spec, data, plane, y0, y1));
            offsets.push(file.len() as u32);
            counts.push(packed.len() as u32);
            file.extend_from_slice(&packed);
        }
    }
    let mut tags: Vec<(u16, u16, Vec<u32>)> = vec![
        (256, 4, vec![spec.width as u32]),
        (257, 4, vec![spec.height as u32]),
        (258, 3, vec![spec.bits; spec.samples]),
        (259, 3, vec![u32::from(spec.compression)]),
        (262, 3, vec![u32::from(spec.photometric)]),
        (273, 4, offsets),
        (277, 3, vec![spec.samples as u32]),
        (278, 4, vec![spec.rows_per_strip as u32]),
        (279, 4, counts),
        (284, 3, vec![if spec.planar { 2 } else { 1 }]),
    ];
    if spec.predictor {
        tags.push((317, 3, vec![2]));
    }
    for extra in &spec.extra {
        tags.retain(|t| t.0 != extra.0);
        tags.push(extra.clone());
    }
    tags.sort_by_key(|t| t.0);
    let encode = |typ: u16, values: &[u32]| -> Vec<u8> {
        values
            .iter()
            .flat_map(|&v| match typ {
                3 => u16b(v as u16).to_vec(),
                1 => vec![v as u8],
                _ => u32b(v).to_vec(),
            })
            .collect()
    };
    let mut entries = Vec::new();
    for (tag, typ, values) in &tags {
        let mut bytes = encode(*typ, values);
        let field = if bytes.len() <= 4 {
            bytes.resize(4, 0);
            bytes
        } else {
            let at = file.len() as u32;
            file.extend_from_slice(&bytes);
            u32b(at).to_vec()
        };
        entries.push((*tag, *typ, values.len() as u32, field));
    }
    let ifd = file.len() as u32;
    file[4..8].copy_from_slice(&u32b(ifd));
    file.extend_from_slice(&u16b(entries.len() as u16));
    for (tag, typ, count, field) in entries {
        file.extend_from_slice(&u16b(tag));
        file.extend_from_slice(&u16b(typ));
        file.extend_from_slice(&u32b(count));
        file.extend_from_slice(&field);
    }
    file.extend_from_slice(&[0; 4]);
    file
}

/// A 256-entry ColorMap (reds, greens, blues) and the packed colors it means.
fn color_map() -> (Vec<u32>, Vec<u32>) {
    let map: Vec<u32> = (0..768u32)
        .map(|i| i.wrapping_mul(2654435761) % 65536)
        .collect();
    let table = (0..256)
        .map(|i| {
            let c = |k: usize| to8(map[k * 256 + i] as u16, 16);
            pack(c(0), c(1), c(2))
        })
        .collect();
    (map, table)
}

/// The pixels a TIFF of these samples means.
fn tiff_expected(spec: &TiffSpec, data: &[u16], table: &[u32]) -> Vec<u32> {
    let max = ((1u32 << spec.bits) - 1) as u16;
    data.chunks_exact(spec.samples)
        .map(|s| match spec.photometric {
            RGB => pack(
                to8(s[0], spec.bits),
                to8(s[1], spec.bits),
                to8(s[2], spec.bits),
            ),
            GRAY => u32::from(to8(s[0], spec.bits)) * 0x010101,
            WHITE_IS_ZERO => u32::from(to8(max - s[0], spec.bits)) * 0x010101,
            PALETTE => table[usize::from(s[0])],
            p => panic!("no expectation for photometric {p}"),
        })
        .collect()
}

/// The TIFF variants the decoder supports, each with whether the `image`
/// crate reads it too.
fn tiff_variants() -> Vec<(&'static str, TiffSpec, bool)> {
    let (map, _) = color_map();
    let with = |mut s: TiffSpec, f: &dyn Fn(&mut TiffSpec)| {
        f(&mut s);
        s
    };
    let rgb8 = |c| TiffSpec::new(RGB, 3, 8, c);
    vec![
        (
            "rgb8 none one strip",
            with(rgb8(NONE), &|s| s.rows_per_strip = 11),
            true,
        ),
        ("rgb8 none strips", rgb8(NONE), true),
        ("rgb8 packbits", rgb8(PACKBITS), true),
        (
            "rgb8 packbits big-endian",
            with(rgb8(PACKBITS), &|s| s.big_endian = true),
            true,
        ),
        ("rgb8 lzw", rgb8(LZW), true),
        (
            "rgb8 lzw predictor",
            with(rgb8(LZW), &|s| s.predictor = true),
            true,
        ),
        (
            "rgb8 lzw predictor big-endian one row per strip",
            with(rgb8(LZW), &|s| {
                s.predictor = true;
                s.big_endian = true;
                s.rows_per_strip = 1;
            }),
            true,
        ),
        (
            "rgb8 none predictor",
            with(rgb8(NONE), &|s| s.predictor = true),
            true,
        ),
        (
            "rgba8 lzw predictor",
            with(TiffSpec::new(RGB, 4, 8, LZW), &|s| {
                s.predictor = true;
                s.extra.push((338, 3, vec![2]));
            }),
            true,
        ),
        ("gray8 packbits", TiffSpec::new(GRAY, 1, 8, PACKBITS), true),
        (
            "gray8 lzw predictor big-endian",
            with(TiffSpec::new(GRAY, 1, 8, LZW), &|s| {
                s.predictor = true;
                s.big_endian = true;
            }),
            true,
        ),
        (
            "gray8 white-is-zero",
            TiffSpec::new(WHITE_IS_ZERO, 1, 8, NONE),
            false,
        ),
        ("gray16 none", TiffSpec::new(GRAY, 1, 16, NONE), true),
        (
            "gray16 lzw predictor big-endian",
            with(TiffSpec::new(GRAY, 1, 16, LZW), &|s| {
                s.predictor = true;
                s.big_endian = true;
            }),
            true,
        ),
        (
            "rgb16 packbits predictor",
            with(TiffSpec::new(RGB, 3, 16, PACKBITS), &|s| s.predictor = true),
            true,
        ),
        (
            "rgb16 none big-endian",
            with(TiffSpec::new(RGB, 3, 16, NONE), &|s| s.big_endian = true),
            true,
        ),
        (
            "palette8 packbits",
            with(TiffSpec::new(PALETTE, 1, 8, PACKBITS), &|s| {
                s.extra.push((320, 3, map.clone()));
            }),
            false,
        ),
        (
            "rgb8 planar none",
            with(rgb8(NONE), &|s| s.planar = true),
            false,
        ),
        (
            "rgb8 planar lzw predictor big-endian",
            with(rgb8(LZW), &|s| {
                s.planar = true;
                s.predictor = true;
                s.big_endian = true;
            }),
            false,
        ),
        (
            "gray+alpha8 planar packbits",
            with(TiffSpec::new(GRAY, 2, 8, PACKBITS), &|s| {
                s.planar = true;
                s.extra.push((338, 3, vec![2]));
            }),
            false,
        ),
    ]
}

#[test]
fn tiff_variants_decode_to_their_samples() {
    let (_, table) = color_map();
    for (seed, (what, spec, image_reads)) in tiff_variants().into_iter().enumerate() {
        let data = samples(
            spec.width,
            spec.height,
            spec.samples,
            spec.bits,
            seed as u64,
        );
        let bytes = build_tiff(&spec, &data);
        let expected = tiff_expected(&spec, &data, &table);
        check_rgb(what, &bytes, spec.width, spec.height, &expected);
        check_against_image_crate(what, &bytes, &expected, image_reads);
        let gray = decode_gray16(&bytes);
        match spec.photometric {
            GRAY | WHITE_IS_ZERO => {
                let max = ((1u32 << spec.bits) - 1) as u16;
                let invert = if spec.photometric == GRAY { 0 } else { max };
                let want: Vec<u16> = data
                    .chunks_exact(spec.samples)
                    .map(|s| s[0] ^ invert)
                    .collect();
                assert_eq!(gray.map(|g| g.pixels), Ok(want), "{what}: gray16");
            }
            _ => assert!(
                matches!(gray, Err(DecodeError::Unsupported(_))),
                "{what}: gray16"
            ),
        }
    }
}

/// A TIFF with one tag overridden, for the error cases.
fn tiff_with(tag: u16, typ: u16, values: Vec<u32>) -> Vec<u8> {
    let mut spec = TiffSpec::new(RGB, 3, 8, PACKBITS);
    spec.extra.push((tag, typ, values));
    build_tiff(&spec, &samples(spec.width, spec.height, 3, 8, 1))
}

fn assert_err(what: &str, bytes: &[u8], check: impl Fn(&DecodeError) -> bool) {
    match decode_rgb(bytes) {
        Err(e) => assert!(check(&e), "{what}: unexpected error {e:?}"),
        Ok(_) => panic!("{what}: decoded, expected an error"),
    }
}

fn unsupported_naming(words: &'static [&'static str]) -> impl Fn(&DecodeError) -> bool {
    move |e| matches!(e, DecodeError::Unsupported(m) if words.iter().all(|w| m.contains(w)))
}

#[test]
fn unsupported_tiff_features_are_named() {
    let four_bit = {
        let spec = TiffSpec::new(GRAY, 1, 4, NONE);
        let mut bytes = build_tiff(&spec, &samples(13, 11, 1, 4, 2));
        bytes.extend_from_slice(&[0; 100]);
        bytes
    };
    assert_err(
        "4-bit",
        &four_bit,
        unsupported_naming(&["4 bits per sample"]),
    );
    let cases: Vec<(&str, Vec<u8>, &'static [&'static str])> = vec![
        (
            "32-bit",
            tiff_with(258, 3, vec![32; 3]),
            &["32 bits per sample"],
        ),
        (
            "float",
            tiff_with(339, 3, vec![3; 3]),
            &["SampleFormat 3", "floating-point"],
        ),
        (
            "deflate",
            tiff_with(259, 3, vec![8]),
            &["compression 8", "Deflate"],
        ),
        (
            "jpeg",
            tiff_with(259, 3, vec![7]),
            &["compression 7", "JPEG"],
        ),
        (
            "ycbcr",
            tiff_with(262, 3, vec![6]),
            &["PhotometricInterpretation 6", "YCbCr"],
        ),
        ("predictor 3", tiff_with(317, 3, vec![3]), &["Predictor 3"]),
        ("tiles", tiff_with(322, 3, vec![16]), &["tiled"]),
        ("fill order", tiff_with(266, 3, vec![2]), &["FillOrder 2"]),
        (
            "mixed depths",
            tiff_with(258, 3, vec![8, 16, 8]),
            &["mixed bits per sample"],
        ),
        (
            "100 samples",
            tiff_with(277, 3, vec![100]),
            &["100 samples per pixel"],
        ),
    ];
    for (what, bytes, words) in cases {
        assert_err(what, &bytes, unsupported_naming(words));
    }
    let big_tiff = b"II+\0\x08\0\0\0\0\0\0\0\0\0\0\0";
    assert_err("BigTIFF", big_tiff, unsupported_naming(&["BigTIFF"]));
}

#[test]
fn corrupt_tiffs_say_what_is_wrong() {
    let corrupt = |words: &'static [&'static str]| move |e: &DecodeError| matches!(e, DecodeError::Corrupt(m) if words.iter().all(|w| m.contains(w)));
    let truncated = |e: &DecodeError| matches!(e, DecodeError::Truncated(_));
    let bad_dims = |e: &DecodeError| matches!(e, DecodeError::BadDimensions { .. });
    assert_err("zero width", &tiff_with(256, 4, vec![0]), bad_dims);
    assert_err("huge", &tiff_with(256, 4, vec![u32::MAX]), bad_dims);
    assert_err(
        "strip past end",
        &tiff_with(273, 4, vec![1 << 30, 8, 8]),
        |e| matches!(e, DecodeError::Truncated(m) if m.contains("strip 0") && m.contains("past the end")),
    );
    assert_err(
        "few strips",
        &tiff_with(279, 4, vec![10]),
        corrupt(&["StripByteCounts", "expected 3 strips"]),
    );
    assert_err(
        "no offsets",
        &tiff_with(273, 4, vec![]),
        corrupt(&["StripOffsets"]),
    );
    assert_err(
        "no rows per strip",
        &tiff_with(278, 4, vec![0]),
        corrupt(&["RowsPerStrip is 0"]),
    );
    assert_err(
        "rational width",
        &tiff_with(256, 5, vec![1, 1]),
        corrupt(&["256", "field type 5"]),
    );
    assert_err(
        "short PackBits",
        &tiff_with(279, 4, vec![5, 5, 5]),
        corrupt(&["PackBits strip 0"]),
    );
    let mut garbage_lzw = TiffSpec::new(RGB, 3, 8, LZW);
    garbage_lzw.rows_per_strip = 11;
    let mut bytes = build_tiff(&garbage_lzw, &samples(13, 11, 3, 8, 3));
    bytes[8..40].fill(0xff);
    assert_err("garbage LZW", &bytes, corrupt(&["LZW strip 0"]));
    assert_err("header", b"II*\0\x08\0", truncated);
    assert_err("IFD offset", b"II*\0\xff\0\0\0", truncated);
}

// ----------------------------------------------------------------- PNG ---

fn png_bytes(
    width: usize,
    height: usize,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    palette: Option<(&[u8], &[u8])>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
    enc.set_color(color);
    enc.set_depth(depth);
    if let Some((plte, trns)) = palette {
        enc.set_palette(plte.to_vec());
        enc.set_trns(trns.to_vec());
    }
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(data).unwrap();
    writer.finish().unwrap();
    out
}

/// Packs samples of `bits` bits (MSB first, rows padded to whole bytes),
/// big-endian for 16 bits, as PNG stores them.
fn png_row_bytes(data: &[u16], row_samples: usize, bits: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for row in data.chunks(row_samples) {
        match bits {
            16 => row
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_be_bytes())),
            8 => out.extend(row.iter().map(|&v| v as u8)),
            _ => {
                for chunk in row.chunks(8 / bits as usize) {
                    let mut byte = 0u8;
                    for (k, &v) in chunk.iter().enumerate() {
                        byte |= (v as u8) << (8 - bits as usize * (k + 1));
                    }
                    out.push(byte);
                }
            }
        }
    }
    out
}

/// A small RGB palette of `n` entries.
fn plte(n: usize) -> Vec<u8> {
    (0..n * 3).map(|i| (i * 73 % 256) as u8).collect()
}

#[test]
fn png_variants_decode_to_their_samples() {
    use png::{BitDepth as D, ColorType as C};
    let (w, h) = (13, 11);
    let variants = [
        (C::Rgb, D::Eight, 3),
        (C::Rgba, D::Eight, 4),
        (C::Grayscale, D::Eight, 1),
        (C::GrayscaleAlpha, D::Eight, 2),
        (C::Grayscale, D::Sixteen, 1),
        (C::GrayscaleAlpha, D::Sixteen, 2),
        (C::Rgb, D::Sixteen, 3),
        (C::Rgba, D::Sixteen, 4),
        (C::Grayscale, D::One, 1),
        (C::Grayscale, D::Two, 1),
        (C::Grayscale, D::Four, 1),
        (C::Indexed, D::Eight, 1),
        (C::Indexed, D::Two, 1),
        (C::Indexed, D::Four, 1),
    ];
    for (seed, (color, depth, channels)) in variants.into_iter().enumerate() {
        let what = format!("{color:?} {depth:?}");
        let bits = depth as u32;
        let entries = 1usize << bits.min(8);
        let palette = plte(entries.min(200));
        let mut data = samples(w, h, channels, bits, seed as u64 + 100);
        if color == C::Indexed {
            data.iter_mut().for_each(|v| *v %= palette.len() as u16 / 3);
        }
        let raw = png_row_bytes(&data, w * channels, bits);
        let trns = [7u8, 200];
        let plte_trns = (color == C::Indexed).then_some((&palette[..], &trns[..]));
        let bytes = png_bytes(w, h, color, depth, &raw, plte_trns);
        let gray8 = |v: u16| match bits {
            16 => to8(v, 16),
            b => (u32::from(v) * 255 / ((1 << b) - 1)) as u8,
        };
        let expected: Vec<u32> = data
            .chunks_exact(channels)
            .map(|s| match color {
                C::Rgb | C::Rgba => pack(to8(s[0], bits), to8(s[1], bits), to8(s[2], bits)),
                C::Grayscale | C::GrayscaleAlpha => u32::from(gray8(s[0])) * 0x010101,
                C::Indexed => {
                    let i = usize::from(s[0]) * 3;
                    pack(palette[i], palette[i + 1], palette[i + 2])
                }
            })
            .collect();
        check_rgb(&what, &bytes, w, h, &expected);
        check_against_image_crate(&what, &bytes, &expected, true);
        let gray = decode_gray16(&bytes);
        match color {
            C::Grayscale | C::GrayscaleAlpha => {
                let want: Vec<u16> = data
                    .chunks_exact(channels)
                    .map(|s| {
                        if bits >= 8 {
                            s[0]
                        } else {
                            u16::from(gray8(s[0]))
                        }
                    })
                    .collect();
                assert_eq!(gray.map(|g| g.pixels), Ok(want), "{what}: gray16");
            }
            _ => assert!(
                matches!(gray, Err(DecodeError::Unsupported(_))),
                "{what}: gray16"
            ),
        }
    }
}

/// Appends a PNG chunk with its CRC.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// An Adam7-interlaced 8-bit RGB PNG (the png crate's encoder does not
/// interlace), unfiltered.
fn interlaced_rgb_png(width: usize, height: usize, rgb: &[u8]) -> Vec<u8> {
    const PASSES: [(usize, usize, usize, usize); 7] = [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ];
    let mut raw = Vec::new();
    for (x0, y0, dx, dy) in PASSES {
        if x0 >= width {
            continue;
        }
        for y in (y0..height).step_by(dy) {
            raw.push(0);
            for x in (x0..width).step_by(dx) {
                raw.extend_from_slice(&rgb[(y * width + x) * 3..][..3]);
            }
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&raw).unwrap();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&(width as u32).to_be_bytes());
    ihdr.extend_from_slice(&(height as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 1]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z.finish().unwrap());
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn interlaced_png_decodes() {
    let (w, h) = (13, 11);
    let rgb: Vec<u8> = samples(w, h, 3, 8, 7).iter().map(|&v| v as u8).collect();
    let bytes = interlaced_rgb_png(w, h, &rgb);
    let expected: Vec<u32> = rgb
        .chunks_exact(3)
        .map(|p| pack(p[0], p[1], p[2]))
        .collect();
    check_rgb("interlaced", &bytes, w, h, &expected);
    check_against_image_crate("interlaced", &bytes, &expected, true);
}

#[test]
fn corrupt_pngs_say_what_is_wrong() {
    let rgb: Vec<u8> = samples(13, 11, 3, 8, 9).iter().map(|&v| v as u8).collect();
    let good = png_bytes(
        13,
        11,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        &rgb,
        None,
    );
    let mut bad_crc = good.clone();
    bad_crc[29] ^= 1;
    assert_err(
        "IHDR CRC",
        &bad_crc,
        |e| matches!(e, DecodeError::Corrupt(m) if m.contains("CRC")),
    );
    let mut huge = good.clone();
    huge[16..24].copy_from_slice(&[0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20]);
    assert_err("20000x20000", &huge, |e| {
        *e == DecodeError::BadDimensions {
            width: 20000,
            height: 20000,
            expected: cds::decode::SizeLimit::default(),
        }
    });
    assert_err("GIF", b"GIF89a\x01\0\x01\0", |e| {
        matches!(e, DecodeError::UnknownFormat { .. })
    });
    assert_err("empty", b"", |e| matches!(e, DecodeError::Truncated(_)));
}

// ------------------------------------------------- truncation, fuzzing ---

/// Small files of several kinds for the truncation and byte-flip tests.
fn small_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (what, spec, _) in tiff_variants() {
        let data = samples(spec.width, spec.height, spec.samples, spec.bits, 5);
        files.push((what.to_string(), build_tiff(&spec, &data)));
    }
    let rgb: Vec<u8> = samples(13, 11, 3, 8, 11).iter().map(|&v| v as u8).collect();
    files.push((
        "png rgb".into(),
        png_bytes(
            13,
            11,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &rgb,
            None,
        ),
    ));
    let idx: Vec<u8> = rgb.iter().map(|v| v % 5).collect();
    let pal = plte(5);
    files.push((
        "png palette".into(),
        png_bytes(
            13,
            11,
            png::ColorType::Indexed,
            png::BitDepth::Eight,
            &idx[..143],
            Some((&pal, &[])),
        ),
    ));
    files.push(("png interlaced".into(), interlaced_rgb_png(13, 11, &rgb)));
    files
}

#[test]
fn every_truncation_is_an_error() {
    for (what, bytes) in small_files() {
        assert!(decode_rgb(&bytes).is_ok(), "{what}: whole file");
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            assert!(
                decode_rgb(cut).is_err(),
                "{what}: decoded {len} of {} bytes",
                bytes.len()
            );
            let _ = decode_rgb_rows(cut, 3);
            let _ = decode_gray16(cut);
            let _ = image_size(cut);
        }
    }
}

#[test]
fn random_byte_flips_never_panic() {
    let mut rng = Lcg(42);
    for (_, bytes) in small_files() {
        for _ in 0..400 {
            let mut m = bytes.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(m.len());
                m[at] = match rng.below(3) {
                    0 => m[at] ^ (1 << rng.below(8)),
                    1 => 0xff,
                    _ => rng.next() as u8,
                };
            }
            let _ = decode_rgb(&m);
            let _ = decode_rgb_rows(&m, 5);
            let _ = decode_gray16(&m);
            let _ = image_size(&m);
        }
    }
}
