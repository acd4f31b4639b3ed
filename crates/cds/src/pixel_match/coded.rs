//! A target image coded once for fast scoring, independent of the search
//! parameters: a bitmap of its lit pixels and one code word per lit pixel.

use super::gap::{Hue, Ranks};
use super::{check_image, MatchError};
use crate::RgbImage;

/// Bits of a code word holding the sector and the value rank.
pub(crate) const HUE_BITS: u32 = 0x3_ffff;
/// Shift of the sector within a code word.
pub(crate) const SECTOR_SHIFT: u32 = 15;
/// Shift of the largest channel within a code word.
pub(crate) const MAX_SHIFT: u32 = 24;

const MAGIC: &[u8; 8] = b"CDSCODE1";

/// A target coded for [`super::PreparedMask::score_coded`].
///
/// Only pixels that can ever match are kept: those whose largest channel is
/// unique (the others belong to no hue sector). Each has a code word
/// `max << 24 | sector << 15 | rank`, where `rank` orders its hue value
/// among all 8-bit fractions, so that scoring compares integers only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodedTarget {
    width: usize,
    height: usize,
    /// Words per bitmap row: the image's words plus a zero word on each side.
    row_words: usize,
    /// Lit-pixel bitmap, `height * row_words` words; pixel x of a row is bit
    /// `x + 64` of the row.
    bits: Vec<u64>,
    /// For each bitmap word, the index in `codes` of its first lit pixel.
    prefix: Vec<u32>,
    /// Code words of the lit pixels in row-major order.
    codes: Vec<u32>,
}

impl CodedTarget {
    /// Codes every row of an image.
    pub fn encode(image: &RgbImage) -> Self {
        Self::encode_filtered(image, image.height, 0)
    }

    /// Codes rows `0..rows` of an image (later rows are left empty), keeping
    /// only pixels whose largest channel is above `threshold`.
    pub(crate) fn encode_filtered(image: &RgbImage, rows: usize, threshold: u8) -> Self {
        let mut coded = Self::empty(image.width, image.height);
        let ranks = Ranks::get();
        let rows = rows.min(image.height);
        for (y, row) in image
            .pixels
            .chunks_exact(image.width.max(1))
            .take(rows)
            .enumerate()
        {
            for (k, chunk) in row.chunks(64).enumerate() {
                let word = y * coded.row_words + k + 1;
                coded.prefix[word] = coded.codes.len() as u32;
                if chunk.iter().all(|&p| p & 0x00ff_ffff == 0) {
                    continue;
                }
                let mut bits = 0u64;
                for (j, &p) in chunk.iter().enumerate() {
                    let hue = Hue::of(p);
                    if hue.sector != 0 && hue.den > threshold {
                        bits |= 1 << j;
                        coded.codes.push(code_word(hue, ranks));
                    }
                }
                coded.bits[word] = bits;
            }
            coded.close_row(y);
        }
        coded.fill_prefix_from(rows);
        coded
    }

    /// A coded target with no lit pixel.
    fn empty(width: usize, height: usize) -> Self {
        let row_words = width.div_ceil(64) + 2;
        Self {
            width,
            height,
            row_words,
            bits: vec![0; height * row_words],
            prefix: vec![0; height * row_words],
            codes: Vec::new(),
        }
    }

    /// Sets the prefix of row `y`'s trailing zero word.
    fn close_row(&mut self, y: usize) {
        let last = (y + 1) * self.row_words - 1;
        self.prefix[last] = self.codes.len() as u32;
        self.prefix[y * self.row_words] = self.prefix[y * self.row_words + 1];
    }

    /// Sets the prefixes of the empty rows from `row` on.
    fn fill_prefix_from(&mut self, row: usize) {
        let n = self.codes.len() as u32;
        self.prefix[row * self.row_words..].fill(n);
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Number of coded (lit) pixels.
    pub fn lit_pixels(&self) -> usize {
        self.codes.len()
    }

    /// Words per bitmap row.
    #[inline]
    pub(crate) fn row_words(&self) -> usize {
        self.row_words
    }

    /// The lit-pixel bitmap.
    #[inline]
    pub(crate) fn bits(&self) -> &[u64] {
        &self.bits
    }

    /// Index in the code words of each bitmap word's first lit pixel.
    #[inline]
    pub(crate) fn prefix(&self) -> &[u32] {
        &self.prefix
    }

    /// Code words of the lit pixels.
    #[inline]
    pub(crate) fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// Serializes to a compact form: a header, then per row the runs of lit
    /// pixels (count, then start and length of each), then the code words.
    /// All integers little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut runs: Vec<(u16, u16)> = Vec::new();
        let mut row_counts: Vec<u16> = Vec::with_capacity(self.height);
        for y in 0..self.height {
            let before = runs.len();
            self.row_runs(y, &mut runs);
            row_counts.push((runs.len() - before) as u16);
        }
        let mut out =
            Vec::with_capacity(24 + 2 * self.height + 4 * runs.len() + 4 * self.codes.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.width as u32).to_le_bytes());
        out.extend_from_slice(&(self.height as u32).to_le_bytes());
        out.extend_from_slice(&(self.codes.len() as u32).to_le_bytes());
        for c in row_counts {
            out.extend_from_slice(&c.to_le_bytes());
        }
        for (start, len) in runs {
            out.extend_from_slice(&start.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
        }
        for c in &self.codes {
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    /// Appends the runs (start x, length) of lit pixels of row `y`.
    fn row_runs(&self, y: usize, runs: &mut Vec<(u16, u16)>) {
        let row = &self.bits[y * self.row_words..(y + 1) * self.row_words];
        let mut start: Option<usize> = None;
        for x in 0..=self.width {
            let lit = x < self.width && (row[(x >> 6) + 1] >> (x & 63)) & 1 == 1;
            match (lit, start) {
                (true, None) => start = Some(x),
                (false, Some(s)) => {
                    runs.push((s as u16, (x - s) as u16));
                    start = None;
                }
                _ => {}
            }
        }
    }

    /// Reads the form written by [`CodedTarget::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MatchError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(invalid("missing the CDSCODE1 header"));
        }
        let width = r.u32()? as usize;
        let height = r.u32()? as usize;
        let n_codes = r.u32()? as usize;
        if width == 0 || width > usize::from(u16::MAX) || height > 1 << 16 {
            return Err(invalid(&format!(
                "image size {width}x{height} out of range"
            )));
        }
        let row_counts = (0..height)
            .map(|_| r.u16())
            .collect::<Result<Vec<_>, _>>()?;
        let mut coded = Self::empty(width, height);
        let mut lit = 0usize;
        for (y, &count) in row_counts.iter().enumerate() {
            let row = y * coded.row_words;
            let mut end = 0usize;
            for _ in 0..count {
                let (start, len) = (usize::from(r.u16()?), usize::from(r.u16()?));
                if start < end || len == 0 || start + len > width {
                    return Err(invalid(&format!("bad run ({start}, {len}) in row {y}")));
                }
                for x in start..start + len {
                    coded.bits[row + (x >> 6) + 1] |= 1 << (x & 63);
                }
                end = start + len + 1;
                lit += len;
            }
        }
        if lit != n_codes {
            return Err(invalid(&format!(
                "{lit} lit pixels in runs but {n_codes} code words"
            )));
        }
        coded.codes = (0..n_codes)
            .map(|_| r.u32())
            .collect::<Result<Vec<_>, _>>()?;
        if r.at != bytes.len() {
            return Err(invalid("trailing bytes after the code words"));
        }
        if let Some(bad) = coded.codes.iter().find(|&&c| !valid_code(c)) {
            return Err(invalid(&format!(
                "code word {bad:#x} is not a valid hue code"
            )));
        }
        coded.rebuild_prefix();
        Ok(coded)
    }

    /// Recomputes the per-word prefix counts from the bitmap.
    fn rebuild_prefix(&mut self) {
        let mut n = 0u32;
        for (p, &w) in self.prefix.iter_mut().zip(&self.bits) {
            *p = n;
            n += w.count_ones();
        }
    }
}

/// Encodes an image after checking its buffer; used where a malformed
/// image must be an error rather than a panic.
pub(crate) fn checked_encode(
    image: &RgbImage,
    rows: usize,
    threshold: u8,
) -> Result<CodedTarget, MatchError> {
    check_image(image)?;
    Ok(CodedTarget::encode_filtered(image, rows, threshold))
}

/// The code word of a hue with a sector.
#[inline]
fn code_word(hue: Hue, ranks: &Ranks) -> u32 {
    (u32::from(hue.den) << MAX_SHIFT)
        | (u32::from(hue.sector) << SECTOR_SHIFT)
        | u32::from(ranks.rank_of(hue))
}

/// Whether a code word could have been produced by [`code_word`].
fn valid_code(code: u32) -> bool {
    let sector = (code >> SECTOR_SHIFT) & 7;
    let rank = (code & 0x7fff) as usize;
    (1..=6).contains(&sector)
        && rank < Ranks::get().values.len()
        && code >> MAX_SHIFT != 0
        && code & 0x00fc_0000 == 0
}

fn invalid(what: &str) -> MatchError {
    MatchError::InvalidCodedTarget(what.to_string())
}

/// A little-endian cursor over bytes that reports truncation.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MatchError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| invalid(&format!("truncated at byte {}", self.at)))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, MatchError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, MatchError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::pack;

    fn sample() -> RgbImage {
        let mut img = RgbImage::black(130, 3);
        img.pixels[0] = pack(200, 10, 10);
        img.pixels[63] = pack(10, 200, 30);
        img.pixels[64] = pack(10, 30, 200);
        img.pixels[129] = pack(1, 2, 3);
        img.pixels[130 + 5] = pack(50, 50, 10); // tie: never coded
        img.pixels[260 + 100] = pack(0, 0, 9);
        img
    }

    #[test]
    fn encodes_only_pixels_with_a_sector() {
        let coded = CodedTarget::encode(&sample());
        assert_eq!(coded.lit_pixels(), 5);
        assert_eq!(coded.codes()[0] >> MAX_SHIFT, 200);
    }

    #[test]
    fn bytes_round_trip() {
        let coded = CodedTarget::encode(&sample());
        let back = CodedTarget::from_bytes(&coded.to_bytes()).unwrap();
        assert_eq!(back, coded);
    }

    #[test]
    fn corrupt_bytes_are_errors() {
        let bytes = CodedTarget::encode(&sample()).to_bytes();
        for n in [0, 7, 20, bytes.len() - 1] {
            assert!(
                CodedTarget::from_bytes(&bytes[..n]).is_err(),
                "truncated to {n}"
            );
        }
        let mut bad = bytes.clone();
        let sector_byte = bad.len() - 2;
        bad[sector_byte] = 0xff;
        assert!(CodedTarget::from_bytes(&bad).is_err());
    }
}
