//! The hue distance between two pixels (`pixelGap`), and the finite set of
//! hue values it works on.

use std::sync::OnceLock;

use crate::image::channels;

/// Gap of pixels that cannot match.
pub(crate) const NO_MATCH: f64 = 10000.0;

const BR_BG: f64 = 0.354862745;
const BG_GB: f64 = 0.996078431;
const GB_GR: f64 = 0.505882353;
const GR_RG: f64 = 0.996078431;
const RG_RB: f64 = 0.505882353;

/// Sectors of the hue circle, numbered as in the reference (0 = none).
pub(crate) const BR: u8 = 1;
pub(crate) const BG: u8 = 2;
pub(crate) const GB: u8 = 3;
pub(crate) const GR: u8 = 4;
pub(crate) const RG: u8 = 5;
pub(crate) const RB: u8 = 6;

/// A pixel's hue: its sector (0 when the two largest channels tie) and
/// its value as the fraction `num / den` of two channels (`den` is the
/// largest channel; `num` 0 means the value 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hue {
    pub sector: u8,
    pub num: u8,
    pub den: u8,
}

impl Hue {
    /// The hue of a packed pixel.
    #[inline(always)]
    pub(crate) fn of(pixel: u32) -> Self {
        let (r, g, b) = channels(pixel);
        let key = usize::from(b > r)
            | usize::from(b > g) << 1
            | usize::from(r > g) << 2
            | usize::from(g > r) << 3
            | usize::from(g > b) << 4
            | usize::from(r > b) << 5;
        let (sector, shift) = SECTORS[key];
        let lit = u8::from(sector != 0).wrapping_neg();
        Self {
            sector,
            num: (pixel >> shift) as u8 & lit,
            den: r.max(g).max(b) & lit,
        }
    }

    /// The hue value as the reference computes it.
    #[inline]
    pub(crate) fn value(&self) -> f64 {
        ratio(self.num, self.den)
    }
}

/// Sector and value-numerator channel shift for each outcome of the six
/// channel comparisons (bit 0 b>r, 1 b>g, 2 r>g, 3 g>r, 4 g>b, 5 r>b):
/// the reference's classification, as a table for branch-free coding.
static SECTORS: [(u8, u32); 64] = sector_table();

const fn sector_table() -> [(u8, u32); 64] {
    let (r_, g_, b_) = (16, 8, 0);
    let mut t = [(0, 0); 64];
    let mut key = 0;
    while key < 64 {
        let (b_r, b_g, r_g) = (bit(key, 0), bit(key, 1), bit(key, 2));
        let (g_r, g_b, r_b) = (bit(key, 3), bit(key, 4), bit(key, 5));
        t[key] = if b_r && b_g {
            if r_g {
                (BR, r_)
            } else {
                (BG, g_)
            }
        } else if g_b && g_r {
            if b_r {
                (GB, b_)
            } else {
                (GR, r_)
            }
        } else if r_b && r_g {
            if g_b {
                (RG, g_)
            } else {
                (RB, b_)
            }
        } else {
            (0, 0)
        };
        key += 1;
    }
    t
}

const fn bit(key: usize, i: u32) -> bool {
    (key >> i) & 1 == 1
}

/// `num / den` in f64, or 0 when `num` is 0.
#[inline]
fn ratio(num: u8, den: u8) -> f64 {
    if num == 0 {
        0.0
    } else {
        f64::from(num) / f64::from(den)
    }
}

/// The gap between a mask hue (sector `s1`, value `v1`) and a target hue
/// (`s2`, `v2`), with the reference's rules and f64 arithmetic.
pub(crate) fn sector_gap(s1: u8, v1: f64, s2: u8, v2: f64) -> f64 {
    if s1 == 0 || s2 == 0 {
        return NO_MATCH;
    }
    if s1 == s2 {
        return if v1 > 0.0 && v2 > 0.0 {
            (v2 - v1).abs()
        } else {
            NO_MATCH
        };
    }
    match (s1, s2) {
        (BR, BG) if v1 < 0.44 && v2 < 0.54 => (v1 - BR_BG) + (v2 - BR_BG),
        (BG, GB) if v1 > 0.8 && v2 > 0.8 => (BG_GB - v1) + (BG_GB - v2),
        (BG, BR) if v1 < 0.54 && v2 < 0.44 => (v2 - BR_BG) + (v1 - BR_BG),
        (GB, BG) if v1 > 0.8 && v2 > 0.8 => (BG_GB - v1) + (BG_GB - v2),
        (GB, GR) if v1 < 0.7 && v2 < 0.7 => (v1 - GB_GR) + (v2 - GB_GR),
        (GR, GB) if v1 < 0.7 && v2 < 0.7 => (v1 - GB_GR) + (v2 - GB_GR),
        (GR, RG) if v1 > 0.8 && v2 > 0.8 => (GR_RG - v1) + (GR_RG - v2),
        (RG, GR) if v1 > 0.8 && v2 > 0.8 => (GR_RG - v2) + (GR_RG - v1),
        (RG, RB) if v1 < 0.7 && v2 < 0.7 => (v2 - RG_RB) + (v1 - RG_RB),
        (RB, RG) if v2 < 0.7 && v1 < 0.7 => (v2 - RG_RB) + (v1 - RG_RB),
        _ => NO_MATCH,
    }
}

/// The reference's `pixelGap(mask pixel, target pixel)`.
pub fn pixel_gap(mask: u32, target: u32) -> f64 {
    let m = Hue::of(mask);
    let t = Hue::of(target);
    sector_gap(m.sector, m.value(), t.sector, t.value())
}

/// The sorted distinct hue values `num / den` (0 <= num < den <= 255), and
/// the rank of each fraction among them: integer compares of ranks then
/// replace f64 compares of values exactly.
pub(crate) struct Ranks {
    /// Distinct values in increasing order; `values[0] == 0.0`.
    pub values: Vec<f64>,
    /// `rank[num * 256 + den]`: index of `num / den` in `values`.
    pub rank: Vec<u16>,
}

impl Ranks {
    /// The shared table, built on first use.
    pub(crate) fn get() -> &'static Ranks {
        static RANKS: OnceLock<Ranks> = OnceLock::new();
        RANKS.get_or_init(Ranks::build)
    }

    fn build() -> Self {
        let mut fractions: Vec<(f64, u8, u8)> = Vec::new();
        for den in 1..=255u8 {
            for num in 0..den {
                fractions.push((ratio(num, den), num, den));
            }
        }
        fractions.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut values: Vec<f64> = Vec::new();
        let mut rank = vec![0u16; 256 * 256];
        for (value, num, den) in fractions {
            if values.last() != Some(&value) {
                values.push(value);
            }
            rank[usize::from(num) * 256 + usize::from(den)] = (values.len() - 1) as u16;
        }
        Self { values, rank }
    }

    /// The rank of a hue's value.
    #[inline]
    pub(crate) fn rank_of(&self, hue: Hue) -> u16 {
        self.rank[usize::from(hue.num) * 256 + usize::from(hue.den)]
    }

    /// The hue index of (sector 1..=6, rank): `(sector - 1) * N + rank`
    /// for N distinct values, below `6 * N` (< 2^17).
    #[inline]
    pub(crate) fn hue_index(&self, sector: u8, rank: u16) -> u32 {
        (u32::from(sector) - 1) * self.values.len() as u32 + u32::from(rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::pack;

    #[test]
    fn ranks_cover_all_fractions() {
        let ranks = Ranks::get();
        assert_eq!(ranks.values[0], 0.0);
        assert!(ranks.values.windows(2).all(|w| w[0] < w[1]));
        assert!(ranks.values.len() < 1 << 15);
        // Hue indices fit below the code word's hue mask, which itself is
        // above every index (it marks empty ranges).
        assert!(6 * ranks.values.len() < super::super::coded::HUE_MASK as usize);
        let h = Hue::of(pack(10, 200, 40));
        assert_eq!(ranks.values[usize::from(ranks.rank_of(h))], 40.0 / 200.0);
    }

    #[test]
    fn sectors_follow_channel_order() {
        assert_eq!(Hue::of(pack(10, 5, 200)).sector, BR);
        assert_eq!(Hue::of(pack(0, 0, 200)).sector, BG);
        assert_eq!(Hue::of(pack(0, 0, 200)).value(), 0.0);
        assert_eq!(Hue::of(pack(3, 200, 40)).sector, GB);
        assert_eq!(Hue::of(pack(40, 200, 40)).sector, GR);
        assert_eq!(Hue::of(pack(200, 20, 10)).sector, RG);
        assert_eq!(Hue::of(pack(200, 10, 10)).sector, RB);
        assert_eq!(Hue::of(pack(200, 200, 10)).sector, 0);
        assert_eq!(Hue::of(pack(7, 7, 7)).sector, 0);
    }

    #[test]
    fn gap_examples() {
        let blue = pack(0, 0, 200);
        assert_eq!(pixel_gap(blue, blue), NO_MATCH);
        let p = pack(10, 100, 200);
        assert_eq!(pixel_gap(p, p), 0.0);
        assert_eq!(
            pixel_gap(pack(0, 50, 100), pack(0, 52, 100)),
            (0.52f64 - 0.5).abs()
        );
        // BR mask with a small value against pure blue: negative gap.
        let br = pack(20, 0, 200);
        assert!(pixel_gap(br, blue) < 0.0);
        assert_eq!(pixel_gap(pack(200, 200, 10), p), NO_MATCH);
    }
}
