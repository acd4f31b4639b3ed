//! Synthetic CDM libraries: realistic enough images (neuron-like colored
//! tracts, label areas, 1-10% lit pixels) to try the search and to benchmark
//! it on libraries of any size. On request each image gets its derived
//! images for the shape stage: the z-gap image (the reference's recipe) and a
//! gradient image that approximates the reference's (a distance map of the
//! image's signal; see [`crate::derive`]).

mod cdm;
pub mod rng;

pub use cdm::generate;
pub use cds::shape::COLOR_DEPTH_LUT;

use crate::derive::{write_derived, DeriveError};
use crate::encode::{encode_packbits_tiff, encode_png, EncodeError};
use crate::library::DerivedKind;
use crate::progress::Progress;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The file format of a synthetic library.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SynthFormat {
    /// 8-bit RGB PNG, fast deflate.
    Png,
    /// RGB TIFF, PackBits, as Fiji writes CDMs.
    Tif,
}

impl SynthFormat {
    /// The file extension (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            SynthFormat::Png => "png",
            SynthFormat::Tif => "tif",
        }
    }

    /// Encodes an image in this format.
    pub fn encode(self, img: &cds::RgbImage) -> Result<Vec<u8>, EncodeError> {
        match self {
            SynthFormat::Png => encode_png(img),
            SynthFormat::Tif => encode_packbits_tiff(img),
        }
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthOptions {
    /// Number of images.
    pub count: u64,
    /// Seed: the same seed gives the same library.
    pub seed: u64,
    /// File format.
    pub format: SynthFormat,
    /// Image width in pixels (1210 for JRC2018 unisex brains).
    pub width: usize,
    /// Image height in pixels (566 for JRC2018 unisex brains).
    pub height: usize,
    /// Also write each image's z-gap and (approximate) gradient images.
    pub derived: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            count: 100,
            seed: 0,
            format: SynthFormat::Png,
            width: 1210,
            height: 566,
            derived: false,
        }
    }
}

/// Why a synthetic library could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The output directory or a file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An image could not be encoded.
    #[error("cannot encode synthetic image {path}: {source}")]
    Encode {
        /// The file it was meant for.
        path: PathBuf,
        /// The underlying error.
        source: EncodeError,
    },
    /// A derived image could not be written.
    #[error("cannot write the derived images of synthetic image: {0}")]
    Derive(#[from] DeriveError),
}

/// The file name of image `index` in a library of `count` images (zero-padded
/// so that names sort in index order).
pub fn file_name(index: u64, count: u64, format: SynthFormat) -> String {
    let digits = count.saturating_sub(1).max(1).to_string().len().max(5);
    format!("synth_{index:0digits$}.{}", format.extension())
}

/// Generates and writes a synthetic library into `out` (created if needed),
/// in parallel; returns the written paths in index order.
pub fn write_library(
    out: &Path,
    options: &SynthOptions,
    progress: &dyn Progress,
) -> Result<Vec<PathBuf>, SynthError> {
    std::fs::create_dir_all(out).map_err(|source| SynthError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    progress.start(options.count);
    let paths = (0..options.count)
        .into_par_iter()
        .map(|index| {
            let path = out.join(file_name(index, options.count, options.format));
            let img = generate(options.seed, index, options.width, options.height);
            let bytes = options
                .format
                .encode(&img)
                .map_err(|source| SynthError::Encode {
                    path: path.clone(),
                    source,
                })?;
            std::fs::write(&path, bytes).map_err(|source| SynthError::Write {
                path: path.clone(),
                source,
            })?;
            if options.derived {
                write_derived(&path, &img, &DerivedKind::ALL, cds::shape::ZGAP_FILE_RADIUS)?;
            }
            progress.advance(1);
            Ok(path)
        })
        .collect();
    progress.finish();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_sort_in_index_order() {
        assert_eq!(file_name(7, 10, SynthFormat::Png), "synth_00007.png");
        assert_eq!(
            file_name(7, 1_000_000, SynthFormat::Tif),
            "synth_000007.tif"
        );
    }

    #[test]
    fn writes_derived_images_next_to_each_image() {
        let dir = tempfile::tempdir().unwrap();
        let options = SynthOptions {
            count: 2,
            seed: 5,
            width: 400,
            height: 200,
            derived: true,
            ..SynthOptions::default()
        };
        let paths = write_library(dir.path(), &options, &()).unwrap();
        let listed = crate::library::discover(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(listed.len(), 2, "derived images are not targets");
        for (i, path) in paths.iter().enumerate() {
            let img = generate(5, i as u64, 400, 200);
            let zgap_path = crate::library::derived_path(path, DerivedKind::Zgap);
            let zgap = cds::decode_rgb(&std::fs::read(zgap_path).unwrap()).unwrap();
            assert_eq!(zgap, crate::derive::zgap_image(&img, 20));
            let grad_path = crate::library::derived_path(path, DerivedKind::Gradient);
            let grad = cds::decode_gray16(&std::fs::read(grad_path).unwrap()).unwrap();
            assert_eq!(grad, crate::derive::gradient_image(&img));
        }
    }

    #[test]
    fn writes_decodable_images() {
        let dir = tempfile::tempdir().unwrap();
        for format in [SynthFormat::Png, SynthFormat::Tif] {
            let options = SynthOptions {
                count: 3,
                seed: 11,
                format,
                ..SynthOptions::default()
            };
            let out = dir.path().join(format.extension());
            let paths = write_library(&out, &options, &()).unwrap();
            assert_eq!(paths.len(), 3);
            for (i, path) in paths.iter().enumerate() {
                let decoded = cds::decode_rgb(&std::fs::read(path).unwrap()).unwrap();
                assert_eq!(decoded, generate(11, i as u64, 1210, 566));
            }
        }
    }
}
