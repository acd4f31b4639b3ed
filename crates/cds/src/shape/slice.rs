//! Slice numbers of colour-depth colours and the slice gap between two colours.
//!
//! A CDM colour encodes a z-slice (1..=256) through a rainbow lookup table;
//! the slice number of a colour is found by comparing the ratio of its two
//! largest channels with the same ratio of the table entries, as the
//! reference (`GradientAreaGapUtils.calculateSliceGap`) does. Because that
//! ratio depends only on which two channels dominate and on their values, the
//! answer for every colour is precomputed once into a small table
//! (6 channel pairs x 256 x 256 values, one byte each).

use std::sync::OnceLock;

/// The colour-depth lookup table: entry `i` (R, G, B) is the colour of slice
/// `i + 1`.
///
/// Data, not code: copied from `colorDepthLUT` of
/// `fixtures/cdm/golden-shape.json`, which holds the table of
/// `GradientAreaGapUtils.findSliceNumberInLUT` in JaneliaSciComp/colormipsearch
/// (commit 09859427d9bb, BSD 3-Clause, (c) 2020 Howard Hughes Medical Institute).
pub const COLOR_DEPTH_LUT: [[u8; 3]; 256] = [
    [127, 0, 255],
    [125, 3, 255],
    [124, 6, 255],
    [122, 9, 255],
    [121, 12, 255],
    [120, 15, 255],
    [119, 18, 255],
    [118, 21, 255],
    [116, 24, 255],
    [115, 27, 255],
    [114, 30, 255],
    [113, 33, 255],
    [112, 36, 255],
    [110, 39, 255],
    [109, 42, 255],
    [108, 45, 255],
    [106, 48, 255],
    [105, 51, 255],
    [104, 54, 255],
    [103, 57, 255],
    [101, 60, 255],
    [100, 63, 255],
    [99, 66, 255],
    [98, 69, 255],
    [96, 72, 255],
    [95, 75, 255],
    [94, 78, 255],
    [93, 81, 255],
    [92, 84, 255],
    [90, 87, 255],
    [89, 90, 255],
    [87, 93, 255],
    [86, 96, 255],
    [84, 99, 255],
    [83, 102, 255],
    [81, 105, 255],
    [80, 108, 255],
    [78, 111, 255],
    [77, 114, 255],
    [75, 117, 255],
    [74, 120, 255],
    [72, 123, 255],
    [71, 126, 255],
    [69, 129, 255],
    [68, 132, 255],
    [66, 135, 255],
    [65, 138, 255],
    [63, 141, 255],
    [62, 144, 255],
    [60, 147, 255],
    [59, 150, 255],
    [57, 153, 255],
    [56, 156, 255],
    [54, 159, 255],
    [53, 162, 255],
    [51, 165, 255],
    [50, 168, 255],
    [48, 171, 255],
    [47, 174, 255],
    [45, 177, 255],
    [44, 180, 255],
    [42, 183, 255],
    [41, 186, 255],
    [39, 189, 255],
    [38, 192, 255],
    [36, 195, 255],
    [35, 198, 255],
    [33, 201, 255],
    [32, 204, 255],
    [30, 207, 255],
    [29, 210, 255],
    [27, 213, 255],
    [26, 216, 255],
    [24, 219, 255],
    [23, 222, 255],
    [21, 225, 255],
    [20, 228, 255],
    [18, 231, 255],
    [16, 234, 255],
    [14, 237, 255],
    [12, 240, 255],
    [9, 243, 255],
    [6, 246, 255],
    [3, 249, 255],
    [1, 252, 255],
    [0, 254, 255],
    [3, 255, 252],
    [6, 255, 249],
    [9, 255, 246],
    [12, 255, 243],
    [15, 255, 240],
    [18, 255, 237],
    [21, 255, 234],
    [24, 255, 231],
    [27, 255, 228],
    [30, 255, 225],
    [33, 255, 222],
    [36, 255, 219],
    [39, 255, 216],
    [42, 255, 213],
    [45, 255, 210],
    [48, 255, 207],
    [51, 255, 204],
    [54, 255, 201],
    [57, 255, 198],
    [60, 255, 195],
    [63, 255, 192],
    [66, 255, 189],
    [69, 255, 186],
    [72, 255, 183],
    [75, 255, 180],
    [78, 255, 177],
    [81, 255, 174],
    [84, 255, 171],
    [87, 255, 168],
    [90, 255, 165],
    [93, 255, 162],
    [96, 255, 159],
    [99, 255, 156],
    [102, 255, 153],
    [105, 255, 150],
    [108, 255, 147],
    [111, 255, 144],
    [114, 255, 141],
    [117, 255, 138],
    [120, 255, 135],
    [123, 255, 132],
    [126, 255, 129],
    [129, 255, 126],
    [132, 255, 123],
    [135, 255, 120],
    [138, 255, 117],
    [141, 255, 114],
    [144, 255, 111],
    [147, 255, 108],
    [150, 255, 105],
    [153, 255, 102],
    [156, 255, 99],
    [159, 255, 96],
    [162, 255, 93],
    [165, 255, 90],
    [168, 255, 87],
    [171, 255, 84],
    [174, 255, 81],
    [177, 255, 78],
    [180, 255, 75],
    [183, 255, 72],
    [186, 255, 69],
    [189, 255, 66],
    [192, 255, 63],
    [195, 255, 60],
    [198, 255, 57],
    [201, 255, 54],
    [204, 255, 51],
    [207, 255, 48],
    [210, 255, 45],
    [213, 255, 42],
    [216, 255, 39],
    [219, 255, 36],
    [222, 255, 33],
    [225, 255, 30],
    [228, 255, 27],
    [231, 255, 24],
    [234, 255, 21],
    [237, 255, 18],
    [240, 255, 15],
    [243, 255, 12],
    [246, 255, 9],
    [249, 255, 6],
    [252, 255, 3],
    [254, 255, 0],
    [255, 252, 3],
    [255, 249, 6],
    [255, 246, 9],
    [255, 243, 12],
    [255, 240, 15],
    [255, 237, 18],
    [255, 234, 21],
    [255, 231, 24],
    [255, 228, 27],
    [255, 225, 30],
    [255, 222, 33],
    [255, 219, 36],
    [255, 216, 39],
    [255, 213, 42],
    [255, 210, 45],
    [255, 207, 48],
    [255, 204, 51],
    [255, 201, 54],
    [255, 198, 57],
    [255, 195, 60],
    [255, 192, 63],
    [255, 189, 66],
    [255, 186, 69],
    [255, 183, 72],
    [255, 180, 75],
    [255, 177, 78],
    [255, 174, 81],
    [255, 171, 84],
    [255, 168, 87],
    [255, 165, 90],
    [255, 162, 93],
    [255, 159, 96],
    [255, 156, 99],
    [255, 153, 102],
    [255, 150, 105],
    [255, 147, 108],
    [255, 144, 111],
    [255, 141, 114],
    [255, 138, 117],
    [255, 135, 120],
    [255, 132, 123],
    [255, 129, 126],
    [255, 126, 129],
    [255, 123, 132],
    [255, 120, 135],
    [255, 117, 138],
    [255, 114, 141],
    [255, 111, 144],
    [255, 108, 147],
    [255, 105, 150],
    [255, 102, 153],
    [255, 99, 156],
    [255, 96, 159],
    [255, 93, 162],
    [255, 90, 165],
    [255, 87, 168],
    [255, 84, 171],
    [255, 81, 173],
    [255, 78, 174],
    [255, 75, 175],
    [255, 72, 176],
    [255, 69, 177],
    [255, 66, 178],
    [255, 63, 179],
    [255, 60, 180],
    [255, 57, 181],
    [255, 54, 182],
    [255, 51, 183],
    [255, 48, 184],
    [255, 45, 185],
    [255, 42, 186],
    [255, 39, 187],
    [255, 36, 188],
    [255, 33, 189],
    [255, 30, 190],
    [255, 27, 191],
    [255, 24, 192],
    [255, 21, 193],
    [255, 18, 194],
    [255, 15, 195],
    [255, 12, 196],
    [255, 9, 197],
    [255, 6, 198],
    [255, 3, 199],
    [255, 0, 200],
];

/// Which two channels dominate a colour, in (first, second) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pair {
    RG,
    RB,
    GR,
    GB,
    BR,
    BG,
}

impl Pair {
    const ALL: [Pair; 6] = [Pair::RG, Pair::RB, Pair::GR, Pair::GB, Pair::BR, Pair::BG];

    /// The inclusive range of LUT indices searched for this pair.
    fn lut_range(self) -> std::ops::RangeInclusive<usize> {
        match self {
            Pair::RG => 171..=212,
            Pair::RB => 213..=255,
            Pair::GR => 128..=170,
            Pair::GB => 86..=127,
            Pair::BR => 0..=29,
            Pair::BG => 30..=85,
        }
    }

    /// The dominant pair of (r, g, b) and its (first, second) channel values,
    /// with the reference's tie rules.
    fn of(r: u8, g: u8, b: u8) -> (Pair, u8, u8) {
        if r >= g && r >= b {
            if g >= b {
                (Pair::RG, r, g)
            } else {
                (Pair::RB, r, b)
            }
        } else if g >= r && g >= b {
            if r >= b {
                (Pair::GR, g, r)
            } else {
                (Pair::GB, g, b)
            }
        } else if r >= g {
            (Pair::BR, b, r)
        } else {
            (Pair::BG, b, g)
        }
    }
}

/// The ratio of a LUT entry, with strict comparisons only: the second largest
/// channel over the strictly largest one, and 0 on any tie.
fn lut_ratio([r, g, b]: [u8; 3]) -> f64 {
    let ratio = |top: u8, x: u8, y: u8| {
        if x > y {
            f64::from(x) / f64::from(top)
        } else if y > x {
            f64::from(y) / f64::from(top)
        } else {
            0.0
        }
    };
    if b > r && b > g {
        ratio(b, r, g)
    } else if g > r && g > b {
        ratio(g, r, b)
    } else if r > g && r > b {
        ratio(r, g, b)
    } else {
        0.0
    }
}

/// The slice number (1..=256) for a dominant pair and its channel values,
/// or 0 when the ratio is NaN (black): the first LUT index in the pair's
/// range that minimizes `|ratio - lutRatio|`, plus one.
fn search_lut(pair: Pair, first: u8, second: u8, lut_ratios: &[f64; 256]) -> u16 {
    let ratio = f64::from(second) / f64::from(first);
    let mut best = f64::INFINITY;
    let mut slice = 0;
    for i in pair.lut_range() {
        let d = (ratio - lut_ratios[i]).abs();
        if d < best {
            best = d;
            slice = i as u16 + 1;
        }
    }
    slice
}

/// Entries of the precomputed table per dominant pair (`first * 256 + second`).
const PAIR_ENTRIES: usize = 256 * 256;

/// The LUT index (slice - 1) of every (pair, first, second), at
/// `pair * PAIR_ENTRIES + first * 256 + second`; only entries with
/// `first >= second` and `first > 0` are meaningful.
fn table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let lut_ratios: [f64; 256] = std::array::from_fn(|i| lut_ratio(COLOR_DEPTH_LUT[i]));
        let mut table = vec![0u8; Pair::ALL.len() * PAIR_ENTRIES];
        for pair in Pair::ALL {
            for first in 1..=255u8 {
                for second in 0..=first {
                    let slice = search_lut(pair, first, second, &lut_ratios);
                    table[table_index(pair, first, second)] = (slice - 1) as u8;
                }
            }
        }
        table
    })
}

/// Position of (pair, first, second) in [`table`].
#[inline]
fn table_index(pair: Pair, first: u8, second: u8) -> usize {
    pair as usize * PAIR_ENTRIES + usize::from(first) * 256 + usize::from(second)
}

/// The slice number (1..=256) of a packed `0x00RRGGBB` colour, 0 for black.
#[inline]
pub fn slice_number(rgb: u32) -> u16 {
    let [b, g, r, _] = rgb.to_le_bytes();
    let (pair, first, second) = Pair::of(r, g, b);
    if first == 0 {
        return 0;
    }
    u16::from(table()[table_index(pair, first, second)]) + 1
}

/// The reference slice gap between a query colour and a z-gap colour: the
/// z-gap's slice number if either colour is black, else `|sq - sz|`.
pub fn slice_gap(query: u32, zgap: u32) -> u16 {
    let (sq, sz) = (slice_number(query), slice_number(zgap));
    if sq == 0 || sz == 0 {
        sz
    } else {
        sq.abs_diff(sz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_has_slice_zero_and_gap_takes_the_zgap_slice() {
        assert_eq!(slice_number(0), 0);
        assert_eq!(slice_gap(0, 0xff0000), slice_number(0xff0000));
        assert_eq!(slice_gap(0xff0000, 0), 0);
    }

    #[test]
    fn table_matches_a_direct_search() {
        let lut_ratios: [f64; 256] = std::array::from_fn(|i| lut_ratio(COLOR_DEPTH_LUT[i]));
        for rgb in (0..0x0100_0000u32).step_by(9973) {
            let [b, g, r, _] = rgb.to_le_bytes();
            let (pair, first, second) = Pair::of(r, g, b);
            let direct = if first == 0 {
                0
            } else {
                search_lut(pair, first, second, &lut_ratios)
            };
            assert_eq!(slice_number(rgb), direct, "{rgb:06x}");
        }
    }
}
