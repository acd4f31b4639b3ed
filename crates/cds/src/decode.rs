//! Decoding of CDM files (PNG, TIFF) into [`RgbImage`].

use crate::image::{pack, RgbImage};

/// Why an image could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a supported image, or are corrupt or truncated.
    #[error("cannot decode image: {0}")]
    Invalid(String),
}

/// Decodes PNG or TIFF bytes into packed 8-bit RGB.
///
/// Placeholder on top of the `image` crate; replaced by the fast decoders.
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, DecodeError> {
    let img = image::load_from_memory(bytes).map_err(|e| DecodeError::Invalid(e.to_string()))?;
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let pixels = rgb.pixels().map(|p| pack(p.0[0], p.0[1], p.0[2])).collect();
    Ok(RgbImage {
        width: w as usize,
        height: h as usize,
        pixels,
    })
}

/// Decodes a grayscale PNG/TIFF at full precision (16-bit values kept as
/// they are, 8-bit values widened).
///
/// Placeholder on top of the `image` crate; replaced by the fast decoders.
pub fn decode_gray16(bytes: &[u8]) -> Result<crate::image::Gray16Image, DecodeError> {
    let img = image::load_from_memory(bytes).map_err(|e| DecodeError::Invalid(e.to_string()))?;
    let gray = img.to_luma16();
    let (w, h) = gray.dimensions();
    Ok(crate::image::Gray16Image {
        width: w as usize,
        height: h as usize,
        pixels: gray.into_raw(),
    })
}
