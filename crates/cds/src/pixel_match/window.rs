//! A mask word (64 adjacent mask pixels of a row) and the window of target
//! pixels under it at one shift: what every scoring loop (portable and
//! vector) walks.

use super::coded::CodedTarget;

/// 64 horizontally adjacent pixels of a mask row.
#[derive(Clone, Copy, Debug)]
pub(super) struct MaskWord {
    /// Row.
    pub y: u32,
    /// Word index in the row: pixels 64 * k .. 64 * k + 64.
    pub k: u32,
    /// Bit j set for a mask position at x = 64 * k + j.
    pub bits: u64,
}

/// The target pixels under a mask word at one shift: 64 bits starting at
/// bit `offset` of bitmap word `word` (so spanning `lo` and `hi`).
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(super) struct Window {
    /// Index of the first of the two target bitmap words.
    pub word: usize,
    /// Bit offset of the window in `lo`.
    pub offset: usize,
    /// Target bitmap words `word` and `word + 1`.
    pub lo: u64,
    pub hi: u64,
    /// The window's lit bits: bit j is the pixel under mask bit j.
    pub lit: u64,
    /// The mask word's positions whose target pixel is lit.
    pub cand: u64,
}

impl Window {
    /// The window under mask word `w` shifted by (dx, dy) in a target
    /// `height` rows high, if any of the word's positions has a lit pixel.
    #[inline(always)]
    pub(super) fn under(
        w: &MaskWord,
        (dx, dy): (i32, i32),
        target: &CodedTarget,
        height: usize,
    ) -> Option<Self> {
        let row = shifted_row(w.y, dy, height)?;
        let (word, offset) = window_start(row * target.row_words(), w.k, dx);
        let bits = target.bits();
        let (lo, hi) = (bits[word], bits[word + 1]);
        let lit = ((u128::from(hi) << 64 | u128::from(lo)) >> offset) as u64;
        let cand = w.bits & lit;
        (cand != 0).then_some(Self {
            word,
            offset,
            lo,
            hi,
            lit,
            cand,
        })
    }
}

/// Row `y + dy`, if inside an image of `height` rows.
#[inline(always)]
pub(super) fn shifted_row(y: u32, dy: i32, height: usize) -> Option<usize> {
    let row = i64::from(y) + i64::from(dy);
    (0..height as i64).contains(&row).then_some(row as usize)
}

/// Where the target window under mask word `k` shifted by `dx` starts, in
/// a bitmap row starting at word `row_base`: (word index, bit offset).
#[inline(always)]
pub(super) fn window_start(row_base: usize, k: u32, dx: i32) -> (usize, usize) {
    let base = ((i64::from(k) + 1) * 64 + i64::from(dx)) as usize;
    (row_base + (base >> 6), base & 63)
}
