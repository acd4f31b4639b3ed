//! Label regions burnt into CDMs (line name, colour scale) that every stage
//! blanks before comparing images.

use crate::image::RgbImage;

/// A rectangle anchored at the top edge of the image, `width` x `height` pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corner {
    /// Horizontal extent in pixels.
    pub width: usize,
    /// Vertical extent in pixels, from the top row.
    pub height: usize,
}

/// The regions of a CDM that hold burnt-in labels and are treated as black.
///
/// The name label sits in the top-left corner (`x < width && y < height`), the
/// colour-scale label in the top-right corner (`x >= W - width && y < height`).
/// The two stages of the reference differ only in the colour-scale width and
/// in whether that label applies to narrow images, hence two constructors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelRegions {
    /// Top-left name label, `None` to keep those pixels.
    pub name: Option<Corner>,
    /// Top-right colour-scale label, `None` to keep those pixels.
    pub colour_scale: Option<Corner>,
    /// Apply the colour-scale label only when the image is wider than it
    /// (the Java shape stage does this; the JS pixel-match stage does not).
    pub colour_scale_only_if_wider: bool,
}

impl LabelRegions {
    /// The shape-score stage (Java colormipsearch): name label 330x100,
    /// colour-scale label 270x90 applied only when the image is wider than 270.
    pub const fn shape_stage() -> Self {
        Self {
            name: Some(Corner {
                width: 330,
                height: 100,
            }),
            colour_scale: Some(Corner {
                width: 270,
                height: 90,
            }),
            colour_scale_only_if_wider: true,
        }
    }

    /// The pixel-match stage (JS neuronbridge-services): name label 330x100,
    /// colour-scale label 250x90.
    pub const fn pixel_match_stage() -> Self {
        Self {
            name: Some(Corner {
                width: 330,
                height: 100,
            }),
            colour_scale: Some(Corner {
                width: 250,
                height: 90,
            }),
            colour_scale_only_if_wider: false,
        }
    }

    /// No label regions: every pixel is kept.
    pub const fn none() -> Self {
        Self {
            name: None,
            colour_scale: None,
            colour_scale_only_if_wider: false,
        }
    }

    /// The half-open x-range `[start, end)` of row `y` covered by labels,
    /// for an image of width `image_width`: the name label as the first
    /// range, the colour-scale label as the second (either may be empty).
    pub fn row_ranges(&self, y: usize, image_width: usize) -> [(usize, usize); 2] {
        let name = match self.name {
            Some(c) if y < c.height => (0, c.width.min(image_width)),
            _ => (0, 0),
        };
        let scale = match self.colour_scale {
            Some(c)
                if y < c.height && !(self.colour_scale_only_if_wider && image_width <= c.width) =>
            {
                (image_width.saturating_sub(c.width), image_width)
            }
            _ => (0, 0),
        };
        [name, scale]
    }

    /// Whether pixel (x, y) of an image `image_width` wide lies in a label.
    pub fn contains(&self, x: usize, y: usize, image_width: usize) -> bool {
        self.row_ranges(y, image_width)
            .iter()
            .any(|&(start, end)| (start..end).contains(&x))
    }

    /// Blanks (sets to black) every labelled pixel of `image` in place.
    pub fn clear(&self, image: &mut RgbImage) {
        let width = image.width;
        for (y, row) in image.pixels.chunks_exact_mut(width).enumerate() {
            for (start, end) in self.row_ranges(y, width) {
                row[start..end].fill(0);
            }
        }
    }

    /// A copy of `image` with every labelled pixel blanked.
    pub fn cleared(&self, image: &RgbImage) -> RgbImage {
        let mut out = image.clone();
        self.clear(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_stage_regions_on_a_wide_image() {
        let l = LabelRegions::shape_stage();
        assert!(l.contains(329, 99, 1210));
        assert!(!l.contains(330, 99, 1210));
        assert!(!l.contains(0, 100, 1210));
        assert!(l.contains(940, 89, 1210));
        assert!(!l.contains(939, 89, 1210));
        assert!(!l.contains(1209, 90, 1210));
    }

    #[test]
    fn colour_scale_width_differs_between_stages() {
        let shape = LabelRegions::shape_stage();
        let pm = LabelRegions::pixel_match_stage();
        assert!(shape.contains(945, 0, 1210));
        assert!(!pm.contains(945, 0, 1210));
        assert!(pm.contains(960, 0, 1210));
    }

    #[test]
    fn narrow_images_keep_the_colour_scale_area_in_the_shape_stage() {
        let only_scale = LabelRegions {
            name: None,
            ..LabelRegions::shape_stage()
        };
        assert!(!only_scale.contains(10, 0, 270));
        assert!(only_scale.contains(10, 0, 271));
        assert!(!only_scale.contains(0, 0, 271));
        let pm_scale = LabelRegions {
            name: None,
            ..LabelRegions::pixel_match_stage()
        };
        assert!(pm_scale.contains(0, 0, 200));
    }

    #[test]
    fn clear_blanks_only_label_pixels() {
        let mut img = RgbImage {
            width: 400,
            height: 120,
            pixels: vec![0x00ff_ffff; 400 * 120],
        };
        LabelRegions::shape_stage().clear(&mut img);
        let blank = img.pixels.iter().filter(|&&p| p == 0).count();
        // name label 330x100, colour-scale label 270x90, overlap x in [130,330) y < 90.
        assert_eq!(blank, 330 * 100 + 270 * 90 - 200 * 90);
        assert_eq!(img.get(330, 95), 0x00ff_ffff);
        assert_eq!(img.get(399, 89), 0);
    }
}
