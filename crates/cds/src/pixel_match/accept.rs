//! What a mask hue accepts, packed in one word per mask pixel.
//!
//! For a mask hue (sector `s1`, value of rank `r1`) the target hues whose
//! gap is within the tolerance are, by the rules of the gap:
//! - in the same sector, a closed interval of ranks around `r1`;
//! - in each of the (at most two) neighbouring sectors the rules connect,
//!   the ranks up to a bound (rules `v2 < c`, gap increasing with `v2`) or
//!   from a bound (rules `v2 > c`, gap decreasing with `v2`);
//! - nothing elsewhere.
//!
//! The bounds are found with the reference's f64 arithmetic (binary search
//! over the sorted values, each step evaluating the exact gap), so that the
//! integer tests of [`accepts`] give exactly the reference's decisions.

use super::coded::{MAX_SHIFT, SECTOR_SHIFT};
use super::gap::{sector_gap, BG, BR, GB, GR, RB, RG};

/// Which end of the value range a neighbouring sector accepts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    /// Ranks `0..=bound`.
    Low,
    /// Ranks `bound..=last`.
    High,
}

/// Per mask sector, the neighbouring target sectors its rules connect to.
const fn neighbours(s1: u8) -> [Option<(u8, Side)>; 2] {
    match s1 {
        BR => [Some((BG, Side::Low)), None],
        BG => [Some((GB, Side::High)), Some((BR, Side::Low))],
        GB => [Some((BG, Side::High)), Some((GR, Side::Low))],
        GR => [Some((GB, Side::Low)), Some((RG, Side::High))],
        RG => [Some((GR, Side::High)), Some((RB, Side::Low))],
        RB => [Some((RG, Side::Low)), None],
        _ => [None, None],
    }
}

const FIELD: u32 = 15;
const FIELD_MASK: u64 = (1 << FIELD) - 1;
const RANK_MASK: u32 = (1 << FIELD) - 1;
/// Bit offsets of the packed fields.
const OWN_LOW: u32 = 0;
const OWN_SPAN: u32 = 15;
const NEIGHBOUR: [u32; 2] = [30, 45];
const SECTOR: u32 = 60;
/// A field offset whose field is always 0 (bit 63 is never set).
const ZERO_FIELD: u32 = 63;
/// An own-sector low rank above every rank: accepts nothing.
const EMPTY_LOW: u64 = FIELD_MASK;

/// For (mask sector, target sector): the offset of the neighbour field that
/// applies and the mask turning a `High` side into a `Low` one.
static LOOKUP: [(u32, u32); 64] = lookup_table();

const fn lookup_table() -> [(u32, u32); 64] {
    let mut t = [(ZERO_FIELD, 0); 64];
    let mut s1 = 1;
    while s1 <= 6 {
        let pair = neighbours(s1);
        let mut i = 0;
        while i < 2 {
            if let Some((s2, side)) = pair[i] {
                let flip = match side {
                    Side::Low => 0,
                    Side::High => RANK_MASK,
                };
                t[(s1 as usize) * 8 + s2 as usize] = (NEIGHBOUR[i], flip);
            }
            i += 1;
        }
        s1 += 1;
    }
    t
}

/// The packed accept word of mask hue (`s1`, rank `r1`) at `tolerance`.
///
/// Layout: own-sector low rank and span (15 bits each), the two neighbour
/// bounds (15 bits each, stored as `bound + 1` after mapping `High` sides
/// to `Low` ones by `rank ^ 0x7fff`; 0 accepts nothing), the mask sector.
pub(crate) fn pack(s1: u8, r1: usize, tolerance: f64, values: &[f64]) -> u64 {
    let last = values.len() - 1;
    let (low, span) = match interval(s1, r1, s1, tolerance, values) {
        Some((low, high)) => (low as u64, (high - low) as u64),
        None => (EMPTY_LOW, 0),
    };
    let mut word = (low << OWN_LOW) | (span << OWN_SPAN) | (u64::from(s1) << SECTOR);
    for (i, n) in neighbours(s1).into_iter().enumerate() {
        let Some((s2, side)) = n else { continue };
        let Some((low, high)) = interval(s1, r1, s2, tolerance, values) else {
            continue;
        };
        let bound = match side {
            Side::Low => {
                assert_eq!(low, 0, "sector {s1} -> {s2} accepts low ranks only");
                high as u32
            }
            Side::High => {
                assert_eq!(high, last, "sector {s1} -> {s2} accepts high ranks only");
                low as u32 ^ RANK_MASK
            }
        };
        word |= u64::from(bound + 1) << NEIGHBOUR[i];
    }
    word
}

/// Whether the mask pixel with packed accept word `word` accepts the
/// target code `code` (its sector and rank; the brightness is not tested).
#[inline(always)]
pub(crate) fn accepts(word: u64, code: u32) -> bool {
    let s2 = (code >> SECTOR_SHIFT) & 7;
    let rank = code & RANK_MASK;
    let s1 = (word >> SECTOR) as u32;
    let low = ((word >> OWN_LOW) & FIELD_MASK) as u32;
    let span = ((word >> OWN_SPAN) & FIELD_MASK) as u32;
    let own = (s1 == s2) & (rank.wrapping_sub(low) <= span);
    let (offset, flip) = LOOKUP[((s1 << 3) | s2) as usize & 63];
    let bound = ((word >> offset) & FIELD_MASK) as u32;
    let neighbour = (rank ^ flip) < bound;
    own | neighbour
}

/// Whether a target code is bright enough (largest channel above `threshold`).
#[inline(always)]
pub(crate) fn bright(code: u32, threshold: u32) -> bool {
    (code >> MAX_SHIFT) > threshold
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
    use super::super::gap::Ranks;
    use super::*;

    /// The packed test equals the exact gap test for a spread of mask hues
    /// against every target hue.
    #[test]
    fn packed_accepts_equal_exact_gaps() {
        let values = &Ranks::get().values;
        for tolerance in [0.0, 0.01, 0.02, 0.3, 5.0] {
            for s1 in 1..=6u8 {
                let ranks = (0..values.len()).step_by(97).chain([1, values.len() - 1]);
                for r1 in ranks {
                    let word = pack(s1, r1, tolerance, values);
                    for s2 in 1..=6u8 {
                        for (r2, &v2) in values.iter().enumerate() {
                            let want = sector_gap(s1, values[r1], s2, v2) <= tolerance;
                            let code = (u32::from(s2) << SECTOR_SHIFT) | r2 as u32;
                            assert_eq!(
                                accepts(word, code),
                                want,
                                "s1 {s1} r1 {r1} s2 {s2} r2 {r2} tol {tolerance}"
                            );
                        }
                    }
                }
            }
        }
    }
}
