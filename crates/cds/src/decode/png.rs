//! PNG decoding on top of the `png` crate, row by row so that a caller who
//! needs only the first rows stops inflating there.
//!
//! The crate's transformations are left off: palettes, sub-byte depths,
//! 16-bit samples and alpha are handled while converting each row, which
//! is cheaper than expanding to an intermediate RGB(A) row first.

use std::io::Cursor;

use ::png::{BitDepth, ColorType, Decoder, DecodingError, Limits, Transformations};

use super::pixel::{Color, Depth, Pixel, RowFormat};
use super::{check_dimensions, DecodeError, Decoded, RowWriter, SizeLimit};

/// Bytes the `png` crate may allocate for chunks besides the rows (ICC
/// profiles, text, palettes...): a CDM has none beyond a few hundred bytes;
/// without a bound a small zlib-compressed iCCP or zTXt chunk could inflate
/// to the crate's default 64 MiB.
const METADATA_BYTES: usize = 1 << 20;

/// The widest PNG pixel, in bytes (16-bit RGBA).
const MAX_PIXEL_BYTES: usize = 8;

/// Width and height as the IHDR chunk, which must follow the signature,
/// claims them (not yet checked against any limit).
pub(super) fn header_size(bytes: &[u8]) -> Result<(u64, u64), DecodeError> {
    let ihdr = bytes
        .get(8..24)
        .ok_or_else(|| DecodeError::Truncated("PNG ends inside its IHDR header".into()))?;
    if &ihdr[4..8] != b"IHDR" {
        return Err(DecodeError::Corrupt(
            "PNG does not start with an IHDR chunk".into(),
        ));
    }
    let word = |at: usize| u32::from_be_bytes([ihdr[at], ihdr[at + 1], ihdr[at + 2], ihdr[at + 3]]);
    Ok((u64::from(word(8)), u64::from(word(12))))
}

/// Walks the chunks after the signature, by their lengths alone, up to
/// IEND: a file cut short ends inside a chunk or before IEND.
pub(super) fn check_chunks(bytes: &[u8]) -> Result<(), DecodeError> {
    let mut at = PNG_SIGNATURE_LEN;
    while at < bytes.len() {
        let header = bytes.get(at..at + 8).ok_or_else(|| {
            DecodeError::Truncated(format!(
                "PNG ends inside the header of the chunk at byte {at} (the file has {} bytes)",
                bytes.len()
            ))
        })?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = String::from_utf8_lossy(&header[4..8]);
        if len > i32::MAX as u32 {
            return Err(DecodeError::Corrupt(format!(
                "PNG chunk {kind} at byte {at} claims {len} bytes, more than the format allows"
            )));
        }
        // Length, type, data, CRC.
        let end = at + 12 + len as usize;
        if end > bytes.len() {
            return Err(DecodeError::Truncated(format!(
                "PNG ends inside its {kind} chunk: the chunk at byte {at} needs {end} bytes, the file has {}",
                bytes.len()
            )));
        }
        if &header[4..8] == b"IEND" {
            return Ok(());
        }
        at = end;
    }
    Err(DecodeError::Truncated(format!(
        "PNG ends after {} bytes without its IEND chunk",
        bytes.len()
    )))
}

/// Length of the PNG signature, before the first chunk.
const PNG_SIGNATURE_LEN: usize = 8;

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
    limit: SizeLimit,
    buffer: Vec<P>,
) -> Result<Decoded<P>, DecodeError> {
    let (width, height) = header_size(bytes)?;
    let (width, height) = check_dimensions(width, height, limit)?;
    check_chunks(bytes)?;
    // The crate's own allocations: a row or two, and the metadata chunks.
    let limits = Limits {
        bytes: 2 * width * MAX_PIXEL_BYTES + METADATA_BYTES,
    };
    let mut decoder = Decoder::new_with_limits(Cursor::new(bytes), limits);
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
        assert_eq!(header_size(&png), Ok((1210, 566)));
        assert!(matches!(
            header_size(&png[..20]),
            Err(DecodeError::Truncated(_))
        ));
        png[12..16].copy_from_slice(b"IDAT");
        assert!(matches!(header_size(&png), Err(DecodeError::Corrupt(_))));
    }

    /// A chunk as the format lays it out (the CRC is not checked by the
    /// walk, so zeros do).
    fn chunk(kind: &[u8; 4], len: usize) -> Vec<u8> {
        let mut c = (len as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.resize(12 + len, 0);
        c
    }

    #[test]
    fn chunk_walk_needs_every_chunk_whole_and_an_iend() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, len) in [(b"IHDR", 13), (b"IDAT", 100), (b"IDAT", 50), (b"IEND", 0)] {
            png.extend(chunk(kind, len));
        }
        assert_eq!(check_chunks(&png), Ok(()));
        let mut trailing = png.clone();
        trailing.extend_from_slice(b"junk after IEND");
        assert_eq!(check_chunks(&trailing), Ok(()));
        let no_iend = png.len() - 12;
        for cut in 8..png.len() {
            let err = check_chunks(&png[..cut]).unwrap_err();
            let DecodeError::Truncated(msg) = err else {
                panic!("cut at {cut}: {err}");
            };
            let want = if [8, 8 + 25, 8 + 25 + 112, no_iend].contains(&cut) {
                "without its IEND chunk"
            } else {
                "ends inside"
            };
            assert!(msg.contains(want), "cut at {cut}: {msg}");
        }
        let mut huge = png.clone();
        huge[8 + 25..8 + 25 + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(check_chunks(&huge), Err(DecodeError::Corrupt(m)) if m.contains("IDAT")));
    }
}
