//! PNG decoding on top of the `png` crate, row by row so that a caller who
//! needs only the first rows stops inflating there.
//!
//! The crate's transformations are left off: palettes, sub-byte depths,
//! 16-bit samples and alpha are handled while converting each row, which
//! is cheaper than expanding to an intermediate RGB(A) row first.

use std::io::Cursor;

use ::png::{BitDepth, ColorType, Decoder, DecodingError, Transformations};

use super::pixel::{Color, Depth, Pixel, RowFormat};
use super::{check_dimensions, DecodeError, Decoded, RowWriter};

/// Width and height from the IHDR chunk, which must follow the signature.
pub(super) fn size(bytes: &[u8]) -> Result<(usize, usize), DecodeError> {
    let ihdr = bytes
        .get(8..24)
        .ok_or_else(|| DecodeError::Truncated("PNG ends inside its IHDR header".into()))?;
    if &ihdr[4..8] != b"IHDR" {
        return Err(DecodeError::Corrupt(
            "PNG does not start with an IHDR chunk".into(),
        ));
    }
    let word = |at: usize| u32::from_be_bytes([ihdr[at], ihdr[at + 1], ihdr[at + 2], ihdr[at + 3]]);
    check_dimensions(u64::from(word(8)), u64::from(word(12)))
}

fn png_error(e: DecodingError) -> DecodeError {
    match e {
        DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated("PNG data ends before the image does".into())
        }
        DecodingError::IoError(io) => DecodeError::Corrupt(format!("PNG: {io}")),
        DecodingError::Format(f) => DecodeError::Corrupt(format!("PNG: {f}")),
        DecodingError::Parameter(p) => DecodeError::Corrupt(format!("PNG: {p}")),
        DecodingError::LimitsExceeded => {
            DecodeError::Unsupported("PNG needs more memory than the decoder's limits allow".into())
        }
    }
}

/// Packs the RGB triples of a PLTE chunk.
fn palette_table(plte: &[u8]) -> Vec<u32> {
    plte.chunks_exact(3)
        .map(|p| (u32::from(p[0]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[2]))
        .collect()
}

/// Unpacks a row of 1-, 2- or 4-bit samples into bytes; gray levels are
/// scaled to the full 8-bit range (a 1-bit 1 becomes 255), palette indexes
/// are kept.
fn unpack_row(src: &[u8], bits: u8, scale_gray: bool, dst: &mut [u8]) {
    let per_byte = 8 / bits;
    let mask = (1u8 << bits) - 1;
    let factor = if scale_gray { 255 / mask } else { 1 };
    let samples = src
        .iter()
        .flat_map(|&b| (1..=per_byte).map(move |k| (b >> (8 - bits * k)) & mask));
    for (out, v) in dst.iter_mut().zip(samples) {
        *out = v * factor;
    }
}

/// Decodes rows `0..rows` of a PNG (all rows if `rows >= height`) into
/// `buffer`'s allocation.
pub(super) fn decode<P: Pixel>(
    bytes: &[u8],
    rows: usize,
    buffer: Vec<P>,
) -> Result<Decoded<P>, DecodeError> {
    let (width, height) = size(bytes)?;
    let mut decoder = Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(png_error)?;
    let info = reader.info();
    let bit_depth = info.bit_depth;
    let interlaced = info.interlaced;
    let table = match (info.color_type, &info.palette) {
        (ColorType::Indexed, Some(plte)) => palette_table(plte),
        (ColorType::Indexed, None) => {
            return Err(DecodeError::Corrupt(
                "palette PNG without a PLTE chunk".into(),
            ))
        }
        _ => Vec::new(),
    };
    let (color, samples) = match info.color_type {
        ColorType::Grayscale => (Color::Gray, 1),
        ColorType::GrayscaleAlpha => (Color::Gray, 2),
        ColorType::Rgb => (Color::Rgb, 3),
        ColorType::Rgba => (Color::Rgb, 4),
        ColorType::Indexed => (Color::Palette(&table), 1),
    };
    P::accepts(color)?;
    let depth = match bit_depth {
        BitDepth::Sixteen => Depth::Sixteen { big_endian: true },
        _ => Depth::Eight,
    };
    let format = RowFormat {
        depth,
        color,
        samples,
    };
    let sub_byte = match bit_depth {
        BitDepth::One => Some(1),
        BitDepth::Two => Some(2),
        BitDepth::Four => Some(4),
        BitDepth::Eight | BitDepth::Sixteen => None,
    };
    let mut unpacked = vec![0u8; if sub_byte.is_some() { width } else { 0 }];
    let mut convert = |src: &[u8], dst: &mut [P]| match sub_byte {
        Some(bits) => {
            unpack_row(src, bits, color == Color::Gray, &mut unpacked);
            P::convert_row(&format, &unpacked, dst);
        }
        None => P::convert_row(&format, src, dst),
    };

    let mut out = RowWriter::new(width, height, buffer);
    let wanted = rows.min(height);
    if interlaced {
        let mut frame = vec![
            0u8;
            reader.output_buffer_size().ok_or_else(|| {
                DecodeError::Unsupported("PNG frame does not fit in memory".into())
            })?
        ];
        let info = reader.next_frame(&mut frame).map_err(png_error)?;
        for src in frame.chunks_exact(info.line_size).take(wanted) {
            convert(src, out.next_row());
        }
    } else {
        for _ in 0..wanted {
            let row = reader.next_row().map_err(png_error)?.ok_or_else(|| {
                DecodeError::Corrupt("PNG image data has fewer rows than its header says".into())
            })?;
            convert(row.data(), out.next_row());
        }
    }
    if wanted == height {
        reader.finish().map_err(png_error)?;
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpack_scales_gray_and_keeps_indexes() {
        let mut out = [0u8; 8];
        unpack_row(&[0b1011_0001], 1, true, &mut out);
        assert_eq!(out, [255, 0, 255, 255, 0, 0, 0, 255]);
        let mut out = [0u8; 3];
        unpack_row(&[0b1110_0100, 0b1100_0000], 2, true, &mut out);
        assert_eq!(out, [255, 170, 85]);
        let mut out = [0u8; 3];
        unpack_row(&[0xa5, 0xf0], 4, false, &mut out);
        assert_eq!(out, [10, 5, 15]);
    }

    #[test]
    fn size_reads_ihdr_and_rejects_short_or_odd_headers() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x04\xba\0\0\x02\x36".to_vec();
        assert_eq!(size(&png), Ok((1210, 566)));
        assert!(matches!(size(&png[..20]), Err(DecodeError::Truncated(_))));
        png[12..16].copy_from_slice(b"IDAT");
        assert!(matches!(size(&png), Err(DecodeError::Corrupt(_))));
    }
}
