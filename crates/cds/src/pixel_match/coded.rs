//! A target image coded once for fast scoring, independent of the search
//! parameters: a bitmap of its lit pixels and one code word per lit pixel.

use super::gap::{Hue, Ranks};
use super::MatchError;
use crate::RgbImage;

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
/// In memory the codes of each 64-pixel word holding a lit pixel sit in a
/// block of 64 slots, so that a pixel's code is found without counting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodedTarget {
    width: usize,
    height: usize,
    /// Words per bitmap row: the image's words plus a zero word on each side.
    row_words: usize,
    /// Lit-pixel bitmap, `height * row_words` words; pixel x of a row is bit
    /// `x + 64` of the row.
    bits: Vec<u64>,
    /// For each bitmap word, the offset in `slots` of its block of 64 codes
    /// (0, an unused block, for words without lit pixels).
    block: Vec<u32>,
    /// Code blocks; slot j of a word's block holds the code of its bit j.
    slots: Vec<u32>,
    /// Number of lit pixels.
    lit: usize,
}

impl CodedTarget {
    /// Codes every row of an image.
    pub fn encode(image: &RgbImage) -> Self {
        let row_words = Self::row_words_for(image.width);
        let all =
            (0..image.height).flat_map(|y| (1..row_words - 1).map(move |s| y * row_words + s));
        Self::encode_words(image, all, 0)
    }

    /// Codes the given bitmap words of an image (in increasing order; the
    /// others are left empty), keeping only pixels whose largest channel is
    /// above `threshold`.
    pub(crate) fn encode_words(
        image: &RgbImage,
        words: impl Iterator<Item = usize>,
        threshold: u8,
    ) -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2.
            return unsafe { Self::encode_avx2(image, words, threshold) };
        }
        Self::encode_with(image, words, threshold, lit_bits)
    }

    /// [`CodedTarget::encode_words`] finding lit pixels 8 at a time.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn encode_avx2(
        image: &RgbImage,
        words: impl Iterator<Item = usize>,
        threshold: u8,
    ) -> Self {
        Self::encode_with(image, words, threshold, |chunk, threshold| {
            if chunk.len() == 64 {
                // SAFETY: AVX2 is enabled here, and the chunk has 64 pixels.
                unsafe { lit_bits_avx2(chunk, threshold) }
            } else {
                lit_bits(chunk, threshold)
            }
        })
    }

    /// Codes the given words, finding the lit pixels of each 64-pixel chunk
    /// with `lit_bits` and coding only those.
    #[inline(always)]
    fn encode_with(
        image: &RgbImage,
        words: impl Iterator<Item = usize>,
        threshold: u8,
        lit_bits: impl Fn(&[u32], u8) -> u64,
    ) -> Self {
        let mut coded = Self::empty(image.width, image.height);
        let ranks = Ranks::get();
        for word in words {
            let (y, k) = (
                word / coded.row_words,
                (word % coded.row_words).wrapping_sub(1),
            );
            if k >= coded.row_words - 2 || y >= image.height {
                continue;
            }
            let start = y * image.width + 64 * k;
            let chunk = &image.pixels[start..start + (image.width - 64 * k).min(64)];
            let bits = lit_bits(chunk, threshold);
            if bits == 0 {
                continue;
            }
            let mut block = [0u32; 64];
            let mut rest = bits;
            while rest != 0 {
                let j = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                block[j] = code_word(Hue::of(chunk[j]), ranks);
            }
            coded.push_block(word, bits, &block);
        }
        coded
    }

    /// Words per bitmap row for an image width.
    pub(crate) fn row_words_for(width: usize) -> usize {
        width.div_ceil(64) + 2
    }

    /// A coded target with no lit pixel.
    fn empty(width: usize, height: usize) -> Self {
        let row_words = Self::row_words_for(width);
        Self {
            width,
            height,
            row_words,
            bits: vec![0; height * row_words],
            block: vec![0; height * row_words],
            slots: vec![0; 64],
            lit: 0,
        }
    }

    /// Stores the codes of bitmap word `word`.
    fn push_block(&mut self, word: usize, bits: u64, codes: &[u32; 64]) {
        self.bits[word] = bits;
        self.block[word] = self.slots.len() as u32;
        self.slots.extend_from_slice(codes);
        self.lit += bits.count_ones() as usize;
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
        self.lit
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

    /// Offset in [`CodedTarget::slots`] of each bitmap word's code block.
    #[inline]
    pub(crate) fn block(&self) -> &[u32] {
        &self.block
    }

    /// The code blocks.
    #[inline]
    pub(crate) fn slots(&self) -> &[u32] {
        &self.slots
    }

    /// The codes of the lit pixels in row-major order.
    fn codes(&self) -> impl Iterator<Item = u32> + '_ {
        self.bits
            .iter()
            .zip(&self.block)
            .flat_map(|(&bits, &block)| {
                let slots = &self.slots[block as usize..block as usize + 64];
                (0..64)
                    .filter(move |j| (bits >> j) & 1 == 1)
                    .map(move |j| slots[j])
            })
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
        let mut out = Vec::with_capacity(24 + 2 * self.height + 4 * runs.len() + 4 * self.lit);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.width as u32).to_le_bytes());
        out.extend_from_slice(&(self.height as u32).to_le_bytes());
        out.extend_from_slice(&(self.lit as u32).to_le_bytes());
        for c in row_counts {
            out.extend_from_slice(&c.to_le_bytes());
        }
        for (start, len) in runs {
            out.extend_from_slice(&start.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
        }
        for c in self.codes() {
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
        for word in 0..coded.bits.len() {
            let bits = coded.bits[word];
            if bits == 0 {
                continue;
            }
            let mut block = [0u32; 64];
            for j in (0..64).filter(|j| (bits >> j) & 1 == 1) {
                let code = r.u32()?;
                if !valid_code(code) {
                    return Err(invalid(&format!(
                        "code word {code:#x} is not a valid hue code"
                    )));
                }
                block[j] = code;
            }
            coded.push_block(word, bits, &block);
        }
        if r.at != bytes.len() {
            return Err(invalid("trailing bytes after the code words"));
        }
        Ok(coded)
    }
}

/// The code word of a hue with a sector.
#[inline(always)]
fn code_word(hue: Hue, ranks: &Ranks) -> u32 {
    (u32::from(hue.den) << MAX_SHIFT)
        | (u32::from(hue.sector) << SECTOR_SHIFT)
        | u32::from(ranks.rank_of(hue))
}

/// Bit j set when pixel j of the chunk (up to 64 pixels) has a sector and
/// a largest channel above `threshold`.
#[inline(always)]
fn lit_bits(chunk: &[u32], threshold: u8) -> u64 {
    chunk.iter().enumerate().fold(0, |bits, (j, &p)| {
        let hue = Hue::of(p);
        bits | u64::from(hue.sector != 0 && hue.den > threshold) << j
    })
}

/// [`lit_bits`] for 64 pixels with AVX2: a pixel has a sector exactly when
/// its largest channel is unique.
///
/// # Safety
/// The CPU must support AVX2 and `chunk` must hold 64 pixels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lit_bits_avx2(chunk: &[u32], threshold: u8) -> u64 {
    use std::arch::x86_64::*;
    debug_assert_eq!(chunk.len(), 64);
    let byte = _mm256_set1_epi32(0xff);
    let limit = _mm256_set1_epi32(i32::from(threshold));
    let minus_one = _mm256_set1_epi32(-1);
    let mut bits = 0u64;
    for i in 0..8 {
        // SAFETY: 8 * 8 = 64 pixels are in bounds; unaligned load.
        let p = unsafe { _mm256_loadu_si256(chunk.as_ptr().add(8 * i).cast()) };
        let r = _mm256_and_si256(_mm256_srli_epi32::<16>(p), byte);
        let g = _mm256_and_si256(_mm256_srli_epi32::<8>(p), byte);
        let b = _mm256_and_si256(p, byte);
        let max = _mm256_max_epi32(_mm256_max_epi32(r, g), b);
        let ties = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_cmpeq_epi32(r, max), _mm256_cmpeq_epi32(g, max)),
            _mm256_cmpeq_epi32(b, max),
        );
        let lit = _mm256_and_si256(
            _mm256_cmpeq_epi32(ties, minus_one),
            _mm256_cmpgt_epi32(max, limit),
        );
        let mask = _mm256_movemask_ps(_mm256_castsi256_ps(lit)) as u32;
        bits |= u64::from(mask) << (8 * i);
    }
    bits
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
        assert_eq!(coded.codes().next().map(|c| c >> MAX_SHIFT), Some(200));
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
