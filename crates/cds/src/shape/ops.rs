//! Per-pixel colour operations of the shape score: channel sum, gray value,
//! threshold mask, signal test and horizontal mirror.

use crate::image::{Gray16Image, RgbImage};

/// `R + G + B` of a packed `0x00RRGGBB` pixel.
#[inline]
pub fn channel_sum(p: u32) -> u32 {
    ((p >> 16) & 0xff) + ((p >> 8) & 0xff) + (p & 0xff)
}

/// The reference gray value (no gamma): `trunc(R/3 + G/3 + B/3 + 0.5)`,
/// which is exactly `floor((2 * (R + G + B) + 3) / 6)`.
#[inline]
pub fn gray(p: u32) -> u32 {
    (2 * channel_sum(p) + 3) / 6
}

/// Whether any channel of `p` is strictly above `thr`.
#[inline]
pub fn above(p: u32, thr: u8) -> bool {
    let t = u32::from(thr);
    ((p >> 16) & 0xff) > t || ((p >> 8) & 0xff) > t || (p & 0xff) > t
}

/// `threshold_thr`: pixels whose three channels are all `<= thr` become
/// black; the others are kept unchanged.
pub fn threshold(image: &RgbImage, thr: u8) -> RgbImage {
    RgbImage {
        width: image.width,
        height: image.height,
        pixels: image
            .pixels
            .iter()
            .map(|&p| if above(p, thr) { p & 0x00ff_ffff } else { 0 })
            .collect(),
    }
}

/// `mirror(I)(x, y) = I(W-1-x, y)` for any row-major pixel buffer.
pub fn mirror_pixels<T: Copy>(pixels: &[T], width: usize) -> Vec<T> {
    pixels
        .chunks_exact(width)
        .flat_map(|row| row.iter().rev().copied())
        .collect()
}

/// The horizontally mirrored RGB image.
pub fn mirror(image: &RgbImage) -> RgbImage {
    RgbImage {
        width: image.width,
        height: image.height,
        pixels: mirror_pixels(&image.pixels, image.width),
    }
}

/// The horizontally mirrored 16-bit image.
pub fn mirror_gray16(image: &Gray16Image) -> Gray16Image {
    Gray16Image {
        width: image.width,
        height: image.height,
        pixels: mirror_pixels(&image.pixels, image.width),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_matches_the_floating_point_definition() {
        for s in 0..=765u32 {
            let p = [
                s.min(255),
                s.saturating_sub(255).min(255),
                s.saturating_sub(510),
            ];
            let px = (p[0] << 16) | (p[1] << 8) | p[2];
            let f = p.iter().map(|&c| f64::from(c) / 3.0).sum::<f64>() + 0.5;
            assert_eq!(gray(px), f as u32, "sum {s}");
        }
        assert_eq!(gray(0x000001), 0);
        assert_eq!(gray(0x000101), 1);
        assert_eq!(gray(0x000007), 2);
        assert_eq!(gray(0x000008), 3);
    }

    #[test]
    fn threshold_keeps_pixels_with_one_channel_above() {
        let img = RgbImage {
            width: 3,
            height: 1,
            pixels: vec![0x141414, 0x150000, 0x000015],
        };
        assert_eq!(threshold(&img, 20).pixels, vec![0, 0x150000, 0x000015]);
    }

    #[test]
    fn mirror_reverses_rows() {
        let img = RgbImage {
            width: 3,
            height: 2,
            pixels: vec![1, 2, 3, 4, 5, 6],
        };
        assert_eq!(mirror(&img).pixels, vec![3, 2, 1, 6, 5, 4]);
    }
}
