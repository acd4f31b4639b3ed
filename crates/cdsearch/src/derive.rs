//! Computing and writing the derived images of a library's targets for the
//! shape stage: z-gap images (the reference's recipe, exact) and, on request,
//! gradient images (a distance map of the target's signal: an approximation,
//! since the reference's recipe is not public). Files are named as
//! [`crate::library`] describes (`<name>.zgap.png`, `<name>.grad.png`).

use crate::encode::{encode_png, EncodeError};
use crate::library::{derived_path, find_derived, DerivedKind, LibraryEntry};
use crate::progress::Progress;
use crate::results::Unreadable;
use cds::shape::{gradient_from_target, zgap_from_target, ShapeParams, ZGAP_FILE_RADIUS};
use cds::{DecodeError, Gray16Image, RgbImage};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// What to derive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeriveOptions {
    /// Max filter radius of the z-gap images (20 as the reference's files).
    pub zgap_radius: u32,
    /// Also write (approximate) gradient images.
    pub gradients: bool,
    /// Rewrite derived images that already exist.
    pub force: bool,
}

impl Default for DeriveOptions {
    fn default() -> Self {
        Self {
            zgap_radius: ZGAP_FILE_RADIUS,
            gradients: false,
            force: false,
        }
    }
}

impl DeriveOptions {
    /// The kinds of derived image these options write.
    pub fn kinds(&self) -> Vec<DerivedKind> {
        let mut kinds = vec![DerivedKind::Zgap];
        if self.gradients {
            kinds.push(DerivedKind::Gradient);
        }
        kinds
    }
}

/// Why a derived image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The target is not a decodable image.
    #[error("cannot decode target {path}: {source}")]
    Decode {
        /// The target file.
        path: PathBuf,
        /// The underlying error.
        source: DecodeError,
    },
    /// A derived image could not be encoded.
    #[error("cannot encode {path}: {source}")]
    Encode {
        /// The file it was meant for.
        path: PathBuf,
        /// The underlying error.
        source: EncodeError,
    },
    /// A 16-bit PNG could not be encoded.
    #[error("cannot encode {path}: {source}")]
    Png {
        /// The file it was meant for.
        path: PathBuf,
        /// The underlying error.
        source: png::EncodingError,
    },
}

/// What [`derive_library`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeriveSummary {
    /// Derived images written.
    pub written: usize,
    /// Derived images that existed already and were kept.
    pub skipped: usize,
    /// Targets whose derived images could not be made, and why.
    pub failed: Vec<Unreadable>,
}

/// The z-gap image of a target with the shape stage's threshold and labels.
pub fn zgap_image(target: &RgbImage, radius: u32) -> RgbImage {
    let params = ShapeParams::default();
    zgap_from_target(target, radius, params.mask_threshold, &params.labels)
}

/// The approximate gradient image of a target (see
/// [`cds::shape::gradient_from_target`]).
pub fn gradient_image(target: &RgbImage) -> Gray16Image {
    let params = ShapeParams::default();
    gradient_from_target(target, params.mask_threshold, &params.labels)
}

/// Encodes a 16-bit grayscale image as PNG (big-endian samples, fast
/// compression).
pub fn encode_gray16_png(image: &Gray16Image) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, image.width as u32, image.height as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Sixteen);
    encoder.set_compression(png::Compression::Fast);
    let data: Vec<u8> = image.pixels.iter().flat_map(|p| p.to_be_bytes()).collect();
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&data)?;
    writer.finish()?;
    Ok(out)
}

/// Computes and encodes one derived image of a decoded target; `path` is
/// where it goes (named in errors).
fn encode_derived(
    kind: DerivedKind,
    target: &RgbImage,
    zgap_radius: u32,
    path: &Path,
) -> Result<Vec<u8>, DeriveError> {
    match kind {
        DerivedKind::Zgap => {
            encode_png(&zgap_image(target, zgap_radius)).map_err(|source| DeriveError::Encode {
                path: path.to_path_buf(),
                source,
            })
        }
        DerivedKind::Gradient => {
            encode_gray16_png(&gradient_image(target)).map_err(|source| DeriveError::Png {
                path: path.to_path_buf(),
                source,
            })
        }
    }
}

/// Computes and writes the derived images `kinds` of a decoded target whose
/// file is `target_path`, next to it.
pub fn write_derived(
    target_path: &Path,
    target: &RgbImage,
    kinds: &[DerivedKind],
    zgap_radius: u32,
) -> Result<(), DeriveError> {
    for &kind in kinds {
        let path = derived_path(target_path, kind);
        let bytes = encode_derived(kind, target, zgap_radius, &path)?;
        std::fs::write(&path, bytes).map_err(|source| DeriveError::Io { path, source })?;
    }
    Ok(())
}

/// Writes the missing derived images (all with `force`) of one target;
/// returns (written, skipped).
fn derive_target(path: &Path, options: &DeriveOptions) -> Result<(usize, usize), DeriveError> {
    let all = options.kinds();
    let missing: Vec<DerivedKind> = all
        .iter()
        .copied()
        .filter(|&kind| options.force || find_derived(path, kind).is_none())
        .collect();
    if !missing.is_empty() {
        let bytes = std::fs::read(path).map_err(|source| DeriveError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let target = cds::decode_rgb(&bytes).map_err(|source| DeriveError::Decode {
            path: path.to_path_buf(),
            source,
        })?;
        write_derived(path, &target, &missing, options.zgap_radius)?;
    }
    Ok((missing.len(), all.len() - missing.len()))
}

/// Writes the missing derived images of every target of a library, in
/// parallel on the current rayon pool; a target that fails is listed in the
/// summary and the others go on.
pub fn derive_library(
    entries: &[LibraryEntry],
    options: &DeriveOptions,
    progress: &dyn Progress,
) -> DeriveSummary {
    progress.start(entries.len() as u64);
    let outcomes: Vec<_> = entries
        .par_iter()
        .map(|entry| {
            let outcome = derive_target(&entry.path, options);
            progress.advance(1);
            outcome
        })
        .collect();
    progress.finish();
    let mut summary = DeriveSummary::default();
    for (entry, outcome) in entries.iter().zip(outcomes) {
        match outcome {
            Ok((written, skipped)) => {
                summary.written += written;
                summary.skipped += skipped;
            }
            Err(e) => summary.failed.push(Unreadable {
                image_name: entry.name.clone(),
                reason: e.to_string(),
            }),
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::discover;

    const BJD: &str = "BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM";

    fn fixture(rel: &str) -> PathBuf {
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/cdm/cdsearch"
        ))
        .join(rel)
    }

    #[test]
    fn derived_zgap_equals_the_reference_file_and_existing_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(format!("{BJD}.tif"));
        std::fs::copy(fixture(&format!("lms/{BJD}.tif")), &target).unwrap();
        let entries = discover(&[dir.path().to_path_buf()]).unwrap();
        let options = DeriveOptions {
            gradients: true,
            ..DeriveOptions::default()
        };
        let summary = derive_library(&entries, &options, &());
        assert_eq!((summary.written, summary.skipped), (2, 0), "{summary:?}");
        let zgap_path = derived_path(&target, DerivedKind::Zgap);
        let written = cds::decode_rgb(&std::fs::read(&zgap_path).unwrap()).unwrap();
        let reference =
            cds::decode_rgb(&std::fs::read(fixture(&format!("zgap/{BJD}.tif"))).unwrap()).unwrap();
        let differ = written
            .pixels
            .iter()
            .zip(&reference.pixels)
            .filter(|(a, b)| (**a ^ **b) & 0x00ff_ffff != 0)
            .count();
        assert_eq!(differ, 0);
        let gradient_path = derived_path(&target, DerivedKind::Gradient);
        let gradient = cds::decode_gray16(&std::fs::read(&gradient_path).unwrap()).unwrap();
        assert_eq!(
            gradient,
            gradient_image(&cds::decode_rgb(&std::fs::read(&target).unwrap()).unwrap())
        );

        assert_eq!(discover(&[dir.path().to_path_buf()]).unwrap(), entries);
        let again = derive_library(&entries, &options, &());
        assert_eq!((again.written, again.skipped), (0, 2));
        let forced = DeriveOptions {
            force: true,
            ..options
        };
        assert_eq!(derive_library(&entries, &forced, &()).written, 2);
    }

    #[test]
    fn undecodable_targets_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
        let entries = discover(&[dir.path().to_path_buf()]).unwrap();
        let summary = derive_library(&entries, &DeriveOptions::default(), &());
        assert_eq!(summary.written, 0);
        assert_eq!(summary.failed.len(), 1);
        assert!(
            summary.failed[0].reason.contains("broken.png"),
            "{summary:?}"
        );
    }
}
