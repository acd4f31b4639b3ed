//! Finding the target images of a library on a local disk.
//!
//! A library is given as directories (walked recursively) and/or image files.
//! Only files with an image extension (`.png`, `.tif`, `.tiff`, any case) are
//! taken from directories; files named explicitly are always taken. The order
//! is deterministic: each argument in the order given, the files under a
//! directory sorted by path. A target is named by its path relative to the
//! directory it was found in (so a library and its index give the same names),
//! or by the path as given for an explicit file.

use std::path::{Path, PathBuf};

/// Why a library could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// A library argument names nothing on disk.
    #[error("library path {path} does not exist (expected a directory or an image file)")]
    Missing {
        /// The path as given.
        path: PathBuf,
    },
    /// A directory could not be walked.
    #[error("cannot list library directory {path}: {source}")]
    Walk {
        /// The directory (or entry) that failed.
        path: PathBuf,
        /// The underlying error.
        source: walkdir::Error,
    },
}

/// Extensions (lower case, without the dot) of the image files a library holds.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "tif", "tiff"];

/// Whether `path` has one of the [`IMAGE_EXTENSIONS`], case-insensitively.
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// One target image of a library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryEntry {
    /// Where to read it.
    pub path: PathBuf,
    /// Its name in results: the path relative to the library directory
    /// (`/`-separated), or the path as given for an explicit file.
    pub name: String,
}

/// Lists the image files of a library given as directories and/or files.
///
/// Directories are walked recursively (symlinks followed) and their image
/// files returned sorted by path; explicit files are kept whatever their
/// extension, so a user can name a file the walk would skip.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<LibraryEntry>, LibraryError> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            found.extend(walk_images(path)?.into_iter().map(|file| LibraryEntry {
                name: relative_name(&file, path),
                path: file,
            }));
        } else if path.is_file() {
            found.push(LibraryEntry {
                path: path.clone(),
                name: path.to_string_lossy().into_owned(),
            });
        } else {
            return Err(LibraryError::Missing { path: path.clone() });
        }
    }
    Ok(found)
}

/// `file` relative to `root`, with `/` separators.
fn relative_name(file: &Path, root: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    let parts: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
    parts.join("/")
}

fn walk_images(dir: &Path) -> Result<Vec<PathBuf>, LibraryError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|source| LibraryError::Walk {
            path: dir.to_path_buf(),
            source,
        })?;
        if entry.file_type().is_file() && is_image_path(entry.path()) {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_extensions_are_case_insensitive() {
        assert!(is_image_path(Path::new("a/b.PNG")));
        assert!(is_image_path(Path::new("a/b.Tif")));
        assert!(is_image_path(Path::new("b.tiff")));
        assert!(!is_image_path(Path::new("b.jpg")));
        assert!(!is_image_path(Path::new("tif")));
    }

    #[test]
    fn walks_recursively_in_sorted_order_and_keeps_explicit_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        for name in ["z.png", "a.TIF", "notes.txt", "b/c/m.tiff", "b/k.png"] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        let explicit = root.join("notes.txt");
        let found = discover(&[root.to_path_buf(), explicit.clone()]).unwrap();
        let names: Vec<_> = found.iter().map(|e| e.name.as_str()).collect();
        let explicit_name = explicit.to_string_lossy();
        assert_eq!(
            names,
            ["a.TIF", "b/c/m.tiff", "b/k.png", "z.png", &explicit_name]
        );
        assert_eq!(found[1].path, root.join("b/c/m.tiff"));
    }

    #[test]
    fn missing_path_is_named() {
        let err = discover(&[PathBuf::from("/no/such/library")]).unwrap_err();
        assert!(err.to_string().contains("/no/such/library"), "{err}");
    }
}
