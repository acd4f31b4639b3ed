//! Decoding of CDM files (PNG, TIFF) into [`RgbImage`] and [`Gray16Image`].
//!
//! PNG goes through the `png` crate row by row; TIFF is parsed and decoded
//! here (uncompressed, PackBits, LZW with or without the horizontal
//! predictor), strip by strip straight into the output. Both can stop after
//! the rows a caller needs ([`decode_rgb_rows`]), because the pixel-match
//! score only reads rows up to its last mask position.
//!
//! Hostile headers are checked before anything is allocated: dimensions are
//! checked against a [`SizeLimit`] (at most [`MAX_PIXELS`] by default, or
//! the exact size a library's targets must have), and every offset and count
//! read from a file is bounds-checked, so no input makes these functions
//! panic or allocate more than its claimed size allows.
//!
//! A file cut short is an error ([`DecodeError::Truncated`]) even when the
//! rows a caller asks for lie before the cut: the container's structure is
//! checked to its end first ([`check_complete`]: the PNG chunks up to IEND,
//! every TIFF strip), which reads only chunk headers and strip tables.

mod pixel;
mod png;
mod tiff;

use crate::image::{Gray16Image, RgbImage};
use pixel::Pixel;

/// The largest image accepted without an expected size (masks, uploaded
/// masks, derived images), in pixels: 4 Mpx (e.g. 2048x2048).
///
/// The largest CDMs in use are 1210x566 (JRC2018 brain, 0.68 Mpx) and
/// 573x1119 (JRC2018 VNC, 0.64 Mpx); 4 Mpx leaves six times that. It bounds
/// what a lying header costs: a decoded 4 Mpx image is 16 MB of packed RGB,
/// and the worst PNG (interlaced 16-bit RGBA, decoded whole) needs 32 MB
/// more, where a 10000x10000 header would ask for 400 MB and 800 MB.
/// Targets are checked against their library's exact size instead
/// ([`SizeLimit::Exactly`]).
pub const MAX_PIXELS: u64 = 4 * 1024 * 1024;

/// The dimensions a decoder accepts, checked against the header before any
/// pixel buffer is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeLimit {
    /// A non-zero width and height, and at most this many pixels.
    Pixels(u64),
    /// Exactly this size (the targets of a library all have their masks'
    /// size).
    Exactly {
        /// Expected width.
        width: usize,
        /// Expected height.
        height: usize,
    },
}

impl Default for SizeLimit {
    /// At most [`MAX_PIXELS`].
    fn default() -> Self {
        SizeLimit::Pixels(MAX_PIXELS)
    }
}

impl std::fmt::Display for SizeLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SizeLimit::Pixels(n) => write!(f, "a non-zero size of at most {n} pixels"),
            SizeLimit::Exactly { width, height } => write!(f, "{width}\u{d7}{height}"),
        }
    }
}

/// Why an image could not be decoded. The caller adds the file name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The data starts with neither the PNG nor a TIFF signature.
    #[error(
        "unknown image format: the data starts with [{magic}], expected a PNG or TIFF signature"
    )]
    UnknownFormat {
        /// The first bytes of the data, in hex.
        magic: String,
    },
    /// The data ends before the image does.
    #[error("truncated image: {0}")]
    Truncated(String),
    /// The data is inconsistent (e.g. an LZW code out of range, a strip
    /// offset past the end of the file).
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// A valid image using a feature these decoders do not handle (bit
    /// depth, compression, samples per pixel, photometric interpretation...).
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// The header's width and height are outside the [`SizeLimit`]
    /// (checked before anything is allocated).
    #[error("image claims {width}\u{d7}{height} pixels, expected {expected}")]
    BadDimensions {
        /// Width from the header.
        width: u64,
        /// Height from the header.
        height: u64,
        /// What was accepted.
        expected: SizeLimit,
    },
}

/// The container formats recognised by their signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Png,
    Tiff,
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const TIFF_SIGNATURES: [&[u8]; 2] = [b"II*\0", b"MM\0*"];
const BIGTIFF_SIGNATURES: [&[u8]; 2] = [b"II+\0", b"MM\0+"];

/// Tells the format from the first bytes.
fn sniff(bytes: &[u8]) -> Result<Format, DecodeError> {
    if bytes.starts_with(PNG_SIGNATURE) {
        return Ok(Format::Png);
    }
    if TIFF_SIGNATURES.iter().any(|s| bytes.starts_with(s)) {
        return Ok(Format::Tiff);
    }
    if BIGTIFF_SIGNATURES.iter().any(|s| bytes.starts_with(s)) {
        return Err(DecodeError::Unsupported(
            "BigTIFF (64-bit offsets); expected classic TIFF".into(),
        ));
    }
    let is_prefix_of = |sig: &[u8]| bytes.len() < sig.len() && sig.starts_with(bytes);
    if is_prefix_of(PNG_SIGNATURE) || TIFF_SIGNATURES.iter().any(|s| is_prefix_of(s)) {
        return Err(DecodeError::Truncated(format!(
            "the data ends after {} bytes, inside the file signature",
            bytes.len()
        )));
    }
    let magic = bytes
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    Err(DecodeError::UnknownFormat { magic })
}

/// Checks header dimensions against `limit` and returns them as `usize`.
fn check_dimensions(
    width: u64,
    height: u64,
    limit: SizeLimit,
) -> Result<(usize, usize), DecodeError> {
    let bad = DecodeError::BadDimensions {
        width,
        height,
        expected: limit,
    };
    let fits = match limit {
        SizeLimit::Pixels(max) => width > 0 && height > 0 && width.saturating_mul(height) <= max,
        SizeLimit::Exactly {
            width: w,
            height: h,
        } => width == w as u64 && height == h as u64,
    };
    match (usize::try_from(width), usize::try_from(height)) {
        (Ok(w), Ok(h)) if fits => Ok((w, h)),
        _ => Err(bad),
    }
}

/// A decoded image of pixels of type `P`, before it is wrapped in the
/// public image types.
struct Decoded<P> {
    width: usize,
    height: usize,
    pixels: Vec<P>,
}

/// An image filled row by row from the top; rows never written are black.
///
/// A reused buffer is overwritten as it is: rows about to be written are not
/// cleared first (zeroing a 2.7 MB image costs about half as much as
/// converting it). A buffer too short grows one row at a time, so that a
/// lying header in a small file costs no more than an address-space
/// reservation.
struct RowWriter<P> {
    width: usize,
    height: usize,
    pixels: Vec<P>,
    written: usize,
}

impl<P: Pixel> RowWriter<P> {
    /// Starts an image in `buffer`, reusing its allocation and contents.
    fn new(width: usize, height: usize, mut buffer: Vec<P>) -> Self {
        buffer.truncate(width * height);
        buffer.reserve_exact(width * height - buffer.len());
        Self {
            width,
            height,
            pixels: buffer,
            written: 0,
        }
    }

    /// The next row, for the caller to overwrite entirely (an empty slice
    /// past the last row).
    fn next_row(&mut self) -> &mut [P] {
        let start = (self.written * self.width).min(self.width * self.height);
        let end = (start + self.width).min(self.width * self.height);
        self.written += 1;
        if self.pixels.len() < end {
            self.pixels.resize(end, P::default());
        }
        &mut self.pixels[start..end]
    }

    /// The image, with the rows not written black.
    fn finish(mut self) -> Decoded<P> {
        let start = (self.written * self.width).min(self.pixels.len());
        self.pixels[start..].fill(P::default());
        self.pixels.resize(self.width * self.height, P::default());
        Decoded {
            width: self.width,
            height: self.height,
            pixels: self.pixels,
        }
    }
}

/// Decodes rows `0..rows` into pixels of type `P`, reusing `buffer`, after
/// checking the size against `limit` and the file's structure to its end.
fn decode_any<P: Pixel>(
    bytes: &[u8],
    rows: usize,
    limit: SizeLimit,
    buffer: Vec<P>,
) -> Result<Decoded<P>, DecodeError> {
    match sniff(bytes)? {
        Format::Png => png::decode(bytes, rows, limit, buffer),
        Format::Tiff => tiff::decode(bytes, rows, limit, buffer),
    }
}

/// Checks that the file is whole: a PNG's chunks all lie within the data
/// and end with IEND, a TIFF's strips all lie within the data. Only chunk
/// headers and strip tables are read, not the pixel data, so this costs
/// next to nothing; every decode function does it first, so that a target
/// cut short is reported even when its missing part lies past the rows a
/// search reads.
pub fn check_complete(bytes: &[u8]) -> Result<(), DecodeError> {
    match sniff(bytes)? {
        Format::Png => png::check_chunks(bytes),
        Format::Tiff => tiff::check_strips(bytes),
    }
}

/// Decodes PNG or TIFF bytes into packed 8-bit RGB (`0x00RRGGBB`).
///
/// Alpha is dropped, palettes are expanded, gray is replicated into the
/// three channels, and 16-bit samples are scaled as `round(v * 255 / 65535)`.
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, DecodeError> {
    decode_rgb_rows(bytes, usize::MAX)
}

/// Like [`decode_rgb`], but decodes only rows `0..rows`; the image keeps its
/// full size and rows from `rows` on are left black.
///
/// Decoding stops as soon as the format allows: TIFF strips past the last
/// needed row are not read, PNG rows after it are not inflated. The headers
/// are always checked.
pub fn decode_rgb_rows(bytes: &[u8], rows: usize) -> Result<RgbImage, DecodeError> {
    let mut image = RgbImage::black(0, 0);
    decode_rgb_rows_into(bytes, rows, &mut image)?;
    Ok(image)
}

/// Like [`decode_rgb_rows`], but decodes into `image`, reusing its pixel
/// allocation.
///
/// A search decodes thousands of same-size targets one after the other:
/// reusing one buffer per thread saves the allocation and the page faults
/// of a fresh 2.7 MB image each time. On error `image` is left empty (0x0).
pub fn decode_rgb_rows_into(
    bytes: &[u8],
    rows: usize,
    image: &mut RgbImage,
) -> Result<(), DecodeError> {
    decode_rgb_rows_into_limited(bytes, rows, SizeLimit::default(), image)
}

/// Like [`decode_rgb_rows_into`], but accepts only images within `limit`
/// (e.g. exactly the size of a search's masks), checked from the header
/// before anything is allocated.
pub fn decode_rgb_rows_into_limited(
    bytes: &[u8],
    rows: usize,
    limit: SizeLimit,
    image: &mut RgbImage,
) -> Result<(), DecodeError> {
    let buffer = std::mem::take(&mut image.pixels);
    image.width = 0;
    image.height = 0;
    let d = decode_any::<u32>(bytes, rows, limit, buffer)?;
    *image = RgbImage {
        width: d.width,
        height: d.height,
        pixels: d.pixels,
    };
    Ok(())
}

/// Decodes a grayscale PNG or TIFF at full precision: 16-bit samples as
/// stored (no scaling), 8-bit samples widened unchanged (PNG gray below 8
/// bits is first scaled to 8 bits). Alpha is dropped.
///
/// Color images (RGB, palette) give [`DecodeError::Unsupported`]: the shape
/// score's gradient images are grayscale, and a color one is a wrong input.
pub fn decode_gray16(bytes: &[u8]) -> Result<Gray16Image, DecodeError> {
    decode_gray16_limited(bytes, SizeLimit::default())
}

/// Like [`decode_gray16`], but accepts only images within `limit`.
pub fn decode_gray16_limited(bytes: &[u8], limit: SizeLimit) -> Result<Gray16Image, DecodeError> {
    let d = decode_any::<u16>(bytes, usize::MAX, limit, Vec::new())?;
    Ok(Gray16Image {
        width: d.width,
        height: d.height,
        pixels: d.pixels,
    })
}

/// Reads `(width, height)` from the header only, without decoding pixels;
/// sizes beyond [`MAX_PIXELS`] are refused.
pub fn image_size(bytes: &[u8]) -> Result<(usize, usize), DecodeError> {
    let (width, height) = match sniff(bytes)? {
        Format::Png => png::header_size(bytes)?,
        Format::Tiff => tiff::header_size(bytes)?,
    };
    check_dimensions(width, height, SizeLimit::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_tells_formats_and_reports_unknown_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nxxxx"), Ok(Format::Png));
        assert_eq!(sniff(b"II*\0xxxx"), Ok(Format::Tiff));
        assert_eq!(sniff(b"MM\0*xxxx"), Ok(Format::Tiff));
        assert!(
            matches!(sniff(b"II+\0"), Err(DecodeError::Unsupported(m)) if m.contains("BigTIFF"))
        );
        assert!(matches!(sniff(b""), Err(DecodeError::Truncated(_))));
        assert!(matches!(sniff(b"\x89PN"), Err(DecodeError::Truncated(_))));
        assert_eq!(
            sniff(b"GIF89a"),
            Err(DecodeError::UnknownFormat {
                magic: "47 49 46 38 39 61".into()
            })
        );
    }

    #[test]
    fn dimensions_are_capped() {
        let limit = SizeLimit::default();
        assert_eq!(check_dimensions(1210, 566, limit), Ok((1210, 566)));
        assert_eq!(check_dimensions(2048, 2048, limit), Ok((2048, 2048)));
        for (w, h) in [(0, 5), (5, 0), (2049, 2048), (u64::MAX, u64::MAX)] {
            assert_eq!(
                check_dimensions(w, h, limit),
                Err(DecodeError::BadDimensions {
                    width: w,
                    height: h,
                    expected: limit
                })
            );
        }
    }

    #[test]
    fn exact_sizes_refuse_every_other_size_by_name() {
        let limit = SizeLimit::Exactly {
            width: 1210,
            height: 566,
        };
        assert_eq!(check_dimensions(1210, 566, limit), Ok((1210, 566)));
        for (w, h) in [(566, 1210), (10_000, 10_000), (1210, 0), (1, 1)] {
            let err = check_dimensions(w, h, limit).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("image claims {w}\u{d7}{h} pixels, expected 1210\u{d7}566")
            );
        }
        let err = check_dimensions(10_000, 10_000, SizeLimit::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "image claims 10000\u{d7}10000 pixels, expected a non-zero size of at most 4194304 pixels"
        );
    }
}
