//! The x86_64 vector loops: AVX-512 (16 mask positions of a word at a
//! time, with expand loads) and AVX2 (8 at a time, with masked loads and a
//! permutation table).

use std::arch::x86_64::*;

use super::{counts_with, expand_source, VectorMask};
use crate::pixel_match::accept::PACKED_START;
use crate::pixel_match::coded::{CodedTarget, HUE_MASK, MAX_SHIFT};

/// [`super::VectorLoop::counts`] with AVX-512: lit codes expand-loaded 16
/// at a time.
#[target_feature(enable = "avx512f,popcnt,bmi1,bmi2")]
pub(super) unsafe fn counts_avx512(mask: &VectorMask, target: &CodedTarget) -> Vec<i64> {
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
        let mut lane = 0;
        while lane < 8 {
            if let Some(source) = expand_source(pattern, lane) {
                table[pattern][lane] = source as u32;
            }
            lane += 1;
        }
        pattern += 1;
    }
    table
}

/// [`super::VectorLoop::counts`] with AVX2: lit codes loaded 8 at a time (a
/// masked load of as many codes as lit pixels) and spread to their lanes.
#[target_feature(enable = "avx2,popcnt,bmi1,bmi2")]
pub(super) unsafe fn counts_avx2(mask: &VectorMask, target: &CodedTarget) -> Vec<i64> {
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
