//! Encoding RGB images as CDM files: PNG (fast deflate) and TIFF with PackBits
//! compression laid out as Fiji writes CDMs (big-endian, 8 rows per strip).

use cds::image::channels;
use cds::RgbImage;

/// Why an image could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The PNG encoder failed.
    #[error("cannot encode PNG: {0}")]
    Png(#[from] png::EncodingError),
    /// The image is too large for a baseline TIFF.
    #[error("image {width}x{height} is too large for a TIFF (expected < 4 GiB of data)")]
    TooLarge {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
}

/// The image as interleaved RGB bytes, row-major.
fn rgb_bytes(img: &RgbImage) -> Vec<u8> {
    img.pixels
        .iter()
        .flat_map(|&p| {
            let (r, g, b) = channels(p);
            [r, g, b]
        })
        .collect()
}

/// Encodes an 8-bit RGB PNG with the encoder's fast compression.
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, img.width as u32, img.height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb_bytes(img))?;
    writer.finish()?;
    Ok(out)
}

/// Appends the PackBits encoding of `data` to `out` (literal runs of up to
/// 128 bytes, repeat runs of 2 to 128 bytes).
pub fn packbits(data: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < data.len() {
        let run = data[i..]
            .iter()
            .take(128)
            .take_while(|&&b| b == data[i])
            .count();
        if run >= 2 {
            out.push((1 - run as i16) as u8);
            out.push(data[i]);
            i += run;
            continue;
        }
        let start = i;
        while i < data.len() && i - start < 128 {
            if i + 2 < data.len() && data[i] == data[i + 1] && data[i] == data[i + 2] {
                break;
            }
            i += 1;
        }
        out.push((i - start - 1) as u8);
        out.extend_from_slice(&data[start..i]);
    }
}

/// Rows per strip, as in the CDMs Fiji writes.
const ROWS_PER_STRIP: usize = 8;

/// A big-endian TIFF IFD entry: tag, type (3 = SHORT, 4 = LONG, 5 =
/// RATIONAL), count, value or offset (SHORT values left-aligned).
fn ifd_entry(out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32) {
    out.extend_from_slice(&tag.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    if kind == 3 && count == 1 {
        out.extend_from_slice(&(value as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
    } else {
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Encodes a baseline RGB TIFF, PackBits-compressed per row, 8 rows per
/// strip, big-endian.
pub fn encode_packbits_tiff(img: &RgbImage) -> Result<Vec<u8>, EncodeError> {
    let too_large = || EncodeError::TooLarge {
        width: img.width,
        height: img.height,
    };
    let rgb = rgb_bytes(img);
    let row_len = img.width * 3;
    let strips = img.height.div_ceil(ROWS_PER_STRIP);
    let mut data = Vec::with_capacity(rgb.len() / 8);
    let mut counts = Vec::with_capacity(strips);
    for strip in rgb.chunks(row_len * ROWS_PER_STRIP) {
        let before = data.len();
        for row in strip.chunks(row_len) {
            packbits(row, &mut data);
        }
        counts.push(u32::try_from(data.len() - before).map_err(|_| too_large())?);
    }

    const ENTRIES: u32 = 12;
    let ifd_len = 2 + 12 * ENTRIES + 4;
    let bits_at = 8 + ifd_len;
    let offsets_at = bits_at + 6;
    let counts_at = offsets_at + 4 * strips as u32;
    let res_at = counts_at + 4 * strips as u32;
    let data_at = res_at + 16;
    u32::try_from(data_at as usize + data.len()).map_err(|_| too_large())?;

    let mut out = Vec::with_capacity(data_at as usize + data.len());
    out.extend_from_slice(b"MM\0\x2a");
    out.extend_from_slice(&8u32.to_be_bytes());
    out.extend_from_slice(&(ENTRIES as u16).to_be_bytes());
    let strips32 = strips as u32;
    let width = img.width as u32;
    let height = img.height as u32;
    ifd_entry(&mut out, 256, 4, 1, width);
    ifd_entry(&mut out, 257, 4, 1, height);
    ifd_entry(&mut out, 258, 3, 3, bits_at);
    ifd_entry(&mut out, 259, 3, 1, 32773);
    ifd_entry(&mut out, 262, 3, 1, 2);
    ifd_entry(&mut out, 273, 4, strips32, offsets_at);
    ifd_entry(&mut out, 277, 3, 1, 3);
    ifd_entry(&mut out, 278, 3, 1, ROWS_PER_STRIP as u32);
    ifd_entry(&mut out, 279, 4, strips32, counts_at);
    ifd_entry(&mut out, 282, 5, 1, res_at);
    ifd_entry(&mut out, 283, 5, 1, res_at + 8);
    ifd_entry(&mut out, 296, 3, 1, 1);
    out.extend_from_slice(&0u32.to_be_bytes());
    for _ in 0..3 {
        out.extend_from_slice(&8u16.to_be_bytes());
    }
    let mut offset = data_at;
    for &count in &counts {
        out.extend_from_slice(&offset.to_be_bytes());
        offset += count;
    }
    for &count in &counts {
        out.extend_from_slice(&count.to_be_bytes());
    }
    for _ in 0..2 {
        out.extend_from_slice(&72u32.to_be_bytes());
        out.extend_from_slice(&1u32.to_be_bytes());
    }
    debug_assert_eq!(out.len(), data_at as usize);
    out.extend_from_slice(&data);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpackbits(mut data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        while let [n, rest @ ..] = data {
            let n = *n as i8;
            if n >= 0 {
                let len = n as usize + 1;
                out.extend_from_slice(&rest[..len]);
                data = &rest[len..];
            } else {
                out.extend(std::iter::repeat_n(rest[0], (1 - n as isize) as usize));
                data = &rest[1..];
            }
        }
        out
    }

    #[test]
    fn packbits_round_trips_runs_and_literals() {
        let mut data = vec![0u8; 300];
        data.extend((1..=255u8).cycle().take(400));
        data.extend([7, 7, 1, 2, 2, 2, 3]);
        let mut packed = Vec::new();
        packbits(&data, &mut packed);
        assert_eq!(unpackbits(&packed), data);
        // 300 zeros take three repeat runs of two bytes each.
        assert_eq!(&packed[..6], &[0x81, 0, 0x81, 0, 0xD5, 0]);
    }

    fn gradient(width: usize, height: usize) -> RgbImage {
        let pixels = (0..width * height)
            .map(|i| {
                if i % 7 < 3 {
                    0
                } else {
                    (i as u32).wrapping_mul(2_654_435_761) & 0xFF_FFFF
                }
            })
            .collect();
        RgbImage {
            width,
            height,
            pixels,
        }
    }

    #[test]
    fn png_and_tiff_decode_to_the_same_pixels() {
        let img = gradient(61, 19);
        let png = encode_png(&img).unwrap();
        assert_eq!(cds::decode_rgb(&png).unwrap(), img);
        let tif = encode_packbits_tiff(&img).unwrap();
        assert_eq!(cds::decode_rgb(&tif).unwrap(), img);
    }
}
