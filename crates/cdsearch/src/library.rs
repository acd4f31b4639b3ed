//! Finding the target images of a library on a local disk.
//!
//! A library is given as directories (walked recursively) and/or image files.
//! Only files with an image extension (`.png`, `.tif`, `.tiff`, any case) are
//! taken from directories; files named explicitly are always taken. The order
//! is deterministic: each argument in the order given, the files under a
//! directory sorted by path. A target is named by its path relative to the
//! directory it was found in (so a library and its index give the same names),
//! or by the path as given for an explicit file.
//!
//! A target may carry two derived images used by the shape score (second
//! stage): a 16-bit grayscale gradient image and an RGB z-gap image. They sit
//! next to the target under its whole file name with a suffix,
//! `<name>.grad.png` and `<name>.zgap.png` (a `.tif`/`.tiff` extension is
//! also found), so that `a/X.tif` has `a/X.tif.grad.png` and
//! `a/X.tif.zgap.png` (the whole name, so that `X.tif` and `X.png` do not
//! share derived images). Discovery never lists such files as targets. Colormipsearch's own layout, sibling folders
//! `grad/` and `zgap/` next to the targets' folder holding `<stem>.png` (or
//! `.tif`), is found as a fallback, so its test folders work as they are.

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
}

/// Extensions (lower case, without the dot) of the image files a library holds.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "tif", "tiff"];

/// Whether `path` has one of the [`IMAGE_EXTENSIONS`], case-insensitively.
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// A derived image of a target, used by the shape score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DerivedKind {
    /// The gradient image (16-bit grayscale, a distance map of the signal).
    Gradient,
    /// The z-gap image (RGB, the thresholded target after a max filter).
    Zgap,
}

impl DerivedKind {
    /// Both kinds, gradient first.
    pub const ALL: [DerivedKind; 2] = [DerivedKind::Gradient, DerivedKind::Zgap];

    /// The suffix added to a target's stem, without the dot (`grad`, `zgap`);
    /// also the name of the reference layout's sibling folder.
    pub fn suffix(self) -> &'static str {
        match self {
            DerivedKind::Gradient => "grad",
            DerivedKind::Zgap => "zgap",
        }
    }

    /// The kind whose suffix ends `stem` (`X.grad` -> gradient), if any.
    fn of_stem(stem: &str) -> Option<DerivedKind> {
        let (_, suffix) = stem.rsplit_once('.')?;
        Self::ALL
            .into_iter()
            .find(|k| suffix.eq_ignore_ascii_case(k.suffix()))
    }
}

/// The name (or object key) of a target's derived image as this project
/// writes it: `a/X.tif` -> `a/X.tif.grad.png` or `a/X.tif.zgap.png`.
/// Object-store libraries keep derived images under these keys.
pub fn derived_name(target_name: &str, kind: DerivedKind) -> String {
    format!("{target_name}.{}.png", kind.suffix())
}

/// The path where this project writes a target's derived image (see
/// [`derived_name`]).
pub fn derived_path(target: &Path, kind: DerivedKind) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(String::new, |n| derived_name(&n.to_string_lossy(), kind));
    target.with_file_name(name)
}

/// Whether `path` names a derived image (`<name>.grad.<image ext>` or
/// `<name>.zgap.<image ext>`) rather than a target.
pub fn is_derived_path(path: &Path) -> bool {
    is_image_path(path)
        && path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(DerivedKind::of_stem)
            .is_some()
}

/// Finds a target's derived image: `<name>.<suffix>.{png,tif,tiff}` next to
/// it, else `../<suffix>/<stem>.{png,tif,tiff}` (the reference's layout).
pub fn find_derived(target: &Path, kind: DerivedKind) -> Option<PathBuf> {
    let name = target.file_name()?.to_string_lossy().into_owned();
    let stem = target.file_stem()?.to_string_lossy().into_owned();
    let dir = target.parent().unwrap_or(Path::new(""));
    let beside = IMAGE_EXTENSIONS
        .iter()
        .map(|ext| dir.join(format!("{name}.{}.{ext}", kind.suffix())));
    let sibling_dir = dir.parent().map(|p| p.join(kind.suffix()));
    let sibling = sibling_dir
        .into_iter()
        .flat_map(|d| IMAGE_EXTENSIONS.map(|ext| d.join(format!("{stem}.{ext}"))));
    beside.chain(sibling).find(|p| p.is_file())
}

/// One target image of a library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryEntry {
    /// Where to read it.
    pub path: PathBuf,
    /// Its name in results: the path relative to the library directory
    /// (`/`-separated), or the path as given for an explicit file.
    pub name: String,
    /// Why the walk could not list this entry (a dangling symlink, a
    /// symlink loop, a directory that cannot be read), if it could not: a
    /// search lists it with the unreadable targets and goes on.
    pub problem: Option<String>,
}

impl LibraryEntry {
    /// A file found (or named) at `path`, named `name` in results.
    pub fn new(path: PathBuf, name: String) -> Self {
        Self {
            path,
            name,
            problem: None,
        }
    }
}

/// Lists the image files of a library given as directories and/or files.
///
/// Directories are walked recursively (symlinks followed) and their image
/// files returned sorted by path, derived images (see [`is_derived_path`])
/// left out; explicit files are kept whatever their
/// extension, so a user can name a file the walk would skip.
///
/// An entry the walk cannot follow (a dangling symlink, a symlink loop, a
/// directory it may not read) does not stop it: it is returned with its
/// [`LibraryEntry::problem`], unless its name has an extension other than
/// an image's (a dangling `notes.txt` is no target). Only a library
/// argument that names nothing fails the listing.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<LibraryEntry>, LibraryError> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            found.extend(walk_images(path));
        } else if path.is_file() {
            found.push(LibraryEntry::new(
                path.clone(),
                path.to_string_lossy().into_owned(),
            ));
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

/// The image files under `dir`, and the entries the walk could not follow.
fn walk_images(dir: &Path) -> Vec<LibraryEntry> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                if entry.file_type().is_file() && is_image_path(path) && !is_derived_path(path) {
                    let name = relative_name(path, dir);
                    files.push(LibraryEntry::new(entry.into_path(), name));
                }
            }
            Err(error) => {
                let path = error.path().unwrap_or(dir).to_path_buf();
                let other_file = path.extension().is_some() && !is_image_path(&path);
                if other_file || is_derived_path(&path) {
                    continue;
                }
                let problem = walk_problem(&error);
                tracing::warn!(path = %path.display(), %problem, "library entry cannot be listed");
                files.push(LibraryEntry {
                    name: relative_name(&path, dir),
                    path,
                    problem: Some(problem),
                });
            }
        }
    }
    files
}

/// Why the walk could not follow an entry, without the library's absolute
/// path (results name the entry relative to its library).
fn walk_problem(error: &walkdir::Error) -> String {
    if let Some(ancestor) = error.loop_ancestor() {
        let target = ancestor
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        return format!("cannot list: symlink loop (it points back to its ancestor {target:?})");
    }
    match error.io_error() {
        Some(io) if io.kind() == std::io::ErrorKind::NotFound => {
            "cannot list: dangling symlink (its target does not exist)".to_owned()
        }
        Some(io) => format!("cannot list: {io}"),
        None => format!("cannot list: {error}"),
    }
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
    fn derived_images_are_named_after_the_target_stem() {
        assert_eq!(
            derived_name("a/X.tif", DerivedKind::Gradient),
            "a/X.tif.grad.png"
        );
        assert_eq!(
            derived_name("X.v2.PNG", DerivedKind::Zgap),
            "X.v2.PNG.zgap.png"
        );
        assert_eq!(
            derived_path(Path::new("/l/a/X.tiff"), DerivedKind::Zgap),
            Path::new("/l/a/X.tiff.zgap.png")
        );
        assert!(is_derived_path(Path::new("a/X.tif.grad.png")));
        assert!(is_derived_path(Path::new("a/X.ZGAP.tif")));
        assert!(!is_derived_path(Path::new("a/X.gradient.png")));
        assert!(!is_derived_path(Path::new("a/grad.png")));
        assert!(!is_derived_path(Path::new("a/X.zgap.txt")));
    }

    #[test]
    fn discovery_skips_derived_images_and_lookup_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("lms")).unwrap();
        std::fs::create_dir_all(root.join("grad")).unwrap();
        for name in [
            "a.tif",
            "a.png",
            "a.tif.grad.png",
            "a.tif.zgap.tif",
            "lms/b.tif",
            "grad/b.png",
        ] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        let names: Vec<_> = discover(&[root.to_path_buf()])
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["a.png", "a.tif", "grad/b.png", "lms/b.tif"]);
        let a = root.join("a.tif");
        assert_eq!(
            find_derived(&a, DerivedKind::Gradient),
            Some(root.join("a.tif.grad.png"))
        );
        assert_eq!(
            find_derived(&a, DerivedKind::Zgap),
            Some(root.join("a.tif.zgap.tif"))
        );
        assert_eq!(find_derived(&root.join("a.png"), DerivedKind::Zgap), None);
        let b = root.join("lms/b.tif");
        assert_eq!(
            find_derived(&b, DerivedKind::Gradient),
            Some(root.join("grad/b.png"))
        );
        assert_eq!(find_derived(&b, DerivedKind::Zgap), None);
    }

    #[cfg(unix)]
    #[test]
    fn dangling_symlinks_and_loops_are_listed_with_their_problem() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.png"), b"x").unwrap();
        std::fs::write(root.join("sub/c.tif"), b"x").unwrap();
        symlink(root.join("nowhere.png"), root.join("b.png")).unwrap();
        symlink(root.join("nowhere.txt"), root.join("notes.txt")).unwrap();
        symlink(root, root.join("sub/loop")).unwrap();
        let found = discover(&[root.to_path_buf()]).unwrap();
        let listed: Vec<_> = found
            .iter()
            .map(|e| (e.name.as_str(), e.problem.as_deref()))
            .collect();
        assert_eq!(
            listed,
            [
                ("a.png", None),
                (
                    "b.png",
                    Some("cannot list: dangling symlink (its target does not exist)")
                ),
                ("sub/c.tif", None),
                (
                    "sub/loop",
                    Some(
                        format!(
                            "cannot list: symlink loop (it points back to its ancestor {:?})",
                            root.file_name().unwrap().to_string_lossy()
                        )
                        .as_str()
                    )
                ),
            ]
        );
    }

    #[test]
    fn missing_path_is_named() {
        let err = discover(&[PathBuf::from("/no/such/library")]).unwrap_err();
        assert!(err.to_string().contains("/no/such/library"), "{err}");
    }
}
