//! The HTTP handlers of images: library images, stored masks and a search's masks, whole
//! or as thumbnails (PNG), with the decoding and caching done in [`crate::images`].

use crate::auth::User;
use crate::error::ApiError;
use crate::images::{self, DEFAULT_THUMBNAIL_SIZE, THUMBNAIL_SIZES};
use crate::model::{ErrorBody, MaskInfo, SearchRecord};
use crate::platform::{blocking, ImageData};
use crate::Service;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

type ApiResult<T> = Result<T, ApiError>;

/// Query of thumbnail endpoints.
fn thumbnail_size(query: &HashMap<String, String>) -> ApiResult<u32> {
    match query.get("size") {
        None => Ok(DEFAULT_THUMBNAIL_SIZE),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|v| THUMBNAIL_SIZES.contains(v))
            .ok_or_else(|| {
                ApiError::field(
                    "size",
                    format!(
                        "expected an integer from {} to {} (pixels), got {s:?}",
                        THUMBNAIL_SIZES.start(),
                        THUMBNAIL_SIZES.end()
                    ),
                )
            }),
    }
}

/// Where an image answered comes from, for its error messages (never a
/// path on the server).
pub(crate) enum ImageOf<'a> {
    /// An image of a library.
    Library(&'a str, &'a str),
    /// A stored mask.
    StoredMask(&'a str),
    /// Mask `index` of a search.
    SearchMask(&'a str, usize),
}

impl ImageOf<'_> {
    /// What the image is, for messages: `image "b.tif" of library "sample"`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Library(library, image) => format!("image {image:?} of library {library:?}"),
            Self::StoredMask(name) => format!("stored mask {name:?}"),
            Self::SearchMask(id, index) => format!("mask {index} of search {id}"),
        }
    }
}

/// Answers an image as PNG, full size or as a thumbnail. Thumbnails of
/// libraries and stored masks are cached; a search's masks are not (their
/// files go with the search).
async fn image_response(
    service: &Arc<Service>,
    image: ImageData,
    thumb: Option<u32>,
    of: ImageOf<'_>,
) -> ApiResult<Response> {
    let cache = match of {
        ImageOf::SearchMask(..) => None,
        _ => service.platform.thumbnail_cache(),
    };
    let what = of.describe();
    let bytes = blocking(move || {
        images::serve(image, thumb, cache.as_deref()).map_err(|e| {
            tracing::error!(error = ?e, image = what, "cannot serve image");
            ApiError::Internal(format!("{what}: {e}"))
        })
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        bytes,
    )
        .into_response())
}

/// Mask `index` of search `id` of `user`.
async fn search_mask(
    service: &Service,
    user: &str,
    id: &str,
    index: usize,
) -> ApiResult<ImageData> {
    let record = service.platform.get(user, id).await?;
    let mask = mask_info(&record, index)?;
    service.platform.search_mask(&record.id, mask).await
}

/// Mask `index` of a search's record (404 when it has no such mask).
pub(crate) fn mask_info(record: &SearchRecord, index: usize) -> ApiResult<&MaskInfo> {
    record
        .masks
        .get(index)
        .ok_or_else(|| ApiError::NotFound(format!("search {} has no mask {index}", record.id)))
}

/// A library image as PNG.
#[utoipa::path(get, path = "/libraries/{library}/images/{image}", tag = "images",
    params(("library" = String, Path), ("image" = String, Path, description = "Image name (may contain `/`)")),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn library_image_png(
    State(service): State<Arc<Service>>,
    _user: User,
    Path((library, image)): Path<(String, String)>,
) -> ApiResult<Response> {
    let data = service.platform.library_image(&library, &image).await?;
    image_response(&service, data, None, ImageOf::Library(&library, &image)).await
}

/// A library image's thumbnail as PNG.
#[utoipa::path(get, path = "/libraries/{library}/thumbnails/{image}", tag = "images",
    params(("library" = String, Path), ("image" = String, Path, description = "Image name (may contain `/`)"),
        ("size" = Option<u32>, Query, minimum = 16, maximum = 1024, description = "Longest side in pixels, 16-1024 (default 256); sizes 64, 128, 256 and 512 are cached")),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn library_thumbnail_png(
    State(service): State<Arc<Service>>,
    _user: User,
    Path((library, image)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let size = thumbnail_size(&query)?;
    let data = service.platform.library_image(&library, &image).await?;
    image_response(
        &service,
        data,
        Some(size),
        ImageOf::Library(&library, &image),
    )
    .await
}

/// A stored mask as PNG.
#[utoipa::path(get, path = "/masks/images/{name}", tag = "images",
    params(("name" = String, Path)),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stored_mask_png(
    State(service): State<Arc<Service>>,
    _user: User,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let image = service.platform.stored_mask(&name).await?;
    image_response(&service, image, None, ImageOf::StoredMask(&name)).await
}

/// A stored mask's thumbnail as PNG.
#[utoipa::path(get, path = "/masks/thumbnails/{name}", tag = "images",
    params(("name" = String, Path), ("size" = Option<u32>, Query, minimum = 16, maximum = 1024, description = "Longest side in pixels, 16-1024 (default 256); sizes 64, 128, 256 and 512 are cached")),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stored_mask_thumbnail_png(
    State(service): State<Arc<Service>>,
    _user: User,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let size = thumbnail_size(&query)?;
    let image = service.platform.stored_mask(&name).await?;
    image_response(&service, image, Some(size), ImageOf::StoredMask(&name)).await
}

/// A mask of one of your searches as PNG.
#[utoipa::path(get, path = "/searches/{id}/masks/{index}/image", tag = "images",
    params(("id" = String, Path), ("index" = usize, Path, maximum = 2147483647)),
    responses((status = 200, content_type = "image/png", body = Vec<u8>),
        (status = 400, description = "`index` is not a whole number from 0", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn search_mask_png(
    State(service): State<Arc<Service>>,
    user: User,
    Path((id, index)): Path<(String, usize)>,
) -> ApiResult<Response> {
    let image = search_mask(&service, &user.name, &id, index).await?;
    image_response(&service, image, None, ImageOf::SearchMask(&id, index)).await
}

/// A mask of one of your searches as a PNG thumbnail.
#[utoipa::path(get, path = "/searches/{id}/masks/{index}/thumbnail", tag = "images",
    params(("id" = String, Path), ("index" = usize, Path, maximum = 2147483647), ("size" = Option<u32>, Query, minimum = 16, maximum = 1024, description = "Longest side in pixels, 16-1024 (default 256); sizes 64, 128, 256 and 512 are cached")),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn search_mask_thumbnail_png(
    State(service): State<Arc<Service>>,
    user: User,
    Path((id, index)): Path<(String, usize)>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let size = thumbnail_size(&query)?;
    let image = search_mask(&service, &user.name, &id, index).await?;
    image_response(&service, image, Some(size), ImageOf::SearchMask(&id, index)).await
}
