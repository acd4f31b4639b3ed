//! The fast scorer: a mask prepared once and scored against many targets.
//!
//! Preparation groups the mask pixels by hue class (sector and value rank)
//! and finds, per class, the three ranges of target hue indices it accepts
//! ([`Accept`]), using the reference's f64 arithmetic; scoring then
//! compares integers only. The mask is stored as 64-pixel row words with a
//! class slot per bit; each word is ANDed with the target's lit-pixel
//! bitmap at every shift, so that only pixels lit in both are examined, by
//! the portable loop here or 16 (AVX-512) or 8 (AVX2, NEON) at a time by
//! the vector loops (`super::simd`) where the CPU has them.

use super::accept::Accept;
use super::coded::{bright, CodedTarget};
use super::gap::{Hue, Ranks};
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use super::simd::{VectorLoop, VectorMask};
use super::window::{shifted_row, window_start, MaskWord, Window};
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
    /// The accept words of the mask hues seen.
    classes: Classes,
    mask: Part,
    negative: Option<Part>,
    /// The distinct shifts, as (dx, dy).
    shifts: Vec<(i32, i32)>,
    /// The target bitmap words any score reads, in increasing order: only
    /// these are coded when scoring a decoded target.
    needed: Vec<u32>,
    /// The scoring loop to use.
    scoring_loop: ScoringLoop,
}

/// The loops that count matching positions; all give identical scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ScoringLoop {
    /// The fastest loop this CPU runs.
    #[default]
    Best,
    /// 16 positions at a time with AVX-512 (x86_64).
    Avx512,
    /// 8 positions at a time with AVX2 (x86_64).
    Avx2,
    /// 8 positions at a time, in two 4-lane registers, with NEON (aarch64,
    /// where it is part of the baseline).
    Neon,
    /// Plain Rust, on every CPU.
    Portable,
}

impl ScoringLoop {
    /// Whether this CPU runs the loop.
    pub fn available(self) -> bool {
        match self {
            Self::Best | Self::Portable => true,
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            _ => self.vector().is_some_and(VectorLoop::available),
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            _ => false,
        }
    }

    /// The vector loop this choice runs on this CPU, if any.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn vector(self) -> Option<VectorLoop> {
        match self {
            Self::Best => VectorLoop::detect(),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => Some(VectorLoop::Avx512),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => Some(VectorLoop::Avx2),
            #[cfg(target_arch = "aarch64")]
            Self::Neon => Some(VectorLoop::Neon),
            // The portable loop, and the loops of other architectures.
            _ => None,
        }
    }
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

/// Mask positions as row words, with the class id of each position.
#[derive(Clone, Debug)]
struct Words {
    words: Vec<MaskWord>,
    /// 64 class ids per word: bit j of word i has slot `64 * i + j` (ids
    /// of unset bits are 0). Narrow when every id fits in 16 bits.
    slots: Slots,
    /// For the vector kernel: the packed ranges of each slot's class, three
    /// arrays of 64 per word (see `simd::RANGES_PER_WORD`); bits that are
    /// no mask position have ranges that accept nothing ([`Accept::NONE`]).
    ranges: Vec<u32>,
}

/// The class ids of every word's 64 slots, 16-bit when all ids fit.
#[derive(Clone, Debug)]
enum Slots {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl PreparedMask {
    /// Prepares `mask` for scoring with `params`.
    pub fn new(mask: &RgbImage, params: &MatchParams) -> Result<Self, MatchError> {
        params.validate()?;
        check_image(mask)?;
        let mut classes = Classes::new(params.z_tolerance());
        let part = Part::new(mask, params.mask_threshold, &mut classes);
        let mut prepared = Self {
            params: params.clone(),
            width: mask.width,
            height: mask.height,
            classes,
            mask: part,
            negative: None,
            shifts: params.shifts(),
            needed: Vec::new(),
            scoring_loop: ScoringLoop::Best,
        };
        prepared.needed = prepared.find_needed_words();
        Ok(prepared)
    }

    /// The target bitmap words the scoring loop can find lit pixels in: for
    /// each mask word and shift, the words its shifted window spans.
    fn find_needed_words(&self) -> Vec<u32> {
        let row_words = CodedTarget::row_words_for(self.width);
        let parts = [Some(&self.mask), self.negative.as_ref()]
            .into_iter()
            .flatten();
        let mut needed: Vec<u32> = Vec::new();
        let sides = parts.flat_map(|p| {
            [
                Some(&p.direct),
                self.params.mirror_mask.then_some(&p.mirrored),
            ]
        });
        for words in sides.flatten() {
            for w in &words.words {
                for &(dx, dy) in &self.shifts {
                    let Some(row) = shifted_row(w.y, dy, self.height) else {
                        continue;
                    };
                    let (wi, sh) = window_start(row * row_words, w.k, dx);
                    needed.push(wi as u32);
                    if sh != 0 {
                        needed.push(wi as u32 + 1);
                    }
                }
            }
        }
        needed.sort_unstable();
        needed.dedup();
        needed
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
        self.needed = self.find_needed_words();
        Ok(self)
    }

    /// The parameters the mask was prepared with.
    pub fn params(&self) -> &MatchParams {
        &self.params
    }

    /// The target bitmap words (in increasing order) any score of this mask
    /// reads: a target coded with [`CodedTarget::encode_needed`] for these
    /// words scores as the whole target does.
    pub fn needed_words(&self) -> &[u32] {
        &self.needed
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
        check_image(target)?;
        let coded = CodedTarget::encode_needed(target, &self.needed, self.params.data_threshold);
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

    /// The same mask, scored with the given loop (the scores are
    /// identical; benchmarks and tests compare the loops), or `None` if this
    /// CPU does not run it.
    pub fn with_loop(mut self, scoring_loop: ScoringLoop) -> Option<Self> {
        self.scoring_loop = scoring_loop;
        scoring_loop.available().then_some(self)
    }

    /// The number of matching positions at each shift.
    fn counts(&self, words: &Words, target: &CodedTarget) -> Vec<i64> {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if let Some(vector) = self.scoring_loop.vector() {
            let mask = VectorMask {
                words: &words.words,
                ranges: &words.ranges,
                shifts: &self.shifts,
                threshold: u32::from(self.params.data_threshold),
                height: self.height,
            };
            return vector.counts(&mask, target);
        }
        match &words.slots {
            Slots::Narrow(slots) => self.counts_with(&words.words, slots, target),
            Slots::Wide(slots) => self.counts_with(&words.words, slots, target),
        }
    }

    fn counts_with<I: Copy + Into<u32>>(
        &self,
        words: &[MaskWord],
        slots: &[I],
        target: &CodedTarget,
    ) -> Vec<i64> {
        let kernel = Kernel {
            words,
            slots,
            accepts: &self.classes.accepts,
            target,
            shifts: &self.shifts,
            threshold: u32::from(self.params.data_threshold),
            height: self.height,
        };
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
        {
            // SAFETY: the CPU supports the features `counts_popcnt` is compiled for.
            return unsafe { kernel.counts_popcnt() };
        }
        kernel.counts()
    }
}

/// The inputs of the scoring loop, for class ids of type `I`.
struct Kernel<'a, I> {
    words: &'a [MaskWord],
    /// 64 class ids per word (bit j of a word has slot j).
    slots: &'a [I],
    accepts: &'a [Accept],
    target: &'a CodedTarget,
    shifts: &'a [(i32, i32)],
    threshold: u32,
    height: usize,
}

impl<I: Copy + Into<u32>> Kernel<'_, I> {
    /// [`Kernel::counts`] compiled with hardware popcount and bit manipulation.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt,bmi1,bmi2")]
    unsafe fn counts_popcnt(&self) -> Vec<i64> {
        self.counts()
    }

    /// For each shift, the number of mask positions whose shifted target
    /// pixel is lit and accepted by the position's class. Each mask word is
    /// ANDed with the target's lit bitmap at the shift; only the common bits
    /// are examined, first those whose target pixel is in the window's first
    /// bitmap word, then those in its second.
    #[inline(always)]
    fn counts(&self) -> Vec<i64> {
        let mut counts = vec![0i64; self.shifts.len()];
        let first = self.target.first();
        for (w, slots) in self.words.iter().zip(self.slots.chunks_exact(64)) {
            let slots: &[I; 64] = slots.try_into().expect("64 slots per word");
            for (count, &shift) in counts.iter_mut().zip(self.shifts) {
                let Some(Window {
                    word,
                    offset: sh,
                    lo,
                    hi,
                    cand,
                    ..
                }) = Window::under(w, shift, self.target, self.height)
                else {
                    continue;
                };
                // Target bit sh + j of `lo` is under mask bit j; the lit bits
                // of `lo` below bit sh come first in the codes.
                let skipped = (lo & ((1u64 << sh) - 1)).count_ones();
                let mut hits = self.matches(
                    cand & (u64::MAX >> sh),
                    0,
                    lo >> sh,
                    first[word] + skipped,
                    slots,
                );
                if sh != 0 {
                    // Target bit i of `hi` is under mask bit i + 64 - sh.
                    hits += self.matches(cand >> (64 - sh), 64 - sh, hi, first[word + 1], slots);
                }
                *count += i64::from(hits);
            }
        }
        counts
    }

    /// The number of candidates (bit i of `cand`: target bit i of
    /// `target_bits`, whose lit bits have codes from index `first`, under
    /// mask bit `offset + i`) whose target code is bright and accepted.
    #[inline(always)]
    fn matches(
        &self,
        mut cand: u64,
        offset: usize,
        target_bits: u64,
        first: u32,
        slots: &[I; 64],
    ) -> u32 {
        let codes = self.target.codes();
        let mut hits = 0u32;
        while cand != 0 {
            let i = cand.trailing_zeros();
            cand &= cand - 1;
            let below = target_bits & ((1u64 << i) - 1);
            let code = codes[(first + below.count_ones()) as usize];
            let class: u32 = slots[(offset + i as usize) & 63].into();
            hits += u32::from(
                bright(code, self.threshold) & self.accepts[class as usize].accepts(code),
            );
        }
        hits
    }
}

impl Part {
    fn new(image: &RgbImage, threshold: u8, classes: &mut Classes) -> Self {
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
                    let class = classes.id(hue);
                    direct.push((y, x, class));
                    mirrored.push((y, width - 1 - x, class));
                }
            }
        }
        Self {
            size,
            direct: Words::from_positions(direct, classes),
            mirrored: Words::from_positions(mirrored, classes),
            last_row,
        }
    }
}

impl Words {
    /// Builds the words from (y, x, class id) positions.
    fn from_positions(mut positions: Vec<(usize, usize, u32)>, classes: &Classes) -> Self {
        positions.sort_unstable();
        let mut words: Vec<MaskWord> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        for (y, x, class) in positions {
            let (y, k) = (y as u32, (x / 64) as u32);
            if !matches!(words.last(), Some(w) if w.y == y && w.k == k) {
                words.push(MaskWord { y, k, bits: 0 });
                ids.resize(64 * words.len(), 0);
            }
            let last = words.len() - 1;
            words[last].bits |= 1 << (x % 64);
            ids[64 * last + x % 64] = class;
        }
        let mut ranges = vec![0u32; 3 * ids.len()];
        let parts = words.iter().zip(ids.chunks_exact(64));
        for ((w, slots), out) in parts.zip(ranges.chunks_exact_mut(3 * 64)) {
            for (j, &id) in slots.iter().enumerate() {
                let accept = match w.bits >> j & 1 {
                    1 => &classes.accepts[id as usize],
                    _ => &Accept::NONE,
                };
                for (k, packed) in accept.packed().into_iter().enumerate() {
                    out[64 * k + j] = packed;
                }
            }
        }
        let slots = match ids.iter().all(|&id| id <= u32::from(u16::MAX)) {
            true => Slots::Narrow(ids.iter().map(|&id| id as u16).collect()),
            false => Slots::Wide(ids),
        };
        Self {
            words,
            slots,
            ranges,
        }
    }
}

/// The classes of the mask hues seen so far (many pixels share a hue): an
/// id per (sector, rank) and what each class accepts.
#[derive(Clone, Debug)]
struct Classes {
    tolerance: f64,
    ids: std::collections::HashMap<(u8, u16), u32>,
    accepts: Vec<Accept>,
}

impl Classes {
    fn new(tolerance: f64) -> Self {
        Self {
            tolerance,
            ids: Default::default(),
            accepts: Vec::new(),
        }
    }

    /// The class id of a mask hue (with a sector).
    fn id(&mut self, hue: Hue) -> u32 {
        let ranks = Ranks::get();
        let rank = ranks.rank_of(hue);
        let next = self.accepts.len() as u32;
        let id = *self.ids.entry((hue.sector, rank)).or_insert(next);
        if id == next {
            self.accepts.push(Accept::new(
                hue.sector,
                usize::from(rank),
                self.tolerance,
                ranks,
            ));
        }
        id
    }
}
