//! The scoring loops with vector instructions, chosen at run time: on
//! x86_64 AVX-512 (16 mask positions of a word at a time) or AVX2 (8 at a
//! time; module `x86`), on aarch64 NEON (8 at a time in two 4-lane
//! registers; module `neon`).
//!
//! For a mask word and a shift, the target codes under the word's 64
//! positions are expanded into lanes (lit pixels only, so no pixel is
//! decoded twice), and each lane tests its code against its mask
//! position's three packed hue ranges ([`super::accept::Accept::packed`]).
//! The results are identical to the scalar loop's.

#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::coded::CodedTarget;
use super::window::{MaskWord, Window};

/// Packed ranges per mask word: three arrays of 64 (range k of bit j at
/// `RANGES_PER_WORD * i + 64 * k + j`).
pub(crate) const RANGES_PER_WORD: usize = 3 * 64;

/// A vector scoring loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VectorLoop {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "aarch64")]
    Neon,
}

impl VectorLoop {
    /// The widest loop this CPU runs, if any.
    #[cfg(target_arch = "x86_64")]
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

    /// The widest loop this CPU runs, if any (NEON is part of the aarch64
    /// baseline, so always NEON in practice).
    #[cfg(target_arch = "aarch64")]
    pub(crate) fn detect() -> Option<Self> {
        std::arch::is_aarch64_feature_detected!("neon").then_some(Self::Neon)
    }

    /// Whether this CPU runs the loop.
    pub(crate) fn available(self) -> bool {
        match Self::detect() {
            #[cfg(target_arch = "x86_64")]
            Some(Self::Avx512) => true,
            Some(widest) => self == widest,
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
                #[cfg(target_arch = "x86_64")]
                Self::Avx512 => x86::counts_avx512(mask, target),
                #[cfg(target_arch = "x86_64")]
                Self::Avx2 => x86::counts_avx2(mask, target),
                #[cfg(target_arch = "aarch64")]
                Self::Neon => neon::counts_neon(mask, target),
            }
        }
    }
}

/// What the vector loops read of a mask side.
pub(crate) struct VectorMask<'a> {
    pub words: &'a [MaskWord],
    /// [`RANGES_PER_WORD`] packed ranges per word; those of a bit that is
    /// no mask position accept nothing (the NEON loop relies on it).
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
    mut window_hits: impl FnMut(&Window, usize, &[u32; RANGES_PER_WORD]) -> u32,
) -> Vec<i64> {
    assert_eq!(mask.ranges.len(), RANGES_PER_WORD * mask.words.len());
    let mut counts = vec![0i64; mask.shifts.len()];
    let (first, codes) = (target.first(), target.codes());
    for (w, ranges) in mask.words.iter().zip(mask.ranges.as_chunks().0) {
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

/// Where lane `lane` of an 8-lane step finds its code when the codes of
/// the lit lanes of `pattern` are loaded one after another: the number of
/// lit lanes below it, or `None` if the lane is not lit.
const fn expand_source(pattern: usize, lane: usize) -> Option<usize> {
    match pattern >> lane & 1 {
        1 => Some((pattern & ((1 << lane) - 1)).count_ones() as usize),
        _ => None,
    }
}
