//! The scoring loop with AVX-512: 16 mask positions of a word at a time.
//!
//! For a mask word and a shift, the target codes under the word's 64
//! positions are expand-loaded 16 at a time (lit pixels only, so no pixel
//! is decoded twice), and each lane tests its code against its mask
//! position's three packed hue ranges ([`super::accept::Accept::packed`]).
//! The results are identical to the scalar loop's.

use std::arch::x86_64::*;

use super::accept::PACKED_START;
use super::coded::{CodedTarget, HUE_MASK, MAX_SHIFT};
use super::prepared::{MaskWord, Window};

/// Packed ranges per mask word: three arrays of 64 (range k of bit j at
/// `RANGES_PER_WORD * i + 64 * k + j`).
pub(crate) const RANGES_PER_WORD: usize = 3 * 64;

/// Whether this CPU runs [`counts`].
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("popcnt")
        && is_x86_feature_detected!("bmi1")
        && is_x86_feature_detected!("bmi2")
}

/// For each shift, the number of mask positions whose shifted target pixel
/// is lit, brighter than `threshold` and accepted by the position's ranges.
///
/// # Safety
/// The CPU must support the features [`available`] checks, and `ranges`
/// must hold [`RANGES_PER_WORD`] values per word of `words`.
#[target_feature(enable = "avx512f,popcnt,bmi1,bmi2")]
pub(crate) unsafe fn counts(
    words: &[MaskWord],
    ranges: &[u32],
    target: &CodedTarget,
    shifts: &[(i32, i32)],
    threshold: u32,
    height: usize,
) -> Vec<i64> {
    assert_eq!(ranges.len(), RANGES_PER_WORD * words.len());
    let mut counts = vec![0i64; shifts.len()];
    let (first, codes) = (target.first(), target.codes());
    let hue_mask = _mm512_set1_epi32(HUE_MASK as i32);
    let span_mask = _mm512_set1_epi32((1 << PACKED_START) - 1);
    let threshold = _mm512_set1_epi32(threshold as i32);
    for (w, ranges) in words.iter().zip(ranges.chunks_exact(RANGES_PER_WORD)) {
        for (count, &shift) in counts.iter_mut().zip(shifts) {
            let Some(Window {
                word,
                offset,
                lo,
                lit: window,
                cand,
                ..
            }) = Window::under(w, shift, target, height)
            else {
                continue;
            };
            // The codes of the window's lit pixels follow one another from
            // `base`: those of `lo` from the window's offset on, then those of
            // the next word.
            let base = match lo {
                0 => first[word + 1],
                _ => first[word] + (lo & ((1u64 << offset) - 1)).count_ones(),
            } as usize;
            assert!(base + window.count_ones() as usize <= codes.len());
            let mut hits = 0u32;
            for c in 0..4 {
                let want = (cand >> (16 * c)) as u16;
                if want == 0 {
                    continue;
                }
                let lit = (window >> (16 * c)) as u16;
                let at = base + (window & ((1u64 << (16 * c)) - 1)).count_ones() as usize;
                // SAFETY: the expand load reads popcount(lit) codes from `at`,
                // within `codes` by the assertion above.
                let code =
                    unsafe { _mm512_maskz_expandloadu_epi32(lit, codes.as_ptr().add(at).cast()) };
                let hue = _mm512_and_si512(code, hue_mask);
                let bright =
                    _mm512_cmpgt_epu32_mask(_mm512_srli_epi32::<MAX_SHIFT>(code), threshold);
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
            *count += i64::from(hits);
        }
    }
    counts
}
