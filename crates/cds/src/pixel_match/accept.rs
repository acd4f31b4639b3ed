//! What a mask hue accepts, as up to three ranges of target hue indices.
//!
//! Every target hue with a sector has a hue index `(sector - 1) * N + rank`
//! (N distinct values, `rank` the rank of its value among them). For a mask
//! hue (sector `s1`, value of rank `r1`) the target hues whose gap is within
//! the tolerance are, by the rules of the gap:
//! - in the same sector, a closed interval of ranks around `r1`;
//! - in each of the (at most two) neighbouring sectors the rules connect,
//!   an interval of ranks reaching the lowest or the highest rank;
//! - nothing elsewhere.
//!
//! Within one sector the hue index is increasing in the rank, so each of
//! these is one range of hue indices, and a test is three integer range
//! checks. The bounds are found with the reference's f64 arithmetic (binary
//! search over the sorted values, each step evaluating the exact gap), so
//! that [`Accept::accepts`] gives exactly the reference's decisions.

use super::coded::HUE_MASK;
use super::gap::{sector_gap, Ranks, BG, BR, GB, GR, RB, RG};

/// Per mask sector, the neighbouring target sectors its rules connect to.
const fn neighbours(s1: u8) -> [Option<u8>; 2] {
    match s1 {
        BR => [Some(BG), None],
        BG => [Some(GB), Some(BR)],
        GB => [Some(BG), Some(GR)],
        GR => [Some(GB), Some(RG)],
        RG => [Some(GR), Some(RB)],
        RB => [Some(RG), None],
        _ => [None, None],
    }
}

/// Shift of the start in a packed range ([`Accept::packed`]).
pub(crate) const PACKED_START: u32 = 15;

/// A closed range of hue indices `start..=start + span`, tested with one
/// subtraction and one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HueRange {
    start: u32,
    span: u32,
}

impl HueRange {
    /// A range no hue index falls in: it starts at 2^17 - 1, above every
    /// hue index (below `6 * N` < 2^17 - 1).
    const EMPTY: Self = Self {
        start: HUE_MASK,
        span: 0,
    };

    #[inline(always)]
    fn contains(self, hue: u32) -> bool {
        hue.wrapping_sub(self.start) <= self.span
    }
}

/// The target hues one mask hue accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Accept {
    ranges: [HueRange; 3],
}

impl Accept {
    /// Accepts no hue: the packed ranges of word bits that are no mask
    /// position.
    pub(crate) const NONE: Self = Self {
        ranges: [HueRange::EMPTY; 3],
    };

    /// What mask hue (`s1`, rank `r1`) accepts at `tolerance`.
    pub(crate) fn new(s1: u8, r1: usize, tolerance: f64, ranks: &Ranks) -> Self {
        let mut ranges = [HueRange::EMPTY; 3];
        let targets = [Some(s1), neighbours(s1)[0], neighbours(s1)[1]];
        for (range, s2) in ranges.iter_mut().zip(targets) {
            let Some(s2) = s2 else { continue };
            if let Some((low, high)) = interval(s1, r1, s2, tolerance, &ranks.values) {
                let start = ranks.hue_index(s2, low as u16);
                *range = HueRange {
                    start,
                    span: ranks.hue_index(s2, high as u16) - start,
                };
            }
        }
        Self { ranges }
    }

    /// The ranges packed for the vector kernel, one `u32` each:
    /// `start << 15 | span` (a start is below 2^17, a span below 2^15).
    pub(crate) fn packed(&self) -> [u32; 3] {
        self.ranges.map(|r| r.start << PACKED_START | r.span)
    }

    /// Whether the mask hue accepts a target code (its hue index; the
    /// brightness is not tested).
    #[inline(always)]
    pub(crate) fn accepts(&self, code: u32) -> bool {
        let hue = code & HUE_MASK;
        let [a, b, c] = self.ranges;
        a.contains(hue) | b.contains(hue) | c.contains(hue)
    }
}

/// The ranks of target sector `s2` whose gap to the mask hue (`s1`, rank
/// `r1`) is within `tolerance`, as a closed interval. The interval contains
/// the mask's own rank, the lowest or the highest rank.
fn interval(s1: u8, r1: usize, s2: u8, tolerance: f64, values: &[f64]) -> Option<(usize, usize)> {
    let v1 = values[r1];
    let ok = |r: usize| sector_gap(s1, v1, s2, values[r]) <= tolerance;
    let last = values.len() - 1;
    let seed = [r1, 0, last].into_iter().find(|&r| ok(r))?;
    let low = first_true(0, seed, ok);
    let high = first_true(seed, last + 1, |r| !ok(r)) - 1;
    Some((low, high))
}

/// The first `r` in `lo..hi` where `pred` holds, or `hi`, for a `pred`
/// that is false then true over the range.
fn first_true(mut lo: usize, mut hi: usize, pred: impl Fn(usize) -> bool) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The range test equals the exact gap test for a spread of mask hues
    /// against every target hue of every sector.
    #[test]
    fn ranges_accept_exactly_the_hues_within_the_gap() {
        let ranks = Ranks::get();
        let values = &ranks.values;
        for tolerance in [0.0, 0.01, 0.02, 0.3, 5.0] {
            for s1 in 1..=6u8 {
                let mask_ranks = (0..values.len()).step_by(97).chain([1, values.len() - 1]);
                for r1 in mask_ranks {
                    let accept = Accept::new(s1, r1, tolerance, ranks);
                    for s2 in 1..=6u8 {
                        for (r2, &v2) in values.iter().enumerate() {
                            let want = sector_gap(s1, values[r1], s2, v2) <= tolerance;
                            let code = ranks.hue_index(s2, r2 as u16) | 255 << 24;
                            assert_eq!(
                                accept.accepts(code),
                                want,
                                "s1 {s1} r1 {r1} s2 {s2} r2 {r2} tol {tolerance}"
                            );
                            let hue = code & HUE_MASK;
                            let packed = accept.packed().iter().any(|&r| {
                                hue.wrapping_sub(r >> PACKED_START) <= r & ((1 << PACKED_START) - 1)
                            });
                            assert_eq!(packed, want, "packed: s1 {s1} r1 {r1} s2 {s2} r2 {r2}");
                        }
                    }
                }
            }
        }
    }
}
