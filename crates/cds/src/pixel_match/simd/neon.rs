//! The aarch64 vector loop: NEON, 8 mask positions of a word at a time in
//! two 4-lane registers.
//!
//! NEON has neither the expand load of AVX-512 nor the masked load and
//! lane permutation of AVX2: a step loads the next 8 codes (32 bytes; at
//! the end of the codes, through a copy) and spreads the lit ones to their
//! lanes with a byte table lookup (`TBL` over two registers), which leaves
//! 0 in unlit lanes. A 0 code is never bright, and the packed ranges of a
//! bit that is no mask position accept nothing, so a lane matches exactly
//! when it is a candidate whose code is bright and accepted: no candidate
//! mask is applied, and the matches add up in a vector counter that is
//! summed once per window.

use std::arch::aarch64::*;

use super::{counts_with, expand_source, VectorMask, RANGES_PER_WORD};
use crate::pixel_match::accept::PACKED_START;
use crate::pixel_match::coded::{CodedTarget, HUE_MASK, MAX_SHIFT};

/// For each 8-bit lit pattern, the byte indices into its 8 codes loaded one
/// after another (two registers) that spread the codes to their lanes;
/// unlit lanes get the out-of-range index 0xff, which `TBL` turns into 0.
static SPREAD8: [[u8; 32]; 256] = spread8_table();

const fn spread8_table() -> [[u8; 32]; 256] {
    let mut table = [[0xff; 32]; 256];
    let mut pattern = 0;
    while pattern < 256 {
        let mut lane = 0;
        while lane < 8 {
            if let Some(source) = expand_source(pattern, lane) {
                let mut byte = 0;
                while byte < 4 {
                    table[pattern][4 * lane + byte] = (4 * source + byte) as u8;
                    byte += 1;
                }
            }
            lane += 1;
        }
        pattern += 1;
    }
    table
}

/// [`super::VectorLoop::counts`] with NEON: lit codes loaded 8 at a time
/// and spread to their lanes by a table lookup.
#[target_feature(enable = "neon")]
pub(super) unsafe fn counts_neon(mask: &VectorMask, target: &CodedTarget) -> Vec<i64> {
    let codes = target.codes();
    let test = LaneTest::new(mask.threshold);
    counts_with(mask, target, |window, base, ranges| {
        // The number of lit pixels in each byte of the window, then (a
        // prefix sum: no byte carries, as the total is at most 64) in the
        // bytes before each byte.
        let per_byte = vget_lane_u64::<0>(vreinterpret_u64_u8(vcnt_u8(vcreate_u8(window.lit))));
        let before = per_byte.wrapping_mul(0x0101_0101_0101_0101) << 8;
        // Bit 8 * c + 7 set when byte c of the window has candidates: the
        // steps to take, the others are skipped without a test.
        let cand = vcreate_u8(window.cand);
        let mut steps =
            vget_lane_u64::<0>(vreinterpret_u64_u8(vtst_u8(cand, cand))) & 0x8080_8080_8080_8080;
        let mut hits = vdupq_n_u32(0);
        while steps != 0 {
            let c = steps.trailing_zeros() as usize / 8;
            steps &= steps - 1;
            let at = base + usize::from((before >> (8 * c)) as u8);
            let [low, high] = spread(codes, at, (window.lit >> (8 * c)) as u8);
            // SAFETY: positions 8 * c to 8 * c + 7 are within the word's 64.
            let [low, high] = unsafe {
                [
                    test.matches(low, ranges, 8 * c),
                    test.matches(high, ranges, 8 * c + 4),
                ]
            };
            // A matching lane is all ones: subtracting it counts one.
            hits = vsubq_u32(vsubq_u32(hits, low), high);
        }
        vaddvq_u32(hits)
    })
}

/// The codes of the lit lanes of `lit` (8 lanes), which follow one another
/// in `codes` from `at`, spread to their lanes (0 in unlit lanes): lanes
/// 0-3, then 4-7.
#[inline(always)]
fn spread(codes: &[u32], at: usize, lit: u8) -> [uint32x4_t; 2] {
    let padded;
    let next = match codes[at..].first_chunk::<8>() {
        Some(next) => next,
        None => {
            padded = pad(&codes[at..]);
            &padded
        }
    };
    let index = &SPREAD8[usize::from(lit)];
    // SAFETY: the loads read the 8 codes of `next` and the 32 bytes of `index`.
    unsafe {
        let table = vld1q_u8_x2(next.as_ptr().cast());
        [0, 16].map(|i| vreinterpretq_u32_u8(vqtbl2q_u8(table, vld1q_u8(index[i..].as_ptr()))))
    }
}

/// The last (fewer than 8) codes followed by zeros.
#[cold]
fn pad(last: &[u32]) -> [u32; 8] {
    let mut padded = [0; 8];
    padded[..last.len()].copy_from_slice(last);
    padded
}

/// The test of 4 lanes against their positions' packed ranges, for one
/// data threshold.
struct LaneTest {
    hue_mask: uint32x4_t,
    span_mask: uint32x4_t,
    /// The largest code that is not bright: a code is bright when its
    /// largest channel (its top byte) is above the threshold, so when it is
    /// above `threshold << MAX_SHIFT` with all lower bits set.
    dim: uint32x4_t,
}

impl LaneTest {
    /// The test for a data threshold.
    #[target_feature(enable = "neon")]
    fn new(threshold: u32) -> Self {
        Self {
            hue_mask: vdupq_n_u32(HUE_MASK),
            span_mask: vdupq_n_u32((1 << PACKED_START) - 1),
            dim: vdupq_n_u32(threshold << MAX_SHIFT | ((1 << MAX_SHIFT) - 1)),
        }
    }

    /// All ones in the lanes whose code is bright and within one of the
    /// three packed ranges of its position, the positions being bits `j` to
    /// `j + 3` of the word whose packed ranges are `ranges`.
    ///
    /// # Safety
    /// `j + 4 <= 64`.
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn matches(
        &self,
        code: uint32x4_t,
        ranges: &[u32; RANGES_PER_WORD],
        j: usize,
    ) -> uint32x4_t {
        let hue = vandq_u32(code, self.hue_mask);
        let mut accepted = vdupq_n_u32(0);
        for k in 0..3 {
            // SAFETY: 4 values from 64 * k + j are within the word's 192.
            let packed = unsafe { vld1q_u32(ranges.as_ptr().add(64 * k + j)) };
            let start = vshrq_n_u32::<{ PACKED_START as i32 }>(packed);
            let span = vandq_u32(packed, self.span_mask);
            accepted = vorrq_u32(accepted, vcleq_u32(vsubq_u32(hue, start), span));
        }
        vandq_u32(accepted, vcgtq_u32(code, self.dim))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For every lit pattern, the spread puts each lit lane's code in its
    /// lane and 0 elsewhere, reading the codes from the middle of a long
    /// run and from its very end (the copied tail).
    #[test]
    fn spread_puts_codes_in_their_lanes() {
        let codes: Vec<u32> = (1..=20).map(|i| i * 0x0101_0101).collect();
        for lit in 0..=255u8 {
            let n = lit.count_ones() as usize;
            for at in [3, codes.len() - n] {
                let [low, high] = spread(&codes, at, lit);
                let mut lanes = [0u32; 8];
                // SAFETY: stores 4 + 4 lanes into the 8 of `lanes`.
                unsafe {
                    vst1q_u32(lanes.as_mut_ptr(), low);
                    vst1q_u32(lanes.as_mut_ptr().add(4), high);
                }
                let mut next = codes[at..].iter();
                let want: Vec<u32> = (0..8)
                    .map(|lane| match lit >> lane & 1 {
                        1 => *next.next().unwrap(),
                        _ => 0,
                    })
                    .collect();
                assert_eq!(lanes.to_vec(), want, "lit {lit:08b} at {at}");
            }
        }
    }
}
