//! The fast scorer: a mask prepared once and scored against many targets.
//!
//! Preparation groups the mask pixels by hue class (sector and value rank)
//! and finds, per class and target sector, the closed interval of target
//! value ranks whose gap is within the tolerance, using the reference's f64
//! arithmetic; scoring then compares integers only. The mask is stored as
//! 64-pixel row words; each word is ANDed with the target's lit-pixel
//! bitmap at every shift, so that only pixels lit in both are examined.

use super::coded::{checked_encode, CodedTarget, HUE_BITS, MAX_SHIFT, SECTOR_SHIFT};
use super::gap::{sector_gap, Hue, Ranks};
use super::{
    above, check_image, final_score, in_label_area, Best, MatchError, MatchParams, MatchScore,
};
use crate::RgbImage;

/// A mask ready to be scored against many targets.
#[derive(Clone, Debug)]
pub struct PreparedMask {
    params: MatchParams,
    width: usize,
    height: usize,
    /// The mask hue classes and the codes each accepts.
    classes: ClassTable,
    mask: Part,
    negative: Option<Part>,
    /// The distinct shifts, as (dx, dy).
    shifts: Vec<(i32, i32)>,
}

/// The codes a class accepts in one target sector: `code - low <= span`
/// (wrapping), on the sector and rank bits of the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Accept {
    low: u32,
    span: u32,
}

impl Accept {
    const NONE: Accept = Accept {
        low: u32::MAX,
        span: 0,
    };
}

/// One mask (or negative mask), unmirrored and mirrored.
#[derive(Clone, Debug)]
struct Part {
    /// Number of mask positions (the ratio's denominator).
    size: usize,
    direct: Words,
    mirrored: Words,
    /// Last row holding a mask position, if any.
    last_row: Option<usize>,
}

/// Mask positions as row words with a class index per set bit.
#[derive(Clone, Debug, Default)]
struct Words {
    words: Vec<MaskWord>,
    /// Class of each position, in the order of the words' set bits.
    classes: Vec<u32>,
}

#[derive(Clone, Copy, Debug)]
struct MaskWord {
    y: u32,
    /// Word index in the row: pixels 64 * k .. 64 * k + 64.
    k: u32,
    bits: u64,
    /// Index in `classes` of the word's first set bit.
    first: u32,
}

impl PreparedMask {
    /// Prepares `mask` for scoring with `params`.
    pub fn new(mask: &RgbImage, params: &MatchParams) -> Result<Self, MatchError> {
        params.validate()?;
        check_image(mask)?;
        let mut classes = ClassTable::new(params.z_tolerance());
        let part = Part::new(mask, params.mask_threshold, &mut classes);
        Ok(Self {
            params: params.clone(),
            width: mask.width,
            height: mask.height,
            classes,
            mask: part,
            negative: None,
            shifts: params.shifts(),
        })
    }

    /// Adds a negative mask, thresholded, shifted and mirrored like the mask,
    /// whose best ratio is subtracted from the mask's.
    pub fn with_negative(mut self, negative: &RgbImage) -> Result<Self, MatchError> {
        check_image(negative)?;
        if (negative.width, negative.height) != self.size() {
            return Err(MatchError::NegativeSizeMismatch {
                mask: self.size(),
                negative: (negative.width, negative.height),
            });
        }
        self.negative = Some(Part::new(
            negative,
            self.params.mask_threshold,
            &mut self.classes,
        ));
        Ok(self)
    }

    /// Number of mask positions.
    pub fn mask_pixel_count(&self) -> usize {
        self.mask.size
    }

    /// The (width, height) of the mask and of the targets it accepts.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// The number of leading target rows any score may read: targets may be
    /// decoded up to that row only.
    pub fn rows_needed(&self) -> usize {
        let last = [Some(&self.mask), self.negative.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|p| p.last_row)
            .max();
        last.map_or(0, |row| {
            (row + self.params.xy_shift as usize + 1).min(self.height)
        })
    }

    /// Scores a decoded target.
    pub fn score(&self, target: &RgbImage) -> Result<MatchScore, MatchError> {
        self.check_size((target.width, target.height))?;
        let coded = checked_encode(target, self.rows_needed(), self.params.data_threshold)?;
        Ok(self.score_unchecked(&coded))
    }

    /// Scores a target coded with [`CodedTarget::encode`].
    pub fn score_coded(&self, target: &CodedTarget) -> Result<MatchScore, MatchError> {
        self.check_size((target.width(), target.height()))?;
        Ok(self.score_unchecked(target))
    }

    fn check_size(&self, target: (usize, usize)) -> Result<(), MatchError> {
        if target != self.size() {
            return Err(MatchError::SizeMismatch {
                mask: self.size(),
                target,
            });
        }
        Ok(())
    }

    fn score_unchecked(&self, target: &CodedTarget) -> MatchScore {
        let side = |mirror: bool| {
            let best = |part: &Part| {
                let words = if mirror { &part.mirrored } else { &part.direct };
                Best::of(self.counts(words, target), part.size)
            };
            let direct = best(&self.mask);
            match &self.negative {
                Some(neg) => direct.minus(best(neg), self.mask.size, neg.size),
                None => direct,
            }
        };
        let direct = side(false);
        let mirrored = self.params.mirror_mask.then(|| side(true));
        final_score(direct, mirrored)
    }

    /// The number of matching positions at each shift.
    fn counts(&self, words: &Words, target: &CodedTarget) -> Vec<i64> {
        let mut counts = vec![0i64; self.shifts.len()];
        let row_words = target.row_words();
        let (bits, prefix, codes) = (target.bits(), target.prefix(), target.codes());
        let threshold = u32::from(self.params.data_threshold);
        let height = self.height as i64;
        for w in &words.words {
            let classes = &words.classes[w.first as usize..];
            for (count, &(dx, dy)) in counts.iter_mut().zip(&self.shifts) {
                let ty = i64::from(w.y) + i64::from(dy);
                if ty < 0 || ty >= height {
                    continue;
                }
                let row = ty as usize * row_words;
                let base = ((w.k as i64 + 1) * 64 + i64::from(dx)) as usize;
                let (wi, sh) = (row + (base >> 6), base & 63);
                let pair = (u128::from(bits[wi + 1]) << 64) | u128::from(bits[wi]);
                let mut cand = w.bits & (pair >> sh) as u64;
                while cand != 0 {
                    let j = cand.trailing_zeros();
                    cand &= cand - 1;
                    let class = classes[(w.bits & ((1u64 << j) - 1)).count_ones() as usize];
                    let t = base + j as usize;
                    let tw = row + (t >> 6);
                    let below = bits[tw] & ((1u64 << (t & 63)) - 1);
                    let code = codes[(prefix[tw] + below.count_ones()) as usize];
                    let accept =
                        self.classes.accepts[class as usize][((code >> SECTOR_SHIFT) & 7) as usize];
                    let hit = (code >> MAX_SHIFT) > threshold
                        && (code & HUE_BITS).wrapping_sub(accept.low) <= accept.span;
                    *count += i64::from(hit);
                }
            }
        }
        counts
    }
}

impl Part {
    fn new(image: &RgbImage, threshold: u8, classes: &mut ClassTable) -> Self {
        let (width, height) = (image.width, image.height);
        let mut size = 0;
        let mut last_row = None;
        let mut direct = Vec::new();
        let mut mirrored = Vec::new();
        for y in 0..height {
            for x in 0..width {
                let p = image.pixels[y * width + x];
                if in_label_area(x, y, width) || !above(p, threshold) {
                    continue;
                }
                size += 1;
                last_row = Some(y);
                let hue = Hue::of(p);
                if hue.sector != 0 {
                    let class = classes.class_of(hue);
                    direct.push((y, x, class));
                    mirrored.push((y, width - 1 - x, class));
                }
            }
        }
        Self {
            size,
            direct: Words::from_positions(direct),
            mirrored: Words::from_positions(mirrored),
            last_row,
        }
    }
}

impl Words {
    /// Builds the words from (y, x, class) positions.
    fn from_positions(mut positions: Vec<(usize, usize, u32)>) -> Self {
        positions.sort_unstable();
        let mut out = Words::default();
        for (y, x, class) in positions {
            let (y, k) = (y as u32, (x / 64) as u32);
            match out.words.last_mut() {
                Some(w) if w.y == y && w.k == k => w.bits |= 1 << (x % 64),
                _ => out.words.push(MaskWord {
                    y,
                    k,
                    bits: 1 << (x % 64),
                    first: out.classes.len() as u32,
                }),
            }
            out.classes.push(class);
        }
        out
    }
}

/// The distinct mask hue classes and what each accepts.
#[derive(Clone, Debug)]
struct ClassTable {
    tolerance: f64,
    accepts: Vec<[Accept; 8]>,
    index: std::collections::HashMap<(u8, u16), u32>,
}

impl ClassTable {
    fn new(tolerance: f64) -> Self {
        Self {
            tolerance,
            accepts: Vec::new(),
            index: Default::default(),
        }
    }

    /// The class of a mask hue, added to the table on first sight.
    fn class_of(&mut self, hue: Hue) -> u32 {
        let ranks = Ranks::get();
        let rank = usize::from(ranks.rank_of(hue));
        let next = self.accepts.len() as u32;
        let index = *self.index.entry((hue.sector, rank as u16)).or_insert(next);
        if index == next {
            let row = std::array::from_fn(|s2| {
                accept_interval(hue.sector, rank, s2 as u8, self.tolerance, &ranks.values)
            });
            self.accepts.push(row);
        }
        index
    }
}

/// The codes of target sector `s2` whose gap to the mask hue (`s1`, value
/// of rank `r1`) is within `tolerance`. The accepted ranks form one
/// interval, which contains the mask's own rank, the lowest or the highest.
fn accept_interval(s1: u8, r1: usize, s2: u8, tolerance: f64, values: &[f64]) -> Accept {
    let v1 = values[r1];
    let ok = |r: usize| sector_gap(s1, v1, s2, values[r]) <= tolerance;
    let last = values.len() - 1;
    let Some(seed) = [r1, 0, last].into_iter().find(|&r| ok(r)) else {
        return Accept::NONE;
    };
    let low = first_true(0, seed, ok);
    let high = first_true(seed, last + 1, |r| !ok(r)) - 1;
    Accept {
        low: (u32::from(s2) << SECTOR_SHIFT) | low as u32,
        span: (high - low) as u32,
    }
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

    /// The accepted intervals equal the exhaustive set of matching ranks.
    #[test]
    fn intervals_match_exhaustive_search() {
        let values = &Ranks::get().values;
        for tolerance in [0.0, 0.01, 0.02, 0.3] {
            for s1 in 1..=6u8 {
                for r1 in (0..values.len()).step_by(211).chain([1, values.len() - 1]) {
                    let v1 = values[r1];
                    for s2 in 0..8u8 {
                        let a = accept_interval(s1, r1, s2, tolerance, values);
                        for (r2, &v2) in values.iter().enumerate() {
                            let expected = sector_gap(s1, v1, s2, v2) <= tolerance;
                            let code = (u32::from(s2) << SECTOR_SHIFT) | r2 as u32;
                            let got = code.wrapping_sub(a.low) <= a.span;
                            assert_eq!(
                                got, expected,
                                "s1 {s1} v1 {v1} s2 {s2} v2 {v2} tol {tolerance}"
                            );
                        }
                    }
                }
            }
        }
    }
}
