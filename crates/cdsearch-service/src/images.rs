//! Images served as PNG: full size (PNG files as they are, TIFFs converted)
//! and thumbnails (downscaled, cached on disk).

use crate::platform::ImageData;
use cdsearch::hash::fnv1a;
use std::io;
use std::path::{Path, PathBuf};

/// Smallest and largest thumbnail sizes (longest side, pixels).
pub const THUMBNAIL_SIZES: std::ops::RangeInclusive<u32> = 16..=1024;
/// Thumbnail size when none is asked for.
pub const DEFAULT_THUMBNAIL_SIZE: u32 = 256;
/// The thumbnail sizes kept in the cache; other sizes are made for each
/// request. So the cache holds at most this many files per image, whatever
/// sizes clients ask for.
pub const CACHED_THUMBNAIL_SIZES: [u32; 4] = [64, 128, 256, 512];

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Why an image could not be served. The message names no path (it may
/// reach a client, who names the image); `path` is for logs.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read or the cache written.
    #[error("cannot read the image: {source}")]
    Io {
        /// The image file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not a decodable PNG or TIFF.
    #[error("cannot decode the image: {source}")]
    Decode {
        /// The image file.
        path: PathBuf,
        /// The underlying error.
        source: cds::DecodeError,
    },
    /// The PNG could not be encoded.
    #[error("cannot encode the image as PNG: {message}")]
    Encode {
        /// The image file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The image at `path` as PNG bytes.
pub fn png(path: &Path) -> Result<Vec<u8>, ImageError> {
    png_of(path, read(path)?)
}

/// An image file's `bytes` (PNG or TIFF; `name` for errors) as PNG bytes.
pub fn png_of(name: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, ImageError> {
    if bytes.starts_with(PNG_SIGNATURE) {
        return Ok(bytes);
    }
    encode(name, &decode(name, &bytes)?)
}

/// An image as PNG, full size or as a thumbnail of `thumb` pixels; local
/// files' thumbnails of the [`CACHED_THUMBNAIL_SIZES`] are cached in
/// `cache_dir` when there is one.
pub fn serve(
    image: ImageData,
    thumb: Option<u32>,
    cache_dir: Option<&Path>,
) -> Result<Vec<u8>, ImageError> {
    match (image, thumb, cache_dir) {
        (ImageData::File(path), Some(size), Some(cache))
            if CACHED_THUMBNAIL_SIZES.contains(&size) =>
        {
            thumbnail(&path, size, cache)
        }
        (ImageData::File(path), Some(size), _) => thumbnail_of(&path, &read(&path)?, size),
        (ImageData::File(path), None, _) => png(&path),
        (ImageData::Fetched { name, bytes }, Some(size), _) => thumbnail_of(&name, &bytes, size),
        (ImageData::Fetched { name, bytes }, None, _) => png_of(&name, bytes),
    }
}

/// A PNG thumbnail of the image at `path`, its longest side `size` pixels,
/// read from `cache_dir` when made before (keyed by path, size and mtime).
pub fn thumbnail(path: &Path, size: u32, cache_dir: &Path) -> Result<Vec<u8>, ImageError> {
    let io_err = |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(io_err)?;
    let key = format!("{}|{size}|{modified:?}", path.display());
    let cached = cache_dir.join(format!("thumb-{:016x}.png", fnv1a(key.as_bytes())));
    if let Ok(bytes) = std::fs::read(&cached) {
        return Ok(bytes);
    }
    let bytes = thumbnail_of(path, &read(path)?, size)?;
    let tmp = cached.with_extension("tmp");
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, &cached))
        .map_err(io_err)?;
    Ok(bytes)
}

/// A PNG thumbnail of an image file's `bytes` (`name` for errors), its
/// longest side `size` pixels (never enlarged).
pub fn thumbnail_of(name: &Path, bytes: &[u8], size: u32) -> Result<Vec<u8>, ImageError> {
    let image = decode(name, bytes)?;
    let longest = image.width().max(image.height());
    let scale = f64::from(size.min(longest)) / f64::from(longest);
    let (w, h) = (
        ((f64::from(image.width()) * scale).round() as u32).max(1),
        ((f64::from(image.height()) * scale).round() as u32).max(1),
    );
    encode(name, &image::imageops::thumbnail(&image, w, h))
}

fn read(path: &Path) -> Result<Vec<u8>, ImageError> {
    std::fs::read(path).map_err(|source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn decode(path: &Path, bytes: &[u8]) -> Result<image::RgbImage, ImageError> {
    let rgb = cds::decode_rgb(bytes).map_err(|source| ImageError::Decode {
        path: path.to_path_buf(),
        source,
    })?;
    let raw = rgb
        .pixels
        .iter()
        .flat_map(|&p| {
            let (r, g, b) = cds::image::channels(p);
            [r, g, b]
        })
        .collect();
    image::RgbImage::from_raw(rgb.width as u32, rgb.height as u32, raw).ok_or_else(|| {
        ImageError::Encode {
            path: path.to_path_buf(),
            message: format!("image size {}x{} is too large", rgb.width, rgb.height),
        }
    })
}

fn encode(path: &Path, image: &image::RgbImage) -> Result<Vec<u8>, ImageError> {
    let mut out = io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| ImageError::Encode {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../sample/library")
            .join(name)
    }

    #[test]
    fn thumbnails_keep_the_aspect_ratio_and_are_cached() {
        let cache = tempfile::tempdir().unwrap();
        let path = sample("12191_JRC2018U.tif");
        let original = image::load_from_memory(&png(&path).unwrap()).unwrap();
        let bytes = thumbnail(&path, 128, cache.path()).unwrap();
        let thumb = image::load_from_memory(&bytes).unwrap();
        let expected_h =
            (128.0 * f64::from(original.height()) / f64::from(original.width())).round() as u32;
        assert_eq!((thumb.width(), thumb.height()), (128, expected_h));
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
        assert_eq!(thumbnail(&path, 128, cache.path()).unwrap(), bytes);
    }

    #[test]
    fn only_the_fixed_sizes_are_cached() {
        let cache = tempfile::tempdir().unwrap();
        let path = sample("12191_JRC2018U.tif");
        for size in 16..=80 {
            let bytes = serve(
                ImageData::File(path.clone()),
                Some(size),
                Some(cache.path()),
            );
            let thumb = image::load_from_memory(&bytes.unwrap()).unwrap();
            assert_eq!(thumb.width().max(thumb.height()), size);
        }
        let files: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "only size 64 of 16..=80 is cached");
    }
}
