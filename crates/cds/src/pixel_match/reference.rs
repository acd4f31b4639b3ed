//! The straightforward scalar pixel-match score, written after the
//! algorithm's description step by step (position lists, shifted lists,
//! mirrored lists, one `pixel_gap` per pixel). It is the oracle the fast
//! scorer is tested against and the baseline of the benchmarks.

use super::gap::pixel_gap;
use super::{
    above, check_image, final_score, in_label_area, Best, MatchError, MatchParams, MatchScore,
};
use crate::RgbImage;

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

/// A mask with its position lists built once, as the reference service
/// does before scoring a library (`GenerateColorMIPMasks`).
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
            mask: Lists::new(mask, params),
            negative: negative.map(|neg| Lists::new(neg, params)),
        })
    }

    /// Scores a target of the mask's size.
    pub fn score(&self, target: &RgbImage) -> Result<MatchScore, MatchError> {
        check_image(target)?;
        let size = (self.mask.image.width, self.mask.image.height);
        if (target.width, target.height) != size {
            return Err(MatchError::SizeMismatch {
                mask: size,
                target: (target.width, target.height),
            });
        }
        let side = |mirror: bool| {
            let direct = self.mask.best(target, &self.params, mirror);
            match &self.negative {
                Some(neg) => direct.minus(
                    neg.best(target, &self.params, mirror),
                    self.mask.positions.len(),
                    neg.positions.len(),
                ),
                None => direct,
            }
        };
        let direct = side(false);
        let mirrored = self.params.mirror_mask.then(|| side(true));
        Ok(final_score(direct, mirrored))
    }
}

impl<'a> Lists<'a> {
    fn new(image: &'a RgbImage, params: &MatchParams) -> Self {
        let positions = mask_positions(image, params.mask_threshold);
        let shifted = shifted_lists(&positions, image.width, image.height, params.xy_shift);
        let mirrored = if params.mirror_mask {
            shifted.iter().map(|l| mirrored(l, image.width)).collect()
        } else {
            Vec::new()
        };
        Self {
            image,
            positions,
            shifted,
            mirrored,
        }
    }

    /// The best count over the shifted (or mirrored) lists.
    fn best(&self, target: &RgbImage, params: &MatchParams, mirror: bool) -> Best {
        let lists = if mirror {
            &self.mirrored
        } else {
            &self.shifted
        };
        let counts = lists
            .iter()
            .map(|list| count_matches(self.image, &self.positions, target, list, params));
        Best::of(counts, self.positions.len())
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

/// The lists of target positions: the mask itself when `xy_shift` is 0,
/// else for i = 2, 4, .. <= xy_shift the 9 shifts by (-i, 0, i)^2, with
/// positions shifted out of the image missing (`None`).
fn shifted_lists(
    positions: &[usize],
    width: usize,
    height: usize,
    xy_shift: u32,
) -> Vec<Vec<Option<usize>>> {
    if xy_shift == 0 {
        return vec![positions.iter().map(|&p| Some(p)).collect()];
    }
    let mut lists = Vec::new();
    for i in (2..=xy_shift as i64).step_by(2) {
        for dx in [-i, 0, i] {
            for dy in [-i, 0, i] {
                lists.push(
                    positions
                        .iter()
                        .map(|&p| {
                            let x = (p % width) as i64 + dx;
                            let y = (p / width) as i64 + dy;
                            let inside =
                                (0..width as i64).contains(&x) && (0..height as i64).contains(&y);
                            inside.then(|| y as usize * width + x as usize)
                        })
                        .collect(),
                );
            }
        }
    }
    lists
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
    let tolerance = params.z_tolerance();
    positions
        .iter()
        .zip(list)
        .filter(|(&m, t)| match t {
            Some(t) => {
                let t = target.pixels[*t];
                above(t, params.data_threshold) && pixel_gap(mask.pixels[m], t) <= tolerance
            }
            None => false,
        })
        .count() as i64
}
