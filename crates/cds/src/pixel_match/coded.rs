//! A target image coded once for fast scoring, independent of the search
//! parameters: a bitmap of its lit pixels and one code word per lit pixel.
//!
//! The byte form ([`CodedTarget::to_bytes`]) is laid out row by row behind a
//! table of row ends, so that a reader needing only the first rows reads a
//! prefix of the bytes ([`CodedTarget::prefix_len`],
//! [`CodedTarget::from_prefix`]) and loading does no per-pixel work beyond
//! copying the code words.

use super::gap::{Hue, Ranks};
use super::MatchError;
use crate::RgbImage;

/// The hue index bits of a code word.
pub(crate) const HUE_MASK: u32 = (1 << 17) - 1;
/// Shift of the largest channel within a code word.
pub(crate) const MAX_SHIFT: u32 = 24;

const MAGIC: &[u8; 8] = b"CDSCODE3";
/// Bytes before the row table: magic, width, height, lit pixel count.
const FIXED_HEADER: usize = 20;

/// A target coded for [`super::PreparedMask::score_coded`].
///
/// Only pixels that can ever match are kept: those whose largest channel is
/// unique (the others belong to no hue sector). Each has a code word
/// `max << 24 | hue`, where `hue` is the index of its sector and of the rank
/// of its hue value among all 8-bit fractions (`(sector - 1) * N + rank`,
/// below 2^17), so that scoring compares integers only.
/// The codes are stored in row-major order; each 64-pixel bitmap word keeps
/// the index of its first code, so that a pixel's code is found with one
/// population count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodedTarget {
    width: usize,
    height: usize,
    /// Words per bitmap row: the image's words plus a zero word on each side.
    row_words: usize,
    /// Lit-pixel bitmap, `height * row_words` words; pixel x of a row is bit
    /// `x + 64` of the row.
    bits: Vec<u64>,
    /// For each bitmap word with lit pixels, the index in `codes` of the
    /// code of its lowest lit pixel (0 for words without lit pixels).
    first: Vec<u32>,
    /// The codes of the lit pixels, row-major.
    codes: Vec<u32>,
}

/// An empty 0x0 target, e.g. a buffer for [`CodedTarget::read_prefix`].
impl Default for CodedTarget {
    fn default() -> Self {
        Self::empty(0, 0)
    }
}

/// The set bits of a word, lowest first.
struct SetBits(u64);

impl Iterator for SetBits {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let j = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(j)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.0.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for SetBits {}

impl CodedTarget {
    /// Codes every row of an image.
    pub fn encode(image: &RgbImage) -> Self {
        Self::encode_rows(image, image.height)
    }

    /// Codes rows `0..rows` of an image (the others are left empty): enough
    /// for a mask whose [`super::PreparedMask::rows_needed`] is at most `rows`.
    pub fn encode_rows(image: &RgbImage, rows: usize) -> Self {
        let row_words = Self::row_words_for(image.width);
        let rows = rows.min(image.height);
        let all = (0..rows).flat_map(|y| (1..row_words - 1).map(move |s| y * row_words + s));
        Self::encode_words(image, all, 0)
    }

    /// Codes only the bitmap words a search reads
    /// ([`super::PreparedMask::needed_words`] of its masks, merged in
    /// increasing order), keeping only pixels whose largest channel is above
    /// `threshold` (the masks' data threshold): scores of those masks are
    /// the same as on [`CodedTarget::encode`], for a fraction of the work.
    pub fn encode_needed(image: &RgbImage, words: &[u32], threshold: u8) -> Self {
        Self::encode_words(image, words.iter().map(|&w| w as usize), threshold)
    }

    /// Codes the given bitmap words of an image (in increasing order; the
    /// others are left empty), keeping only pixels whose largest channel is
    /// above `threshold`.
    fn encode_words(image: &RgbImage, words: impl Iterator<Item = usize>, threshold: u8) -> Self {
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
        let image_words = coded.row_words - 2;
        for word in words {
            let (y, k) = (
                word / coded.row_words,
                (word % coded.row_words).wrapping_sub(1),
            );
            if k >= image_words || y >= image.height {
                continue;
            }
            let start = y * image.width + 64 * k;
            let chunk = &image.pixels[start..start + (image.width - 64 * k).min(64)];
            let bits = lit_bits(chunk, threshold);
            if bits == 0 {
                continue;
            }
            coded.bits[word] = bits;
            coded.first[word] = coded.codes.len() as u32;
            coded.codes.reserve(64);
            for j in SetBits(bits) {
                coded.codes.push(code_word(Hue::of(chunk[j]), ranks));
            }
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
            first: vec![0; height * row_words],
            codes: Vec::new(),
        }
    }

    /// Makes `self` an empty target of this size, keeping its buffers.
    fn reset(&mut self, width: usize, height: usize) {
        self.width = width;
        self.height = height;
        self.row_words = Self::row_words_for(width);
        let words = height * self.row_words;
        self.bits.clear();
        self.bits.resize(words, 0);
        self.first.clear();
        self.first.resize(words, 0);
        self.codes.clear();
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

    /// Index in [`CodedTarget::codes`] of each bitmap word's first code.
    #[inline]
    pub(crate) fn first(&self) -> &[u32] {
        &self.first
    }

    /// The codes of the lit pixels, row-major.
    #[inline]
    pub(crate) fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// Bytes of the header of the byte form of an image `height` rows high:
    /// enough to find [`CodedTarget::prefix_len`].
    pub fn header_len(height: usize) -> usize {
        FIXED_HEADER + 4 * height
    }

    /// Serializes to the byte form (integers little-endian): magic
    /// `CDSCODE3`, width, height and lit pixel count (u32 each), the end
    /// offset of each row's section (u32 per row, from the start), then per
    /// row its section: the number n of bitmap words with lit pixels (u16),
    /// their positions in the row (n u16), their bits (n u64), and the code
    /// words of their lit pixels (u32 each).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::header_len(self.height) + 4 * self.codes.len());
        out.extend_from_slice(MAGIC);
        for v in [self.width, self.height, self.codes.len()] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        let table = out.len();
        out.resize(Self::header_len(self.height), 0);
        for y in 0..self.height {
            let row = &self.bits[y * self.row_words..(y + 1) * self.row_words];
            let lit: Vec<usize> = (0..row.len()).filter(|&s| row[s] != 0).collect();
            out.extend_from_slice(&(lit.len() as u16).to_le_bytes());
            for &s in &lit {
                out.extend_from_slice(&((s - 1) as u16).to_le_bytes());
            }
            for &s in &lit {
                out.extend_from_slice(&row[s].to_le_bytes());
            }
            for &s in &lit {
                let first = self.first[y * self.row_words + s] as usize;
                let n = row[s].count_ones() as usize;
                for code in &self.codes[first..first + n] {
                    out.extend_from_slice(&code.to_le_bytes());
                }
            }
            let end = (out.len() as u32).to_le_bytes();
            out[table + 4 * y..table + 4 * y + 4].copy_from_slice(&end);
        }
        out
    }

    /// The number of leading bytes of the byte form that hold rows
    /// `0..rows`, read from its first [`CodedTarget::header_len`] bytes (or
    /// more).
    pub fn prefix_len(header: &[u8], rows: usize) -> Result<usize, MatchError> {
        let head = Header::read(header)?;
        let table = header
            .get(FIXED_HEADER..Self::header_len(head.height))
            .ok_or_else(|| invalid("truncated row table"))?;
        let rows = rows.min(head.height);
        Ok(match rows {
            0 => Self::header_len(head.height),
            _ => le_u32(&table[4 * (rows - 1)..]) as usize,
        })
    }

    /// Reads the byte form written by [`CodedTarget::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MatchError> {
        let coded = Self::from_prefix(bytes, usize::MAX)?;
        if coded.codes.len() != Header::read(bytes)?.lit {
            return Err(invalid("lit pixel count differs from the code words"));
        }
        if Self::prefix_len(bytes, usize::MAX)? != bytes.len() {
            return Err(invalid("trailing bytes after the last row"));
        }
        Ok(coded)
    }

    /// Reads rows `0..rows` of the byte form from its first
    /// [`CodedTarget::prefix_len`] bytes (or more; later rows are ignored
    /// and left empty).
    pub fn from_prefix(bytes: &[u8], rows: usize) -> Result<Self, MatchError> {
        let mut coded = Self::empty(0, 0);
        coded.read_prefix(bytes, rows)?;
        Ok(coded)
    }

    /// Like [`CodedTarget::from_prefix`], but replaces `self`, reusing its
    /// buffers (no allocation once they are large enough). On error `self`
    /// holds an unspecified, valid target.
    pub fn read_prefix(&mut self, bytes: &[u8], rows: usize) -> Result<(), MatchError> {
        let head = Header::read(bytes)?;
        let rows = rows.min(head.height);
        let header_len = Self::header_len(head.height);
        let table = bytes
            .get(FIXED_HEADER..header_len)
            .ok_or_else(|| invalid("truncated row table"))?;
        self.reset(head.width, head.height);
        let coded = self;
        coded.codes.reserve(head.lit.min(bytes.len() / 4));
        let image_words = coded.row_words - 2;
        let last_word_bits = match head.width % 64 {
            0 => u64::MAX,
            r => (1u64 << r) - 1,
        };
        let mut start = header_len;
        for y in 0..rows {
            let end = le_u32(&table[4 * y..]) as usize;
            let section = bytes
                .get(start..end)
                .ok_or_else(|| invalid(&format!("row {y} ends at byte {end}, out of bounds")))?;
            coded.read_row(y, section, image_words, last_word_bits)?;
            start = end;
        }
        if coded.codes.len() > head.lit {
            return Err(invalid("more code words than lit pixels"));
        }
        Ok(())
    }

    /// Reads the section of row `y`.
    fn read_row(
        &mut self,
        y: usize,
        section: &[u8],
        image_words: usize,
        last_word_bits: u64,
    ) -> Result<(), MatchError> {
        let bad = |what: &str| invalid(&format!("row {y}: {what}"));
        let n = usize::from(u16::from_le_bytes(
            section
                .get(..2)
                .ok_or_else(|| bad("missing word count"))?
                .try_into()
                .expect("2 bytes"),
        ));
        let words_end = 2 + 10 * n;
        let (positions, bits) = section
            .get(2..words_end)
            .ok_or_else(|| bad("truncated words"))?
            .split_at(2 * n);
        let row = y * self.row_words;
        let mut next = 0usize;
        let mut lit = 0usize;
        for (p, b) in positions.chunks_exact(2).zip(bits.chunks_exact(8)) {
            let k = usize::from(u16::from_le_bytes([p[0], p[1]]));
            let word = u64::from_le_bytes(b.try_into().expect("8 bytes"));
            let allowed = if k + 1 == image_words {
                last_word_bits
            } else {
                u64::MAX
            };
            if k < next || k >= image_words || word == 0 || word & !allowed != 0 {
                return Err(bad(&format!("bad word {word:#x} at position {k}")));
            }
            self.bits[row + k + 1] = word;
            self.first[row + k + 1] = (self.codes.len() + lit) as u32;
            lit += word.count_ones() as usize;
            next = k + 1;
        }
        let codes = &section[words_end..];
        if codes.len() != 4 * lit {
            return Err(bad(&format!(
                "{} bytes of code words, expected {} for {lit} lit pixels",
                codes.len(),
                4 * lit
            )));
        }
        let before = self.codes.len();
        self.codes.extend(codes.chunks_exact(4).map(le_u32));
        if !valid_codes(&self.codes[before..]) {
            return Err(bad("a code word is not a valid hue code"));
        }
        Ok(())
    }
}

/// The fixed fields at the start of the byte form.
struct Header {
    width: usize,
    height: usize,
    lit: usize,
}

impl Header {
    fn read(bytes: &[u8]) -> Result<Self, MatchError> {
        let fixed = bytes
            .get(..FIXED_HEADER)
            .ok_or_else(|| invalid("shorter than its 20-byte header"))?;
        if &fixed[..8] != MAGIC {
            return Err(invalid(
                "missing the CDSCODE3 header (older forms must be re-coded)",
            ));
        }
        let (width, height) = (le_u32(&fixed[8..]) as usize, le_u32(&fixed[12..]) as usize);
        if width == 0 || width > usize::from(u16::MAX) || height > 1 << 16 {
            return Err(invalid(&format!(
                "image size {width}x{height} out of range (expected width 1..=65535, height <= 65536)"
            )));
        }
        Ok(Self {
            width,
            height,
            lit: le_u32(&fixed[16..]) as usize,
        })
    }
}

/// The little-endian u32 at the start of `bytes` (at least 4 bytes).
#[inline(always)]
fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"))
}

/// The code word of a hue with a sector.
#[inline(always)]
fn code_word(hue: Hue, ranks: &Ranks) -> u32 {
    (u32::from(hue.den) << MAX_SHIFT) | ranks.hue_index(hue.sector, ranks.rank_of(hue))
}

/// Whether a target code is bright enough (largest channel above `threshold`).
#[inline(always)]
pub(crate) fn bright(code: u32, threshold: u32) -> bool {
    (code >> MAX_SHIFT) > threshold
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
#[inline]
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

/// Whether every code word could have been produced by [`code_word`]
/// (branch-free, so that the check vectorizes).
fn valid_codes(codes: &[u32]) -> bool {
    let hues = 6 * Ranks::get().values.len() as u32;
    codes.iter().fold(true, |ok, &code| {
        ok & ((code & HUE_MASK) < hues)
            & (code >> MAX_SHIFT != 0)
            & (code & !HUE_MASK & ((1 << MAX_SHIFT) - 1) == 0)
    })
}

fn invalid(what: &str) -> MatchError {
    MatchError::InvalidCodedTarget(what.to_string())
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
        assert_eq!(coded.codes()[4] >> MAX_SHIFT, 9);
    }

    #[test]
    fn bytes_round_trip() {
        let coded = CodedTarget::encode(&sample());
        let back = CodedTarget::from_bytes(&coded.to_bytes()).unwrap();
        assert_eq!(back, coded);
    }

    #[test]
    fn a_prefix_holds_the_first_rows() {
        let image = sample();
        let bytes = CodedTarget::encode(&image).to_bytes();
        for rows in 0..=3 {
            let len = CodedTarget::prefix_len(&bytes[..CodedTarget::header_len(3)], rows).unwrap();
            let back = CodedTarget::from_prefix(&bytes[..len], rows).unwrap();
            assert_eq!(back, CodedTarget::encode_rows(&image, rows), "rows {rows}");
        }
        // Rows 0 and 1 hold 4 lit pixels: 4 words of 2 + 8 bytes, 2 counts, 4 codes.
        let two = CodedTarget::prefix_len(&bytes, 2).unwrap();
        assert_eq!(two, CodedTarget::header_len(3) + 2 * 2 + 3 * 10 + 4 * 4);
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
        let high_hue_byte = bad.len() - 2;
        bad[high_hue_byte] = 0xff;
        let err = CodedTarget::from_bytes(&bad).unwrap_err().to_string();
        assert!(err.contains("row 2"), "{err}");
        let mut old = bytes.clone();
        old[7] = b'1';
        let err = CodedTarget::from_bytes(&old).unwrap_err().to_string();
        assert!(err.contains("CDSCODE3"), "{err}");
    }
}
