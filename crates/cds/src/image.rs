//! In-memory image types shared by the decoders and the scorers.

/// An 8-bit RGB image, row-major, one packed `0x00RRGGBB` word per pixel
/// (`pos = y * width + x`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Packed pixels, `width * height` of them.
    pub pixels: Vec<u32>,
}

impl RgbImage {
    /// An all-black image of the given size.
    pub fn black(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![0; width * height],
        }
    }

    /// The pixel at (x, y) as `0x00RRGGBB`.
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> u32 {
        self.pixels[y * self.width + x]
    }
}

/// Splits a packed `0x00RRGGBB` pixel into its (r, g, b) channels.
#[inline]
pub fn channels(p: u32) -> (u8, u8, u8) {
    ((p >> 16) as u8, (p >> 8) as u8, p as u8)
}

/// Packs (r, g, b) channels into `0x00RRGGBB`.
#[inline]
pub fn pack(r: u8, g: u8, b: u8) -> u32 {
    (u32::from(r) << 16) | (u32::from(g) << 8) | u32::from(b)
}

/// A 16-bit grayscale image (e.g. the gradient images of the shape score),
/// row-major, values as stored in the file without scaling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gray16Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Pixel values, `width * height` of them.
    pub pixels: Vec<u16>,
}
