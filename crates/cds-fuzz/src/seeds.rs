//! The inputs mutations start from: the repository's CDM fixtures, and
//! small crops of them written in every layout the decoders read (small, so
//! that a million inputs take minutes, not hours).

use std::path::{Path, PathBuf};

use cds::RgbImage;

use crate::mutate::Rng;

/// One seed file.
#[derive(Clone, Debug)]
pub struct Seed {
    /// Where it came from (fixture path, or the layout of a small seed).
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its width and height (a target's expected size in the fuzz loop).
    pub size: (usize, usize),
    /// Whether it is a whole fixture (slow to decode: picked rarely).
    pub fixture: bool,
}

/// The fixture folder of the repository.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/cdm")
}

/// One fixture in this many inputs: a whole CDM takes milliseconds to
/// decode, a small seed microseconds.
const FIXTURE_ODDS: usize = 200;

/// Picks a seed: a whole fixture once in [`FIXTURE_ODDS`], else a small one.
pub fn pick<'a>(seeds: &'a [Seed], rng: &mut Rng) -> &'a Seed {
    let fixtures = seeds.iter().filter(|s| s.fixture).count();
    let small = seeds.len() - fixtures;
    let from_fixtures = fixtures > 0 && (small == 0 || rng.below(FIXTURE_ODDS) == 0);
    let pool = seeds.iter().filter(|s| s.fixture == from_fixtures);
    let count = if from_fixtures { fixtures } else { small };
    pool.clone().nth(rng.below(count)).expect("a seed")
}

/// Every .png and .tif under `dir`, sorted.
fn images_under(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            images_under(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e == "png" || e == "tif" || e == "tiff")
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

/// The fixtures under `dir` and the small seeds cut from them.
pub fn load(dir: &Path) -> std::io::Result<Vec<Seed>> {
    let mut paths = Vec::new();
    images_under(dir, &mut paths)?;
    let mut seeds = Vec::new();
    for path in paths {
        let bytes = std::fs::read(&path)?;
        let name = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let Ok(image) = cds::decode_rgb(&bytes) else {
            continue;
        };
        seeds.push(Seed {
            name: name.clone(),
            bytes,
            size: (image.width, image.height),
            fixture: true,
        });
        let crop = crop_signal(&image, 13, 9);
        for (layout, bytes) in small_files(&crop) {
            seeds.push(Seed {
                name: format!("{name} 13x9 {layout}"),
                bytes,
                size: (crop.width, crop.height),
                fixture: false,
            });
        }
    }
    Ok(seeds)
}

/// A `width` x `height` crop around the image's brightest pixel (so crops
/// of CDMs hold signal, not black).
fn crop_signal(image: &RgbImage, width: usize, height: usize) -> RgbImage {
    let width = width.min(image.width);
    let height = height.min(image.height);
    let brightest = (0..image.pixels.len())
        .max_by_key(|&i| {
            let p = image.pixels[i];
            (p >> 16 & 0xff) + (p >> 8 & 0xff) + (p & 0xff)
        })
        .unwrap_or(0);
    let (bx, by) = (brightest % image.width, brightest / image.width);
    let x0 = bx.saturating_sub(width / 2).min(image.width - width);
    let y0 = by.saturating_sub(height / 2).min(image.height - height);
    let mut out = RgbImage::black(width, height);
    for y in 0..height {
        for x in 0..width {
            out.pixels[y * width + x] = image.get(x0 + x, y0 + y);
        }
    }
    out
}

fn rgb(p: u32) -> [u8; 3] {
    [(p >> 16) as u8, (p >> 8) as u8, p as u8]
}

/// The image as samples of a PNG color type and bit depth (gray and
/// palette from the green channel).
fn png_samples(img: &RgbImage, color: png::ColorType, bits: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for row in img.pixels.chunks(img.width) {
        let mut packed: Vec<u8> = Vec::new();
        let mut acc = 0u16;
        let mut filled = 0;
        for &p in row {
            let [r, g, b] = rgb(p);
            let samples: Vec<u8> = match color {
                png::ColorType::Grayscale | png::ColorType::Indexed => vec![g],
                png::ColorType::GrayscaleAlpha => vec![g, 255],
                png::ColorType::Rgb => vec![r, g, b],
                png::ColorType::Rgba => vec![r, g, b, 200],
            };
            for s in samples {
                match bits {
                    16 => packed.extend_from_slice(&[s, s ^ 0x5a]),
                    8 => packed.push(s),
                    _ => {
                        acc = (acc << bits) | u16::from(s >> (8 - bits));
                        filled += bits;
                        if filled == 8 {
                            packed.push(acc as u8);
                            acc = 0;
                            filled = 0;
                        }
                    }
                }
            }
        }
        if filled > 0 {
            packed.push((acc << (8 - filled)) as u8);
        }
        out.extend(packed);
    }
    out
}

fn png_file(img: &RgbImage, color: png::ColorType, bits: u8, interlaced: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, img.width as u32, img.height as u32);
    encoder.set_color(color);
    encoder.set_depth(match bits {
        1 => png::BitDepth::One,
        2 => png::BitDepth::Two,
        4 => png::BitDepth::Four,
        8 => png::BitDepth::Eight,
        _ => png::BitDepth::Sixteen,
    });
    if color == png::ColorType::Indexed {
        let levels = 1usize << bits;
        let palette: Vec<u8> = (0..levels)
            .flat_map(|i| {
                let v = (i * 255 / (levels - 1)) as u8;
                [v, v / 2, 255 - v]
            })
            .collect();
        encoder.set_palette(palette);
    }
    let mut writer = encoder.write_header().expect("PNG header");
    writer
        .write_image_data(&png_samples(img, color, bits))
        .expect("PNG data");
    writer.finish().expect("PNG end");
    if interlaced {
        return interlace(&out, img, color, bits);
    }
    out
}

/// The Adam7 passes: first column and row, column and row steps.
pub(crate) const ADAM7: [(usize, usize, usize, usize); 7] = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
];

/// Rewrites a non-interlaced PNG of `img` as an Adam7-interlaced one (the
/// `png` crate writes no interlaced files): IHDR's interlace byte set, the
/// image data replaced by the passes, every other chunk kept.
fn interlace(plain: &[u8], img: &RgbImage, color: png::ColorType, bits: u8) -> Vec<u8> {
    use std::io::Write;
    let mut raw = Vec::new();
    for (x0, y0, dx, dy) in ADAM7 {
        let (w, h) = (
            img.width.saturating_sub(x0).div_ceil(dx),
            img.height.saturating_sub(y0).div_ceil(dy),
        );
        if w == 0 || h == 0 {
            continue;
        }
        let mut pass = RgbImage::black(w, h);
        for y in 0..h {
            for x in 0..w {
                pass.pixels[y * w + x] = img.get(x0 + x * dx, y0 + y * dy);
            }
        }
        let samples = png_samples(&pass, color, bits);
        for row in samples.chunks(samples.len() / h) {
            raw.push(0);
            raw.extend_from_slice(row);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&raw).expect("deflate");
    let idat = z.finish().expect("deflate");
    let mut out = plain[..8].to_vec();
    let mut at = 8;
    let mut wrote_idat = false;
    while at + 8 <= plain.len() {
        let len = u32::from_be_bytes([plain[at], plain[at + 1], plain[at + 2], plain[at + 3]]);
        let kind: [u8; 4] = plain[at + 4..at + 8].try_into().expect("4 bytes");
        let mut data = plain[at + 8..at + 8 + len as usize].to_vec();
        at += 12 + len as usize;
        match &kind {
            b"IDAT" if wrote_idat => continue,
            b"IDAT" => {
                data = idat.clone();
                wrote_idat = true;
            }
            b"IHDR" => data[12] = 1,
            _ => {}
        }
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&kind);
        out.extend_from_slice(&data);
        let mut crc = flate2::Crc::new();
        crc.update(&kind);
        crc.update(&data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    out
}

/// How a small TIFF seed is laid out.
#[derive(Clone, Copy, Debug)]
struct TiffLayout {
    big_endian: bool,
    sixteen: bool,
    /// 1 gray, 3 RGB, 4 RGBA.
    samples: u16,
    palette: bool,
    compression: u16,
    predictor: bool,
    planar: bool,
    rows_per_strip: usize,
}

/// Writes a TIFF of `img` in `layout`: strips after the header, then the
/// IFD and its arrays.
fn tiff_file(img: &RgbImage, layout: TiffLayout) -> Vec<u8> {
    let be = layout.big_endian;
    let sample_bytes = if layout.sixteen { 2 } else { 1 };
    let samples = usize::from(layout.samples);
    let planes = if layout.planar { samples } else { 1 };
    let per_pixel = if layout.planar { 1 } else { samples };
    let mut file = if be {
        b"MM\0*\0\0\0\0".to_vec()
    } else {
        b"II*\0\0\0\0\0".to_vec()
    };
    let (mut offsets, mut counts) = (Vec::new(), Vec::new());
    for plane in 0..planes {
        for rows in img.pixels.chunks(img.width * layout.rows_per_strip) {
            let mut raw = Vec::new();
            for row in rows.chunks(img.width) {
                let mut line = Vec::new();
                for &p in row {
                    let [r, g, b] = rgb(p);
                    let all = [r, g, b, 180];
                    let chosen: Vec<u8> = match (layout.planar, samples) {
                        (true, 1) | (false, 1) => vec![g],
                        (true, _) => vec![all[plane]],
                        (false, n) => all[..n].to_vec(),
                    };
                    for s in chosen {
                        if layout.sixteen {
                            let v = u16::from(s) * 257;
                            line.extend(if be { v.to_be_bytes() } else { v.to_le_bytes() });
                        } else {
                            line.push(s);
                        }
                    }
                }
                if layout.predictor {
                    predict(&mut line, per_pixel, layout.sixteen, be);
                }
                raw.extend(line);
            }
            let stored = match layout.compression {
                5 => weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                    .encode(&raw)
                    .expect("LZW"),
                32773 => {
                    let mut out = Vec::new();
                    for line in raw.chunks(img.width * per_pixel * sample_bytes) {
                        cdsearch::encode::packbits(line, &mut out);
                    }
                    out
                }
                _ => raw,
            };
            offsets.push(file.len() as u32);
            counts.push(stored.len() as u32);
            file.extend(stored);
        }
    }
    let put16 =
        |f: &mut Vec<u8>, v: u16| f.extend(if be { v.to_be_bytes() } else { v.to_le_bytes() });
    let put32 =
        |f: &mut Vec<u8>, v: u32| f.extend(if be { v.to_be_bytes() } else { v.to_le_bytes() });
    // Arrays too long for an IFD entry go before the IFD.
    let external = |values: &[u32], short: bool, file: &mut Vec<u8>| -> u32 {
        let at = file.len() as u32;
        for &v in values {
            if short {
                put16(file, v as u16);
            } else {
                put32(file, v);
            }
        }
        at
    };
    let bits = if layout.sixteen { 16 } else { 8 };
    let bits_value = if samples > 2 {
        external(&vec![bits; samples], true, &mut file)
    } else {
        bits
    };
    let offsets_value = if offsets.len() > 1 {
        external(&offsets, false, &mut file)
    } else {
        offsets[0]
    };
    let counts_value = if counts.len() > 1 {
        external(&counts, false, &mut file)
    } else {
        counts[0]
    };
    let colormap: Vec<u32> = (0..768u32)
        .map(|i| ((i % 256) * 257) ^ ((i / 256) * 0x1111))
        .collect();
    let colormap_at = external(&colormap, true, &mut file);
    let photometric = match (layout.palette, samples) {
        (true, _) => 3,
        (false, 1) => 1,
        _ => 2,
    };
    let mut entries: Vec<(u16, u16, u32, u32)> = vec![
        (256, 4, 1, img.width as u32),
        (257, 4, 1, img.height as u32),
        (258, 3, samples as u32, bits_value),
        (259, 3, 1, u32::from(layout.compression)),
        (262, 3, 1, photometric),
        (273, 4, offsets.len() as u32, offsets_value),
        (277, 3, 1, samples as u32),
        (278, 4, 1, layout.rows_per_strip as u32),
        (279, 4, counts.len() as u32, counts_value),
        (284, 3, 1, if layout.planar { 2 } else { 1 }),
        (317, 3, 1, if layout.predictor { 2 } else { 1 }),
    ];
    if layout.palette {
        entries.push((320, 3, 768, colormap_at));
    }
    if file.len() % 2 == 1 {
        file.push(0);
    }
    let ifd = file.len() as u32;
    put16(&mut file, entries.len() as u16);
    for (tag, kind, count, value) in entries {
        put16(&mut file, tag);
        put16(&mut file, kind);
        put32(&mut file, count);
        // A single SHORT sits in the first two bytes of the value field.
        if kind == 3 && count == 1 {
            put16(&mut file, value as u16);
            put16(&mut file, 0);
        } else if kind == 3 && count == 2 {
            put16(&mut file, value as u16);
            put16(&mut file, value as u16);
        } else {
            put32(&mut file, value);
        }
    }
    put32(&mut file, 0);
    let ifd_bytes = if be {
        ifd.to_be_bytes()
    } else {
        ifd.to_le_bytes()
    };
    file[4..8].copy_from_slice(&ifd_bytes);
    file
}

/// Applies the horizontal predictor (differences to the sample one pixel
/// to the left) to a row.
fn predict(line: &mut [u8], per_pixel: usize, sixteen: bool, be: bool) {
    if sixteen {
        let stride = 2 * per_pixel;
        for at in (stride..line.len()).step_by(2).rev() {
            let read = |l: &[u8], i: usize| {
                if be {
                    u16::from_be_bytes([l[i], l[i + 1]])
                } else {
                    u16::from_le_bytes([l[i], l[i + 1]])
                }
            };
            let v = read(line, at).wrapping_sub(read(line, at - stride));
            let pair = if be { v.to_be_bytes() } else { v.to_le_bytes() };
            line[at..at + 2].copy_from_slice(&pair);
        }
    } else {
        for at in (per_pixel..line.len()).rev() {
            line[at] = line[at].wrapping_sub(line[at - per_pixel]);
        }
    }
}

/// `img` in every layout: PNG color types and depths, interlaced or not;
/// TIFF byte orders, depths, sample counts, palette, compressions,
/// predictor and planar strips.
pub fn small_files(img: &RgbImage) -> Vec<(String, Vec<u8>)> {
    use png::ColorType::*;
    let mut files = Vec::new();
    let pngs = [
        (Grayscale, 1),
        (Grayscale, 4),
        (Grayscale, 8),
        (Grayscale, 16),
        (GrayscaleAlpha, 8),
        (Rgb, 8),
        (Rgb, 16),
        (Rgba, 8),
        (Rgba, 16),
        (Indexed, 2),
        (Indexed, 8),
    ];
    for (color, bits) in pngs {
        for interlaced in [false, true] {
            files.push((
                format!("png {color:?} {bits}-bit interlaced={interlaced}"),
                png_file(img, color, bits, interlaced),
            ));
        }
    }
    files.push((
        "png (cdsearch encoder)".into(),
        cdsearch::encode::encode_png(img).expect("PNG"),
    ));
    files.push((
        "tiff (cdsearch PackBits encoder)".into(),
        cdsearch::encode::encode_packbits_tiff(img).expect("TIFF"),
    ));
    let base = TiffLayout {
        big_endian: false,
        sixteen: false,
        samples: 3,
        palette: false,
        compression: 1,
        predictor: false,
        planar: false,
        rows_per_strip: 4,
    };
    let mut layouts = Vec::new();
    for compression in [1, 5, 32773] {
        for samples in [1, 3, 4] {
            for sixteen in [false, true] {
                layouts.push(TiffLayout {
                    compression,
                    samples,
                    sixteen,
                    big_endian: sixteen && compression != 5,
                    ..base
                });
            }
        }
    }
    layouts.push(TiffLayout {
        compression: 5,
        predictor: true,
        ..base
    });
    layouts.push(TiffLayout {
        compression: 5,
        predictor: true,
        sixteen: true,
        big_endian: true,
        samples: 1,
        ..base
    });
    layouts.push(TiffLayout {
        planar: true,
        compression: 32773,
        ..base
    });
    layouts.push(TiffLayout {
        planar: true,
        samples: 4,
        compression: 5,
        predictor: true,
        rows_per_strip: 100,
        ..base
    });
    layouts.push(TiffLayout {
        palette: true,
        samples: 1,
        rows_per_strip: 1,
        ..base
    });
    for layout in layouts {
        files.push((format!("tiff {layout:?}"), tiff_file(img, layout)));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_small_layout_decodes_to_its_size() {
        let mut img = RgbImage::black(13, 9);
        for (i, p) in img.pixels.iter_mut().enumerate() {
            *p = (i as u32 * 0x0001_0307) & 0x00ff_ffff;
        }
        for (layout, bytes) in small_files(&img) {
            let decoded = cds::decode_rgb(&bytes).unwrap_or_else(|e| panic!("{layout}: {e}"));
            assert_eq!((decoded.width, decoded.height), (13, 9), "{layout}");
        }
    }

    #[test]
    fn rgb_layouts_keep_the_pixels() {
        let mut img = RgbImage::black(13, 9);
        for (i, p) in img.pixels.iter_mut().enumerate() {
            *p = (i as u32 * 0x0001_0307) & 0x00ff_ffff;
        }
        for (layout, bytes) in small_files(&img) {
            let png_rgb8 = layout.starts_with("png Rgb") && layout.contains(" 8-bit");
            let tiff_rgb = layout.starts_with("tiff Tiff")
                && (layout.contains("samples: 3") || layout.contains("samples: 4"));
            let rgb8 = png_rgb8 || tiff_rgb || layout.contains("cdsearch");
            if rgb8 {
                assert_eq!(cds::decode_rgb(&bytes).unwrap(), img, "{layout}");
            }
        }
    }
}
