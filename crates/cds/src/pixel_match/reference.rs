//! The straightforward scalar pixel-match score, written after the
//! algorithm's description step by step (position lists, shifted lists,
//! mirrored lists, one `pixel_gap` per pixel). It is the oracle the fast
//! scorer is tested against and the baseline of the benchmarks.

use super::gap::pixel_gap;
use super::{
    above, check_image, final_score, in_label_area, Best, MatchError, MatchParams, MatchScore,
};
use crate::RgbImage;
use std::borrow::Cow;

/// Scores `target` against `mask`.
pub fn score(
    mask: &RgbImage,
    target: &RgbImage,
    params: &MatchParams,
) -> Result<MatchScore, MatchError> {
    score_with_negative(mask, None, target, params)
}

/// Scores `target` against `mask`, subtracting the result of an optional
/// negative mask (thresholded, shifted and mirrored like the mask).
pub fn score_with_negative(
    mask: &RgbImage,
    negative: Option<&RgbImage>,
    target: &RgbImage,
    params: &MatchParams,
) -> Result<MatchScore, MatchError> {
    ReferenceMask::new(mask, negative, params)?.score(target)
}

/// Which pixels matched in the alignment that gave a target its score
/// ([`ReferenceMask::matched_pixels`]).
///
/// The alignment is the one the score takes: the mirrored side only when
/// its ratio is strictly greater than the direct side's, and on a side the
/// last of the shifted lists with the most matches (ties go to the later
/// list, as `Iterator::max` keeps the last maximum). Only the mask's own
/// matches are listed: with a negative mask the score's
/// `matching_pixels` is this count minus the negative mask's scaled count,
/// while `mirrored` is always the score's choice (made after subtraction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedPixels {
    /// Whether the mirrored mask won (equals [`MatchScore::mirrored`]).
    pub mirrored: bool,
    /// The shift `(dx, dy)` of the winning list, in pixels, applied to the
    /// mask positions before mirroring: a mask pixel at `(x, y)` is compared
    /// with the target pixel at `(x + dx, y + dy)`, or, mirrored, at
    /// `(width - 1 - (x + dx), y + dy)`. `(0, 0)` when `xy_shift` is 0.
    pub shift: (i64, i64),
    /// The matched mask positions (`y * width + x`), increasing.
    pub mask_positions: Vec<usize>,
    /// The target positions (`y * width + x`) the mask positions matched,
    /// pairwise with [`Self::mask_positions`] (so not sorted when
    /// mirrored). Without a negative mask, their count is the score's
    /// `matching_pixels`.
    pub target_positions: Vec<usize>,
}

/// A mask with its position lists built once, as the reference service
/// does before scoring a library (`GenerateColorMIPMasks`), or, made with
/// [`ReferenceMask::lean`], derived one at a time while scoring.
#[derive(Clone, Debug)]
pub struct ReferenceMask<'a> {
    params: MatchParams,
    mask: Lists<'a>,
    negative: Option<Lists<'a>>,
}

/// The positions of one mask and the target position lists derived from them.
#[derive(Clone, Debug)]
struct Lists<'a> {
    image: &'a RgbImage,
    positions: Vec<usize>,
    /// The shift of each of the lists, in their order.
    shifts: Vec<(i64, i64)>,
    /// The lists, when built up front; `None`: each is derived when used.
    kept: Option<KeptLists>,
}

/// The target position lists of a mask, all built once.
#[derive(Clone, Debug)]
struct KeptLists {
    shifted: Vec<Vec<Option<usize>>>,
    mirrored: Vec<Vec<Option<usize>>>,
}

impl<'a> ReferenceMask<'a> {
    /// Builds the position lists of `mask` (and of the optional negative mask).
    pub fn new(
        mask: &'a RgbImage,
        negative: Option<&'a RgbImage>,
        params: &MatchParams,
    ) -> Result<Self, MatchError> {
        Self::build(mask, negative, params, true)
    }

    /// Like [`Self::new`], but keeps only the mask positions and derives
    /// each shifted (or mirrored) list when it is scored: memory in the
    /// order of the mask's positions, not of positions x lists (34 lists at
    /// `xy_shift` 4 with mirroring), at the cost of rebuilding the lists for
    /// every target. For scoring a few targets, e.g. a match map of a hit.
    pub fn lean(
        mask: &'a RgbImage,
        negative: Option<&'a RgbImage>,
        params: &MatchParams,
    ) -> Result<Self, MatchError> {
        Self::build(mask, negative, params, false)
    }

    fn build(
        mask: &'a RgbImage,
        negative: Option<&'a RgbImage>,
        params: &MatchParams,
        keep_lists: bool,
    ) -> Result<Self, MatchError> {
        params.validate()?;
        check_image(mask)?;
        if let Some(neg) = negative {
            check_image(neg)?;
            if (neg.width, neg.height) != (mask.width, mask.height) {
                return Err(MatchError::NegativeSizeMismatch {
                    mask: (mask.width, mask.height),
                    negative: (neg.width, neg.height),
                });
            }
        }
        Ok(Self {
            params: params.clone(),
            mask: Lists::new(mask, params, keep_lists),
            negative: negative.map(|neg| Lists::new(neg, params, keep_lists)),
        })
    }

    /// Scores a target of the mask's size.
    pub fn score(&self, target: &RgbImage) -> Result<MatchScore, MatchError> {
        Ok(self.winner(target)?.0)
    }

    /// The pixels that matched in the alignment that gives `target` its
    /// score (see [`MatchedPixels`]), for a target of the mask's size.
    pub fn matched_pixels(&self, target: &RgbImage) -> Result<MatchedPixels, MatchError> {
        let (score, list) = self.winner(target)?;
        let (mask_positions, target_positions) = matched_pairs(
            self.mask.image,
            &self.mask.positions,
            target,
            &self.mask.list(list, score.mirrored),
            &self.params,
        )
        .unzip();
        Ok(MatchedPixels {
            mirrored: score.mirrored,
            shift: self.mask.shifts[list],
            mask_positions,
            target_positions,
        })
    }

    /// The score of `target` and the index of the mask's winning list on
    /// the winning side (direct or mirrored).
    fn winner(&self, target: &RgbImage) -> Result<(MatchScore, usize), MatchError> {
        check_image(target)?;
        let size = (self.mask.image.width, self.mask.image.height);
        if (target.width, target.height) != size {
            return Err(MatchError::SizeMismatch {
                mask: size,
                target: (target.width, target.height),
            });
        }
        let side = |mirror: bool| {
            let (list, best) = self.mask.best(target, &self.params, mirror);
            let best = match &self.negative {
                Some(neg) => best.minus(
                    neg.best(target, &self.params, mirror).1,
                    self.mask.positions.len(),
                    neg.positions.len(),
                ),
                None => best,
            };
            (list, best)
        };
        let (direct_list, direct) = side(false);
        let mirrored = self.params.mirror_mask.then(|| side(true));
        let score = final_score(direct, mirrored.map(|(_, best)| best));
        let list = match mirrored {
            Some((list, _)) if score.mirrored => list,
            _ => direct_list,
        };
        Ok((score, list))
    }
}

impl<'a> Lists<'a> {
    /// The lists of `image`'s mask positions, all built now when
    /// `keep_lists`, else derived when used.
    fn new(image: &'a RgbImage, params: &MatchParams, keep_lists: bool) -> Self {
        let mut lists = Self {
            image,
            positions: mask_positions(image, params.mask_threshold),
            shifts: list_shifts(params.xy_shift),
            kept: None,
        };
        if keep_lists {
            let all = |mirror: bool| -> Vec<_> {
                (0..lists.shifts.len())
                    .map(|i| lists.derive(i, mirror))
                    .collect()
            };
            let kept = KeptLists {
                shifted: all(false),
                mirrored: if params.mirror_mask {
                    all(true)
                } else {
                    Vec::new()
                },
            };
            lists.kept = Some(kept);
        }
        lists
    }

    /// List `index` of the shifted (or mirrored) lists.
    fn list(&self, index: usize, mirror: bool) -> Cow<'_, [Option<usize>]> {
        match &self.kept {
            Some(kept) if mirror => Cow::Borrowed(&kept.mirrored[index]),
            Some(kept) => Cow::Borrowed(&kept.shifted[index]),
            None => Cow::Owned(self.derive(index, mirror)),
        }
    }

    /// Builds list `index`: the positions moved by its shift, then mirrored
    /// when `mirror`.
    fn derive(&self, index: usize, mirror: bool) -> Vec<Option<usize>> {
        let (width, height) = (self.image.width, self.image.height);
        let list = shifted_list(&self.positions, width, height, self.shifts[index]);
        if mirror {
            mirrored(&list, width)
        } else {
            list
        }
    }

    /// The best count over the shifted (or mirrored) lists, with the index
    /// of the list that gave it: the last of the lists with the most
    /// matches, as [`Best::of`]'s `max` keeps the last maximum.
    fn best(&self, target: &RgbImage, params: &MatchParams, mirror: bool) -> (usize, Best) {
        let (list, count) = (0..self.shifts.len())
            .map(|i| {
                let list = self.list(i, mirror);
                count_matches(self.image, &self.positions, target, &list, params)
            })
            .enumerate()
            .max_by_key(|&(_, count)| count)
            .unwrap_or((0, 0));
        (list, Best::of([count], self.positions.len()))
    }
}

/// The mask positions of an image: pixels with a channel above `threshold`,
/// outside the label areas, in increasing order of `y * width + x`.
pub fn mask_positions(image: &RgbImage, threshold: u8) -> Vec<usize> {
    (0..image.pixels.len())
        .filter(|&pos| {
            !in_label_area(pos % image.width, pos / image.width, image.width)
                && above(image.pixels[pos], threshold)
        })
        .collect()
}

/// The shifts of the target position lists, in the reference's order:
/// none when `xy_shift` is 0, else for i = 2, 4, .. <= xy_shift the 9
/// shifts by (-i, 0, i)^2 (so (0, 0) once per i).
fn list_shifts(xy_shift: u32) -> Vec<(i64, i64)> {
    if xy_shift == 0 {
        return vec![(0, 0)];
    }
    (2..=i64::from(xy_shift))
        .step_by(2)
        .flat_map(|i| {
            [-i, 0, i]
                .into_iter()
                .flat_map(move |dx| [-i, 0, i].map(|dy| (dx, dy)))
        })
        .collect()
}

/// A list of target positions: the mask positions moved by `(dx, dy)`,
/// with positions shifted out of the image missing (`None`).
fn shifted_list(
    positions: &[usize],
    width: usize,
    height: usize,
    (dx, dy): (i64, i64),
) -> Vec<Option<usize>> {
    positions
        .iter()
        .map(|&p| {
            let x = (p % width) as i64 + dx;
            let y = (p / width) as i64 + dy;
            let inside = (0..width as i64).contains(&x) && (0..height as i64).contains(&y);
            inside.then(|| y as usize * width + x as usize)
        })
        .collect()
}

/// A list mirrored horizontally: x becomes width - 1 - x.
fn mirrored(list: &[Option<usize>], width: usize) -> Vec<Option<usize>> {
    list.iter()
        .map(|p| p.map(|p| p + (width - 1) - 2 * (p % width)))
        .collect()
}

/// The number of mask positions whose target pixel is above the data
/// threshold and within the color tolerance.
fn count_matches(
    mask: &RgbImage,
    positions: &[usize],
    target: &RgbImage,
    list: &[Option<usize>],
    params: &MatchParams,
) -> i64 {
    matched_pairs(mask, positions, target, list, params).count() as i64
}

/// The (mask position, target position) pairs of `positions` and `list`
/// whose target pixel is above the data threshold and within the color
/// tolerance of the mask pixel, in the order of `positions`.
fn matched_pairs<'i>(
    mask: &'i RgbImage,
    positions: &'i [usize],
    target: &'i RgbImage,
    list: &'i [Option<usize>],
    params: &MatchParams,
) -> impl Iterator<Item = (usize, usize)> + 'i {
    let tolerance = params.z_tolerance();
    let data_threshold = params.data_threshold;
    positions.iter().zip(list).filter_map(move |(&m, &t)| {
        let t = t?;
        let pixel = target.pixels[t];
        (above(pixel, data_threshold) && pixel_gap(mask.pixels[m], pixel) <= tolerance)
            .then_some((m, t))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::pack;

    /// A 20x120 image, black but for `pixels` ((x, y), color); rows from 100
    /// on lie outside the label areas.
    fn image(pixels: &[((usize, usize), u32)]) -> RgbImage {
        let mut image = RgbImage::black(20, 120);
        for &((x, y), color) in pixels {
            image.pixels[y * image.width + x] = color;
        }
        image
    }

    fn params(xy_shift: u32, mirror_mask: bool) -> MatchParams {
        MatchParams {
            xy_shift,
            mirror_mask,
            ..MatchParams::default()
        }
    }

    const COLOR: u32 = 0x00c8_285a;

    #[test]
    fn matched_pixels_name_the_shift_and_the_positions() {
        let mask = image(&[((5, 110), COLOR), ((9, 112), pack(20, 200, 40))]);
        let target = image(&[((7, 108), COLOR)]);
        let matched = ReferenceMask::new(&mask, None, &params(2, false))
            .unwrap()
            .matched_pixels(&target)
            .unwrap();
        assert_eq!(
            matched,
            MatchedPixels {
                mirrored: false,
                shift: (2, -2),
                mask_positions: vec![110 * 20 + 5],
                target_positions: vec![108 * 20 + 7],
            }
        );
    }

    #[test]
    fn ties_go_to_the_last_list() {
        let mask = image(&[((5, 110), COLOR)]);
        let target = image(&[((5, 110), COLOR), ((7, 110), COLOR)]);
        let matched = ReferenceMask::new(&mask, None, &params(2, false))
            .unwrap()
            .matched_pixels(&target)
            .unwrap();
        assert_eq!(
            (matched.shift, matched.target_positions),
            ((2, 0), vec![110 * 20 + 7])
        );
    }

    #[test]
    fn mirrored_matches_are_mirrored_target_positions() {
        let mask = image(&[((3, 110), COLOR), ((4, 111), COLOR)]);
        let target = image(&[((16, 110), COLOR), ((15, 111), COLOR), ((3, 110), COLOR)]);
        let reference = ReferenceMask::lean(&mask, None, &params(0, true)).unwrap();
        let matched = reference.matched_pixels(&target).unwrap();
        assert!(matched.mirrored);
        assert_eq!(matched.shift, (0, 0));
        assert_eq!(matched.mask_positions, [110 * 20 + 3, 111 * 20 + 4]);
        assert_eq!(matched.target_positions, [110 * 20 + 16, 111 * 20 + 15]);
        let score = reference.score(&target).unwrap();
        assert_eq!(score.matching_pixels, 2);
        assert!(score.mirrored);
    }

    #[test]
    fn matched_pixels_refuse_a_target_of_another_size() {
        let mask = image(&[((3, 110), COLOR)]);
        let err = ReferenceMask::new(&mask, None, &MatchParams::default())
            .unwrap()
            .matched_pixels(&RgbImage::black(20, 121))
            .unwrap_err();
        assert_eq!(
            err,
            MatchError::SizeMismatch {
                mask: (20, 120),
                target: (20, 121)
            }
        );
    }
}
