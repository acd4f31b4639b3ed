//! TIFF decoding by hand: the first IFD is parsed, then each strip up to the
//! last needed row is decompressed (none, PackBits, LZW) into a reusable
//! buffer, un-predicted, and converted row by row into the output.
//!
//! Supported: 8- and 16-bit unsigned samples; gray (BlackIsZero,
//! WhiteIsZero), RGB and palette images with optional extra samples; chunky
//! and planar strips; both byte orders; the horizontal predictor.

use super::pixel::{Color, Depth, Pixel, RowFormat};
use super::{check_dimensions, DecodeError, Decoded, RowWriter, SizeLimit};

mod strip;

const IMAGE_WIDTH: u16 = 256;
const IMAGE_LENGTH: u16 = 257;
const BITS_PER_SAMPLE: u16 = 258;
const COMPRESSION: u16 = 259;
const PHOTOMETRIC: u16 = 262;
const FILL_ORDER: u16 = 266;
const STRIP_OFFSETS: u16 = 273;
const SAMPLES_PER_PIXEL: u16 = 277;
const ROWS_PER_STRIP: u16 = 278;
const STRIP_BYTE_COUNTS: u16 = 279;
const PLANAR_CONFIGURATION: u16 = 284;
const PREDICTOR: u16 = 317;
const COLOR_MAP: u16 = 320;
const TILE_WIDTH: u16 = 322;
const SAMPLE_FORMAT: u16 = 339;

/// More samples per pixel than any real image has; rejecting them keeps
/// row sizes far from overflow.
const MAX_SAMPLES: u64 = 64;

fn tag_name(tag: u16) -> &'static str {
    match tag {
        IMAGE_WIDTH => "ImageWidth",
        IMAGE_LENGTH => "ImageLength",
        BITS_PER_SAMPLE => "BitsPerSample",
        COMPRESSION => "Compression",
        PHOTOMETRIC => "PhotometricInterpretation",
        FILL_ORDER => "FillOrder",
        STRIP_OFFSETS => "StripOffsets",
        SAMPLES_PER_PIXEL => "SamplesPerPixel",
        ROWS_PER_STRIP => "RowsPerStrip",
        STRIP_BYTE_COUNTS => "StripByteCounts",
        PLANAR_CONFIGURATION => "PlanarConfiguration",
        PREDICTOR => "Predictor",
        COLOR_MAP => "ColorMap",
        SAMPLE_FORMAT => "SampleFormat",
        _ => "tag",
    }
}

fn corrupt(msg: String) -> DecodeError {
    DecodeError::Corrupt(msg)
}

fn unsupported(msg: String) -> DecodeError {
    DecodeError::Unsupported(msg)
}

/// Reads `N` bytes at `pos`, if the data holds them.
fn bytes_at<const N: usize>(bytes: &[u8], pos: u64) -> Option<[u8; N]> {
    let start = usize::try_from(pos).ok()?;
    bytes.get(start..start.checked_add(N)?)?.try_into().ok()
}

/// A run of unsigned integers (BYTE, SHORT or LONG) stored in the file.
#[derive(Clone, Copy, Debug)]
struct Values<'a> {
    data: &'a [u8],
    size: usize,
    big_endian: bool,
}

impl Values<'_> {
    fn len(&self) -> usize {
        self.data.len() / self.size
    }

    /// The `i`-th value (0 past the end, which callers rule out by
    /// checking [`Values::len`]).
    fn get(&self, i: usize) -> u64 {
        let at = i.saturating_mul(self.size);
        match (
            self.data.get(at..at.saturating_add(self.size)),
            self.big_endian,
        ) {
            (Some(&[b]), _) => u64::from(b),
            (Some(&[a, b]), true) => u64::from(u16::from_be_bytes([a, b])),
            (Some(&[a, b]), false) => u64::from(u16::from_le_bytes([a, b])),
            (Some(&[a, b, c, d]), true) => u64::from(u32::from_be_bytes([a, b, c, d])),
            (Some(&[a, b, c, d]), false) => u64::from(u32::from_le_bytes([a, b, c, d])),
            _ => 0,
        }
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// The tags of the first IFD that the decoder reads.
#[derive(Default)]
struct Ifd<'a> {
    width: Option<Values<'a>>,
    height: Option<Values<'a>>,
    bits: Option<Values<'a>>,
    compression: Option<Values<'a>>,
    photometric: Option<Values<'a>>,
    fill_order: Option<Values<'a>>,
    strip_offsets: Option<Values<'a>>,
    samples: Option<Values<'a>>,
    rows_per_strip: Option<Values<'a>>,
    strip_byte_counts: Option<Values<'a>>,
    planar: Option<Values<'a>>,
    predictor: Option<Values<'a>>,
    color_map: Option<Values<'a>>,
    sample_format: Option<Values<'a>>,
    tiled: bool,
}

impl<'a> Ifd<'a> {
    /// Width and height as the tags claim them.
    fn size(&self) -> Result<(u64, u64), DecodeError> {
        Ok((
            scalar(self.width, IMAGE_WIDTH, None)?,
            scalar(self.height, IMAGE_LENGTH, None)?,
        ))
    }

    /// Parses the header and the first IFD. The signature has been checked.
    fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let big_endian = bytes.starts_with(b"MM");
        let u16_at = |pos: u64| {
            bytes_at::<2>(bytes, pos).map(|b| {
                if big_endian {
                    u16::from_be_bytes(b)
                } else {
                    u16::from_le_bytes(b)
                }
            })
        };
        let u32_at = |pos: u64| {
            bytes_at::<4>(bytes, pos).map(|b| {
                if big_endian {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                }
            })
        };
        let truncated = |what: &str| DecodeError::Truncated(format!("TIFF ends inside {what}"));
        let ifd = u64::from(u32_at(4).ok_or_else(|| truncated("its header"))?);
        let n = u64::from(u16_at(ifd).ok_or_else(|| truncated("the first IFD"))?);
        // The IFD ends with the offset of the next one: a file cut short
        // before it is truncated even if the tags were read.
        u32_at(ifd + 2 + 12 * n).ok_or_else(|| truncated("the first IFD"))?;
        let mut out = Ifd::default();
        for i in 0..n {
            let pos = ifd + 2 + 12 * i;
            let (tag, typ, count) = match (u16_at(pos), u16_at(pos + 2), u32_at(pos + 4)) {
                (Some(t), Some(y), Some(c)) => (t, y, u64::from(c)),
                _ => return Err(truncated("the first IFD")),
            };
            check_values_within(bytes, tag, typ, count, u32_at(pos + 8))?;
            let slot = match tag {
                IMAGE_WIDTH => &mut out.width,
                IMAGE_LENGTH => &mut out.height,
                BITS_PER_SAMPLE => &mut out.bits,
                COMPRESSION => &mut out.compression,
                PHOTOMETRIC => &mut out.photometric,
                FILL_ORDER => &mut out.fill_order,
                STRIP_OFFSETS => &mut out.strip_offsets,
                SAMPLES_PER_PIXEL => &mut out.samples,
                ROWS_PER_STRIP => &mut out.rows_per_strip,
                STRIP_BYTE_COUNTS => &mut out.strip_byte_counts,
                PLANAR_CONFIGURATION => &mut out.planar,
                PREDICTOR => &mut out.predictor,
                COLOR_MAP => &mut out.color_map,
                SAMPLE_FORMAT => &mut out.sample_format,
                TILE_WIDTH => {
                    out.tiled = true;
                    continue;
                }
                _ => continue,
            };
            let size: u64 = match typ {
                1 | 7 => 1,
                3 => 2,
                4 => 4,
                _ => {
                    return Err(corrupt(format!(
                        "TIFF tag {tag} ({}) has field type {typ}, expected BYTE, SHORT or LONG",
                        tag_name(tag)
                    )))
                }
            };
            let total = count * size;
            let start = if total <= 4 {
                pos + 8
            } else {
                u64::from(u32_at(pos + 8).ok_or_else(|| truncated("the first IFD"))?)
            };
            let data = usize::try_from(start)
                .ok()
                .zip(usize::try_from(total).ok())
                .and_then(|(s, t)| bytes.get(s..s.checked_add(t)?))
                .ok_or_else(|| {
                    DecodeError::Truncated(format!(
                        "TIFF tag {tag} ({}): its {count} values at byte {start} lie past the end of the file ({} bytes)",
                        tag_name(tag),
                        bytes.len()
                    ))
                })?;
            *slot = Some(Values {
                data,
                size: size as usize,
                big_endian,
            });
        }
        Ok(out)
    }
}

/// Bytes per value of a TIFF field type (TIFF 6.0 and BigTIFF's 8-byte
/// types), `None` for types the specification does not define.
fn type_size(typ: u16) -> Option<u64> {
    match typ {
        1 | 2 | 6 | 7 => Some(1),
        3 | 8 => Some(2),
        4 | 9 | 11 | 13 => Some(4),
        5 | 10 | 12 | 16..=18 => Some(8),
        _ => None,
    }
}

/// Checks that the values of any tag (read by the decoder or not) lie
/// within the file: a file cut short loses the values stored after the
/// pixel data (ImageJ's description, a color map...) even when every strip
/// survives, and is reported as truncated.
fn check_values_within(
    bytes: &[u8],
    tag: u16,
    typ: u16,
    count: u64,
    offset: Option<u32>,
) -> Result<(), DecodeError> {
    let Some(total) = type_size(typ).map(|size| size * count) else {
        return Ok(());
    };
    if total <= 4 {
        return Ok(());
    }
    let start =
        offset.ok_or_else(|| DecodeError::Truncated("TIFF ends inside the first IFD".into()))?;
    let end = u64::from(start) + total;
    if end > bytes.len() as u64 {
        return Err(DecodeError::Truncated(format!(
            "TIFF tag {tag} ({}): its {count} values at bytes {start}..{end} lie past the end of the file ({} bytes)",
            tag_name(tag),
            bytes.len()
        )));
    }
    Ok(())
}

/// The single value of a tag, or `default` when the tag is absent.
fn scalar(values: Option<Values<'_>>, tag: u16, default: Option<u64>) -> Result<u64, DecodeError> {
    match (values, default) {
        (Some(v), _) if v.len() > 0 => Ok(v.get(0)),
        (Some(_), _) => Err(corrupt(format!(
            "TIFF tag {tag} ({}) has no value",
            tag_name(tag)
        ))),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(corrupt(format!(
            "TIFF lacks the required tag {tag} ({})",
            tag_name(tag)
        ))),
    }
}

/// Width and height as the first IFD claims them (not yet checked against
/// any limit).
pub(super) fn header_size(bytes: &[u8]) -> Result<(u64, u64), DecodeError> {
    Ifd::parse(bytes)?.size()
}

/// Checks that every strip of the image lies within the file (see
/// [`super::check_complete`]).
pub(super) fn check_strips(bytes: &[u8]) -> Result<(), DecodeError> {
    Layout::parse(bytes, SizeLimit::default()).map(|_| ())
}

/// How strips are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Lzw,
    PackBits,
}

/// Photometric interpretation, with the palette packed for palette images.
enum Photometric {
    Gray,
    WhiteIsZero,
    Rgb,
    Palette(Vec<u32>),
}

/// Everything needed to decode the strips, validated against the file.
struct Layout<'a> {
    width: usize,
    height: usize,
    depth: Depth,
    photometric: Photometric,
    samples: usize,
    compression: Compression,
    predictor: bool,
    planar: bool,
    rows_per_strip: usize,
    strip_offsets: Values<'a>,
    strip_byte_counts: Option<Values<'a>>,
}

fn parse_depth(ifd: &Ifd<'_>, samples: u64, big_endian: bool) -> Result<Depth, DecodeError> {
    if let Some(formats) = ifd.sample_format {
        if let Some(f) = formats.iter().find(|&f| f != 1) {
            let kind = match f {
                2 => "signed integer",
                3 => "floating-point",
                _ => "unknown",
            };
            return Err(unsupported(format!(
                "TIFF SampleFormat {f} ({kind} samples); expected 1 (unsigned integer)"
            )));
        }
    }
    let bits: Vec<u64> = match ifd.bits {
        Some(v) if v.len() > 0 => v.iter().take(samples as usize).collect(),
        Some(_) => return Err(corrupt("TIFF tag 258 (BitsPerSample) has no value".into())),
        None => vec![1],
    };
    if bits.iter().any(|&b| b != bits[0]) {
        return Err(unsupported(format!(
            "TIFF with mixed bits per sample {bits:?}; expected 8 or 16 for every sample"
        )));
    }
    match bits[0] {
        8 => Ok(Depth::Eight),
        16 => Ok(Depth::Sixteen { big_endian }),
        b => Err(unsupported(format!(
            "TIFF with {b} bits per sample; expected 8 or 16"
        ))),
    }
}

fn parse_compression(code: u64) -> Result<Compression, DecodeError> {
    match code {
        1 => Ok(Compression::None),
        5 => Ok(Compression::Lzw),
        32773 => Ok(Compression::PackBits),
        _ => {
            let name = match code {
                2 => "CCITT RLE",
                3 | 4 => "CCITT fax",
                6 | 7 => "JPEG",
                8 | 32946 => "Deflate",
                34712 => "JPEG 2000",
                50000 => "Zstandard",
                _ => "unknown",
            };
            Err(unsupported(format!(
                "TIFF compression {code} ({name}); expected 1 (none), 5 (LZW) or 32773 (PackBits)"
            )))
        }
    }
}

/// Reads a palette from a ColorMap of 3 x 256 16-bit entries (all reds,
/// then greens, then blues), scaling each to 8 bits.
fn parse_palette(ifd: &Ifd<'_>, depth: Depth) -> Result<Vec<u32>, DecodeError> {
    if depth != Depth::Eight {
        return Err(unsupported(
            "TIFF palette image with 16-bit indexes; expected 8-bit".into(),
        ));
    }
    let map = ifd
        .color_map
        .ok_or_else(|| corrupt("TIFF palette image without a ColorMap".into()))?;
    if map.len() != 3 * 256 {
        return Err(corrupt(format!(
            "TIFF ColorMap has {} entries, expected 768 for 8-bit indexes",
            map.len()
        )));
    }
    let mut sixteen = [0u8; 6];
    let mut table = vec![0u32; 256];
    for (i, out) in table.iter_mut().enumerate() {
        for c in 0..3 {
            let v = map.get(c * 256 + i) as u16;
            sixteen[2 * c..2 * c + 2].copy_from_slice(&v.to_be_bytes());
        }
        let format = RowFormat {
            depth: Depth::Sixteen { big_endian: true },
            color: Color::Rgb,
            samples: 3,
        };
        u32::convert_row(&format, &sixteen, std::slice::from_mut(out));
    }
    Ok(table)
}

impl<'a> Layout<'a> {
    /// Parses and validates the first IFD: its size within `limit`, its
    /// tags, and every strip within the file.
    fn parse(bytes: &'a [u8], limit: SizeLimit) -> Result<Self, DecodeError> {
        let ifd = Ifd::parse(bytes)?;
        let big_endian = bytes.starts_with(b"MM");
        let (width, height) = ifd.size()?;
        let (width, height) = check_dimensions(width, height, limit)?;
        if ifd.tiled {
            return Err(unsupported("tiled TIFF; expected strips".into()));
        }
        let samples = scalar(ifd.samples, SAMPLES_PER_PIXEL, Some(1))?;
        if samples == 0 || samples > MAX_SAMPLES {
            return Err(unsupported(format!(
                "TIFF with {samples} samples per pixel; expected 1 to {MAX_SAMPLES}"
            )));
        }
        let depth = parse_depth(&ifd, samples, big_endian)?;
        let default_photometric = if samples >= 3 { 2 } else { 1 };
        let photometric = match scalar(ifd.photometric, PHOTOMETRIC, Some(default_photometric))? {
            0 => Photometric::WhiteIsZero,
            1 => Photometric::Gray,
            2 if samples >= 3 => Photometric::Rgb,
            2 => {
                return Err(corrupt(format!(
                    "TIFF RGB image with {samples} samples per pixel; expected at least 3"
                )))
            }
            3 => Photometric::Palette(parse_palette(&ifd, depth)?),
            p => {
                let name = match p {
                    4 => "transparency mask",
                    5 => "CMYK",
                    6 => "YCbCr",
                    8..=10 => "CIE L*a*b*",
                    _ => "unknown",
                };
                return Err(unsupported(format!(
                    "TIFF PhotometricInterpretation {p} ({name}); expected 0 or 1 (gray), 2 (RGB) or 3 (palette)"
                )));
            }
        };
        let compression = parse_compression(scalar(ifd.compression, COMPRESSION, Some(1))?)?;
        let predictor = match scalar(ifd.predictor, PREDICTOR, Some(1))? {
            1 => false,
            2 => true,
            p => {
                return Err(unsupported(format!(
                    "TIFF Predictor {p}; expected 1 (none) or 2 (horizontal)"
                )))
            }
        };
        let planar = match scalar(ifd.planar, PLANAR_CONFIGURATION, Some(1))? {
            1 => false,
            2 => true,
            p => {
                return Err(corrupt(format!(
                    "TIFF PlanarConfiguration {p}; expected 1 (chunky) or 2 (planar)"
                )))
            }
        };
        match scalar(ifd.fill_order, FILL_ORDER, Some(1))? {
            1 => {}
            f => {
                return Err(unsupported(format!(
                    "TIFF FillOrder {f} (bits in reversed order); expected 1"
                )))
            }
        }
        let rows_per_strip = match scalar(ifd.rows_per_strip, ROWS_PER_STRIP, Some(u64::MAX))? {
            0 => return Err(corrupt("TIFF RowsPerStrip is 0".into())),
            r => usize::try_from(r).unwrap_or(usize::MAX).min(height),
        };
        let strip_offsets = ifd
            .strip_offsets
            .ok_or_else(|| corrupt("TIFF lacks the required tag 273 (StripOffsets)".into()))?;
        if ifd.strip_byte_counts.is_none() && compression != Compression::None {
            return Err(corrupt(
                "compressed TIFF lacks the required tag 279 (StripByteCounts)".into(),
            ));
        }
        let layout = Layout {
            width,
            height,
            depth,
            photometric,
            samples: samples as usize,
            compression,
            predictor,
            planar,
            rows_per_strip,
            strip_offsets,
            strip_byte_counts: ifd.strip_byte_counts,
        };
        let strips = layout.strips_per_plane() * layout.planes();
        let counts = [Some(strip_offsets), ifd.strip_byte_counts];
        for (tag, values) in [STRIP_OFFSETS, STRIP_BYTE_COUNTS].into_iter().zip(counts) {
            if values.is_some_and(|v| v.len() < strips) {
                return Err(corrupt(format!(
                    "TIFF tag {tag} ({}) has {} entries, expected {strips} strips",
                    tag_name(tag),
                    values.map_or(0, |v| v.len())
                )));
            }
        }
        for strip in 0..strips {
            layout.strip_range(strip, bytes.len())?;
        }
        Ok(layout)
    }

    /// Rows in strip `index` (an index over all planes): `rows_per_strip`,
    /// fewer in the last strip of a plane.
    fn rows_in_strip(&self, index: usize) -> usize {
        let y0 = (index % self.strips_per_plane()) * self.rows_per_strip;
        self.rows_per_strip.min(self.height - y0)
    }

    /// Where strip `index` (an index over all planes) is stored, checked to
    /// lie within a file of `file_len` bytes. Without StripByteCounts (only
    /// allowed uncompressed) a strip is as long as its rows.
    fn strip_range(&self, index: usize, file_len: usize) -> Result<(usize, usize), DecodeError> {
        let offset = self.strip_offsets.get(index);
        let len = self.strip_byte_counts.map_or_else(
            || (self.rows_in_strip(index) * self.plane_row_bytes()) as u64,
            |c| c.get(index),
        );
        let end = offset.saturating_add(len);
        match (usize::try_from(offset), usize::try_from(end)) {
            (Ok(s), Ok(e)) if e <= file_len => Ok((s, e)),
            _ => Err(DecodeError::Truncated(format!(
                "TIFF strip {index} at bytes {offset}..{end} lies past the end of the file ({file_len} bytes)"
            ))),
        }
    }

    fn strips_per_plane(&self) -> usize {
        self.height.div_ceil(self.rows_per_strip)
    }

    /// Number of planes stored (1 for chunky images).
    fn planes(&self) -> usize {
        if self.planar {
            self.samples
        } else {
            1
        }
    }

    /// Planes that hold color (planar images only; extra samples skipped).
    fn color_planes(&self) -> usize {
        match (self.planar, &self.photometric) {
            (false, _) => 1,
            (true, Photometric::Rgb) => 3,
            (true, _) => 1,
        }
    }

    /// Bytes of one row of one plane.
    fn plane_row_bytes(&self) -> usize {
        let samples = if self.planar { 1 } else { self.samples };
        self.width * samples * self.depth.bytes()
    }

    /// The layout of the rows handed to the pixel conversion (planar rows
    /// are interleaved first).
    fn row_format(&self) -> RowFormat<'_> {
        let color = match &self.photometric {
            Photometric::Gray => Color::Gray,
            Photometric::WhiteIsZero => Color::WhiteIsZero,
            Photometric::Rgb => Color::Rgb,
            Photometric::Palette(table) => Color::Palette(table),
        };
        let samples = if self.planar {
            self.color_planes()
        } else {
            self.samples
        };
        RowFormat {
            depth: self.depth,
            color,
            samples,
        }
    }
}

/// Copies row `r` of each plane into one interleaved row.
fn interleave(planes: &[&[u8]], row_bytes: usize, r: usize, sample_bytes: usize, out: &mut [u8]) {
    let n = planes.len();
    for (p, plane) in planes.iter().enumerate() {
        let src = &plane[r * row_bytes..(r + 1) * row_bytes];
        for (x, sample) in src.chunks_exact(sample_bytes).enumerate() {
            let at = (x * n + p) * sample_bytes;
            out[at..at + sample_bytes].copy_from_slice(sample);
        }
    }
}

/// Decodes rows `0..rows` of a TIFF (all rows if `rows >= height`) into
/// `buffer`'s allocation.
pub(super) fn decode<P: Pixel>(
    bytes: &[u8],
    rows: usize,
    limit: SizeLimit,
    buffer: Vec<P>,
) -> Result<Decoded<P>, DecodeError> {
    let layout = Layout::parse(bytes, limit)?;
    let format = layout.row_format();
    P::accepts(format.color)?;
    let width = layout.width;
    let mut out = RowWriter::new(width, layout.height, buffer);
    let wanted = rows.min(layout.height);
    let row_bytes = layout.plane_row_bytes();
    let color_planes = layout.color_planes();
    let mut decoder = strip::StripDecoder::new(&layout, bytes);
    let mut buffers = vec![Vec::new(); color_planes];
    let mut interleaved = vec![
        0u8;
        if color_planes > 1 {
            format.pixel_bytes() * width
        } else {
            0
        }
    ];
    for strip in 0..layout.strips_per_plane() {
        let y0 = strip * layout.rows_per_strip;
        if y0 >= wanted {
            break;
        }
        let n_rows = layout.rows_per_strip.min(wanted - y0);
        let planes = buffers
            .iter_mut()
            .enumerate()
            .map(|(p, buf)| decoder.rows(p * layout.strips_per_plane() + strip, n_rows, buf))
            .collect::<Result<Vec<&[u8]>, DecodeError>>()?;
        for r in 0..n_rows {
            let dst = out.next_row();
            if let [plane] = planes[..] {
                P::convert_row(&format, &plane[r * row_bytes..(r + 1) * row_bytes], dst);
            } else {
                interleave(
                    &planes,
                    row_bytes,
                    r,
                    layout.depth.bytes(),
                    &mut interleaved,
                );
                P::convert_row(&format, &interleaved, dst);
            }
        }
    }
    Ok(out.finish())
}
