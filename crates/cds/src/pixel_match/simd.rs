//! The scoring loop with vector instructions: AVX-512 (16 mask positions
//! of a word at a time) or AVX2 (8 at a time), chosen at run time.
//!
//! For a mask word and a shift, the target codes under the word's 64
//! positions are expanded into lanes (lit pixels only, so no pixel is
//! decoded twice), and each lane tests its code against its mask
//! position's three packed hue ranges ([`super::accept::Accept::packed`]).
//! The results are identical to the scalar loop's.

use std::arch::x86_64::*;

use super::accept::PACKED_START;
use super::coded::{CodedTarget, HUE_MASK, MAX_SHIFT};
use super::window::{MaskWord, Window};

/// Packed ranges per mask word: three arrays of 64 (range k of bit j at
/// `RANGES_PER_WORD * i + 64 * k + j`).
pub(crate) const RANGES_PER_WORD: usize = 3 * 64;

/// A vector scoring loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VectorLoop {
    Avx512,
    Avx2,
}

impl VectorLoop {
    /// The widest loop this CPU runs, if any.
    pub(crate) fn detect() -> Option<Self> {
        let bits = is_x86_feature_detected!("popcnt")
            && is_x86_feature_detected!("bmi1")
            && is_x86_feature_detected!("bmi2");
        if bits && is_x86_feature_detected!("avx512f") {
            Some(Self::Avx512)
        } else if bits && is_x86_feature_detected!("avx2") {
            Some(Self::Avx2)
        } else {
            None
        }
    }

    /// Whether this CPU runs the loop.
    pub(crate) fn available(self) -> bool {
        match Self::detect() {
            Some(Self::Avx512) => true,
            Some(Self::Avx2) => self == Self::Avx2,
            None => false,
        }
    }

    /// For each shift, the number of mask positions whose shifted target
    /// pixel is lit, brighter than the threshold and accepted by the
    /// position's ranges.
    ///
    /// # Panics
    /// If the CPU does not run the loop ([`VectorLoop::available`]).
    pub(crate) fn counts(self, mask: &VectorMask, target: &CodedTarget) -> Vec<i64> {
        assert!(self.available(), "{self:?} is not supported by this CPU");
        // SAFETY: the CPU supports the loop's features (asserted above).
        unsafe {
            match self {
                Self::Avx512 => counts_avx512(mask, target),
                Self::Avx2 => counts_avx2(mask, target),
            }
        }
    }
}

/// What the vector loops read of a mask side.
pub(crate) struct VectorMask<'a> {
    pub words: &'a [MaskWord],
    /// [`RANGES_PER_WORD`] packed ranges per word.
    pub ranges: &'a [u32],
    pub shifts: &'a [(i32, i32)],
    /// The data threshold: a target pixel matches only if brighter.
    pub threshold: u32,
    pub height: usize,
}

/// The loop over mask words and shifts: for each window with candidates,
/// `window_hits(window, base, ranges)` counts the matches, where the
/// window's lit codes follow one another in the target's codes from `base`
/// (checked to be in bounds) and `ranges` are the word's packed ranges.
#[inline(always)]
fn counts_with(
    mask: &VectorMask,
    target: &CodedTarget,
    mut window_hits: impl FnMut(&Window, usize, &[u32]) -> u32,
) -> Vec<i64> {
    assert_eq!(mask.ranges.len(), RANGES_PER_WORD * mask.words.len());
    let mut counts = vec![0i64; mask.shifts.len()];
    let (first, codes) = (target.first(), target.codes());
    for (w, ranges) in mask
        .words
        .iter()
        .zip(mask.ranges.chunks_exact(RANGES_PER_WORD))
    {
        for (count, &shift) in counts.iter_mut().zip(mask.shifts) {
            let Some(window) = Window::under(w, shift, target, mask.height) else {
                continue;
            };
            // The codes of the window's lit pixels follow one another from
            // `base`: those of `lo` from the window's offset on, then those
            // of the next word.
            let base = match window.lo {
                0 => first[window.word + 1],
                lo => first[window.word] + (lo & ((1u64 << window.offset) - 1)).count_ones(),
            } as usize;
            assert!(base + window.lit.count_ones() as usize <= codes.len());
            *count += i64::from(window_hits(&window, base, ranges));
        }
    }
    counts
}

/// [`VectorLoop::counts`] with AVX-512: lit codes expand-loaded 16 at a time.
#[target_feature(enable = "avx512f,popcnt,bmi1,bmi2")]
unsafe fn counts_avx512(mask: &VectorMask, target: &CodedTarget) -> Vec<i64> {
    let codes = target.codes();
    let hue_mask = _mm512_set1_epi32(HUE_MASK as i32);
    let span_mask = _mm512_set1_epi32((1 << PACKED_START) - 1);
    let threshold = _mm512_set1_epi32(mask.threshold as i32);
    counts_with(mask, target, |window, base, ranges| {
        let mut hits = 0u32;
        for c in 0..4 {
            let want = (window.cand >> (16 * c)) as u16;
            if want == 0 {
                continue;
            }
            let lit = (window.lit >> (16 * c)) as u16;
            let at = base + (window.lit & ((1u64 << (16 * c)) - 1)).count_ones() as usize;
            // SAFETY: the expand load reads popcount(lit) codes from `at`,
            // within `codes` (checked by `counts_with`).
            let code =
                unsafe { _mm512_maskz_expandloadu_epi32(lit, codes.as_ptr().add(at).cast()) };
            let hue = _mm512_and_si512(code, hue_mask);
            let bright = _mm512_cmpgt_epu32_mask(_mm512_srli_epi32::<MAX_SHIFT>(code), threshold);
            let mut accepted = 0u16;
            for k in 0..3 {
                // SAFETY: 16 values from 64 * k + 16 * c are within the word's 192.
                let packed =
                    unsafe { _mm512_loadu_si512(ranges.as_ptr().add(64 * k + 16 * c).cast()) };
                let start = _mm512_srli_epi32::<PACKED_START>(packed);
                let span = _mm512_and_si512(packed, span_mask);
                accepted |= _mm512_cmple_epu32_mask(_mm512_sub_epi32(hue, start), span);
            }
            hits += (want & bright & accepted).count_ones();
        }
        hits
    })
}

/// For each 8-bit lit pattern, the source lane of each lane when the
/// pattern's codes (loaded one after another) are spread to their lanes.
static EXPAND8: [[u32; 8]; 256] = expand8_table();

const fn expand8_table() -> [[u32; 8]; 256] {
    let mut table = [[0u32; 8]; 256];
    let mut pattern = 0;
    while pattern < 256 {
        let mut next = 0;
        let mut lane = 0;
        while lane < 8 {
            if pattern >> lane & 1 == 1 {
                table[pattern][lane] = next;
                next += 1;
            }
            lane += 1;
        }
        pattern += 1;
    }
    table
}

/// [`VectorLoop::counts`] with AVX2: lit codes loaded 8 at a time (a masked
/// load of as many codes as lit pixels) and spread to their lanes.
#[target_feature(enable = "avx2,popcnt,bmi1,bmi2")]
unsafe fn counts_avx2(mask: &VectorMask, target: &CodedTarget) -> Vec<i64> {
    let codes = target.codes();
    let hue_mask = _mm256_set1_epi32(HUE_MASK as i32);
    let span_mask = _mm256_set1_epi32((1 << PACKED_START) - 1);
    let threshold = _mm256_set1_epi32(mask.threshold as i32);
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    counts_with(mask, target, |window, base, ranges| {
        let mut hits = 0u32;
        for c in 0..8 {
            let want = (window.cand >> (8 * c)) as u8;
            if want == 0 {
                continue;
            }
            let lit = (window.lit >> (8 * c)) as u8;
            let at = base + (window.lit & ((1u64 << (8 * c)) - 1)).count_ones() as usize;
            let first_lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(lit.count_ones() as i32), lanes);
            // SAFETY: the masked load reads popcount(lit) codes from `at`,
            // within `codes` (checked by `counts_with`); the table row and
            // the ranges (8 values from 64 * k + 8 * c of the word's 192)
            // are in bounds.
            let code = unsafe {
                let packed = _mm256_maskload_epi32(codes.as_ptr().add(at).cast(), first_lanes);
                let spread = _mm256_loadu_si256(EXPAND8[usize::from(lit)].as_ptr().cast());
                _mm256_permutevar8x32_epi32(packed, spread)
            };
            let hue = _mm256_and_si256(code, hue_mask);
            let bright =
                _mm256_cmpgt_epi32(_mm256_srli_epi32::<{ MAX_SHIFT as i32 }>(code), threshold);
            let mut accepted = _mm256_setzero_si256();
            for k in 0..3 {
                // SAFETY: see above.
                let packed =
                    unsafe { _mm256_loadu_si256(ranges.as_ptr().add(64 * k + 8 * c).cast()) };
                let start = _mm256_srli_epi32::<{ PACKED_START as i32 }>(packed);
                let span = _mm256_and_si256(packed, span_mask);
                let gap = _mm256_sub_epi32(hue, start);
                let within = _mm256_cmpeq_epi32(_mm256_min_epu32(gap, span), gap);
                accepted = _mm256_or_si256(accepted, within);
            }
            let matched =
                _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_and_si256(bright, accepted)));
            hits += (want & matched as u8).count_ones();
        }
        hits
    })
}
