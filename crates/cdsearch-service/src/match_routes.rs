//! Which pixels of a target matched a search's mask: `GET
//! /searches/{id}/masks/{index}/matches/{library}/{image}` answers a PNG of
//! the target's size that shows only the target pixels of the winning
//! alignment (the shift and side, direct or mirrored, the pixel-match score
//! takes), so the web client can lay them over the target.
//!
//! The match is computed again from the search's mask, its parameters (the
//! mask's own threshold) and the library image, with the reference scorer
//! ([`cds::pixel_match::reference::ReferenceMask::matched_pixels`], its
//! lists derived one at a time, so memory stays in the order of the
//! images: a mask of at most [`decode::MAX_PIXELS`] and a target of its
//! size); it needs only the [`crate::SearchPlatform`], so it works on every
//! platform, and whether the search is done does not matter. Searches have
//! no negative masks, so the matched pixels are exactly the score's
//! `matchingPixels`.

use crate::auth::User;
use crate::error::ApiError;
use crate::image_routes::{mask_info, ImageOf};
use crate::model::ErrorBody;
use crate::platform::{blocking, ImageData};
use crate::Service;
use axum::extract::{Path, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use cds::decode::{self, SizeLimit};
use cds::pixel_match::reference::{MatchedPixels, ReferenceMask};
use cds::pixel_match::MatchParams;
use cds::RgbImage;
use std::sync::Arc;

/// The header naming how many target pixels matched (the hit's `matchingPixels`).
pub const MATCHING_PIXELS_HEADER: HeaderName = HeaderName::from_static("x-matching-pixels");
/// The header telling whether the mirrored mask matched (`true` / `false`).
pub const MIRRORED_HEADER: HeaderName = HeaderName::from_static("x-mirrored");

/// The matched pixels of a target as PNG: RGBA of the target's size, fully
/// transparent except the matched target pixels, which keep their own color
/// at full alpha.
#[utoipa::path(get, path = "/searches/{id}/masks/{index}/matches/{library}/{image}", tag = "images",
    params(("id" = String, Path), ("index" = usize, Path, maximum = 2147483647),
        ("library" = String, Path), ("image" = String, Path, description = "Image name (may contain `/`)")),
    responses(
        (status = 200, content_type = "image/png", body = Vec<u8>,
            description = "RGBA PNG of the target's size: the target pixels that matched the mask \
                in the winning alignment (shift and side) keep their color at full alpha, every \
                other pixel is transparent",
            headers(
                ("X-Matching-Pixels" = i64, description = "How many target pixels matched (the hit's `matchingPixels`)"),
                ("X-Mirrored" = bool, description = "Whether the mirrored mask matched (the hit's `mirrored`)"),
                ("Cache-Control" = String, description = "`private, max-age=86400`"))),
        (status = 400, description = "`index` is not a whole number from 0, or the target's size differs from the mask's", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such search of yours, mask of the search, library or image", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn search_matches_png(
    State(service): State<Arc<Service>>,
    user: User,
    Path((id, index, library, image)): Path<(String, usize, String, String)>,
) -> Result<Response, ApiError> {
    let record = service.platform.get(&user.name, &id).await?;
    let mask = mask_info(&record, index)?;
    if index >= record.params.mask_thresholds.len() {
        return Err(ApiError::Internal(format!(
            "search {} stores no threshold for mask {index}",
            record.id
        )));
    }
    let params = record.params.match_params(index);
    let mask_data = service.platform.search_mask(&record.id, mask).await?;
    let target_data = service.platform.library_image(&library, &image).await?;
    let names = Names {
        mask: ImageOf::SearchMask(&record.id, index).describe(),
        target: ImageOf::Library(&library, &image).describe(),
    };
    let (matched, png) =
        blocking(move || matches_png(mask_data, target_data, &params, &names)).await?;
    let count = matched.target_positions.len();
    tracing::debug!(search = %record.id, index, library, image, count, mirrored = matched.mirrored, "matched pixels");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=86400"),
            ),
            (MATCHING_PIXELS_HEADER, HeaderValue::from(count)),
            (
                MIRRORED_HEADER,
                HeaderValue::from_static(if matched.mirrored { "true" } else { "false" }),
            ),
        ],
        png,
    )
        .into_response())
}

/// What the mask and the target are, for error messages (never a path).
struct Names {
    mask: String,
    target: String,
}

/// Decodes the mask (at most [`decode::MAX_PIXELS`]) and the target (of
/// exactly the mask's size), finds the matched pixels and draws them.
fn matches_png(
    mask: ImageData,
    target: ImageData,
    params: &MatchParams,
    names: &Names,
) -> Result<(MatchedPixels, Vec<u8>), ApiError> {
    let read = |data: ImageData, what: &str| {
        data.into_bytes()
            .map_err(|e| ApiError::Internal(format!("cannot read {what}: {e}")))
    };
    let undecodable = |what: &str, e: decode::DecodeError| {
        tracing::error!(error = %e, image = what, "cannot decode image");
        ApiError::Internal(format!("cannot decode {what}: {e}"))
    };
    let mask =
        decode::decode_rgb(&read(mask, &names.mask)?).map_err(|e| undecodable(&names.mask, e))?;
    let mut decoded = RgbImage::black(0, 0);
    let limit = SizeLimit::Exactly {
        width: mask.width,
        height: mask.height,
    };
    match decode::decode_rgb_rows_into_limited(
        &read(target, &names.target)?,
        usize::MAX,
        limit,
        &mut decoded,
    ) {
        Ok(()) => {}
        Err(decode::DecodeError::BadDimensions { width, height, .. }) => {
            return Err(ApiError::field(
                "image",
                format!(
                    "{} is {width}\u{d7}{height} pixels, {} is {limit}: only images of the \
                     mask's size are matched",
                    names.target, names.mask
                ),
            ))
        }
        Err(e) => return Err(undecodable(&names.target, e)),
    }
    let matched = ReferenceMask::lean(&mask, None, params)
        .and_then(|m| m.matched_pixels(&decoded))
        .map_err(|e| ApiError::Internal(format!("cannot match {}: {e}", names.target)))?;
    let png = highlight_png(&decoded, &matched.target_positions)
        .map_err(|e| ApiError::Internal(format!("cannot encode the matches as PNG: {e}")))?;
    Ok((matched, png))
}

/// An RGBA PNG of `target`'s size, transparent except at `positions`
/// (`y * width + x`), which keep the target's color at full alpha.
pub fn highlight_png(target: &RgbImage, positions: &[usize]) -> Result<Vec<u8>, String> {
    let mut raw = vec![0u8; target.pixels.len() * 4];
    for &p in positions {
        let (r, g, b) = cds::image::channels(target.pixels[p]);
        raw[p * 4..p * 4 + 4].copy_from_slice(&[r, g, b, u8::MAX]);
    }
    let (width, height) = (target.width as u32, target.height as u32);
    let image = image::RgbaImage::from_raw(width, height, raw)
        .ok_or_else(|| format!("image size {width}x{height} is too large"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cds::image::pack;

    #[test]
    fn only_the_matched_pixels_are_opaque_and_keep_their_color() {
        let mut target = RgbImage::black(4, 3);
        target.pixels[5] = pack(200, 40, 90);
        target.pixels[6] = pack(10, 220, 30);
        target.pixels[11] = pack(1, 2, 3);
        let png = highlight_png(&target, &[5, 11]).unwrap();
        let decoded = image::load_from_memory(&png).unwrap().to_rgba8();
        assert_eq!((decoded.width(), decoded.height()), (4, 3));
        let pixels: Vec<[u8; 4]> = decoded.pixels().map(|p| p.0).collect();
        for (i, pixel) in pixels.iter().enumerate() {
            match i {
                5 => assert_eq!(*pixel, [200, 40, 90, 255]),
                11 => assert_eq!(*pixel, [1, 2, 3, 255]),
                _ => assert_eq!(pixel[3], 0, "pixel {i} is transparent"),
            }
        }
    }
}
