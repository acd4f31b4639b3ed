//! The preprocessed library format: every target already coded for scoring
//! ([`CodedTarget::to_bytes`]: row by row, the lit bitmap words plus one code
//! word per lit pixel), stored or compressed, in one file that a search reads
//! instead of the images.
//!
//! Layout (integers little-endian):
//! - header, 32 bytes: magic `CDSINDEX`, version (u32, 3), codec (u32: 0 =
//!   stored, 1 = zstd), record count (u64), offset of the table of contents (u64);
//! - the records, one after another;
//! - the table of contents, per record: offset (u64), stored length (u32),
//!   raw length (u32), width (u32), height (u32), name length (u32), name (UTF-8).
//!
//! Records are read with positioned reads, so many threads share one file.
//! A stored record is read only up to the last row the masks need, and
//! loading it copies bitmap words and code words without per-pixel work.

mod format;
mod read;
mod write;

pub use format::Codec;
pub(crate) use format::{load_record, Cursor, TocEntry};
pub use read::IndexLibrary;
pub use write::{code_records, write_index, IndexWriter, Record};

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::results::Unreadable;

/// Why an index could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A file operation on the index failed.
    #[error("cannot {action} index {path}: {source}")]
    Io {
        /// What was being done ("create", "read", "write").
        action: &'static str,
        /// The index file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not an index or is damaged.
    #[error("invalid index {path}: {problem}")]
    Invalid {
        /// The index file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

/// What [`write_index`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexSummary {
    /// Targets written.
    pub written: usize,
    /// Raw (uncompressed) bytes of the records.
    pub raw_bytes: u64,
    /// Bytes of the index file.
    pub file_bytes: u64,
    /// Targets that could not be read, left out of the index.
    pub unreadable: Vec<Unreadable>,
}

/// Whether `path` is a file starting with the index magic.
pub fn is_index(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|_| &magic == format::MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::LibraryEntry;
    use crate::search::{load_image_target, TargetNeed, TargetSource};
    use crate::synth::{write_library, SynthFormat, SynthOptions};

    fn library(dir: &Path, count: u64) -> Vec<LibraryEntry> {
        let options = SynthOptions {
            count,
            seed: 3,
            format: SynthFormat::Tif,
            ..SynthOptions::default()
        };
        write_library(&dir.join("lib"), &options, &()).unwrap();
        crate::library::discover(&[dir.join("lib")]).unwrap()
    }

    #[test]
    fn round_trips_coded_targets_with_both_codecs() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = library(dir.path(), 4);
        let bad = dir.path().join("bad.tif");
        std::fs::write(&bad, b"II*\0garbage").unwrap();
        entries.insert(1, LibraryEntry::new(bad, "bad.tif".into()));
        for codec in [Codec::Stored, Codec::Zstd(3)] {
            let path = dir.path().join(format!("lib-{}.cdsindex", codec.id()));
            let summary = write_index(&entries, &path, codec, &()).unwrap();
            assert_eq!(summary.written, 4);
            assert_eq!(summary.unreadable.len(), 1);
            assert_eq!(summary.unreadable[0].image_name, "bad.tif");
            assert!(is_index(&path));
            let index = IndexLibrary::open(&path).unwrap();
            assert_eq!(index.len(), 4);
            for (i, entry) in entries.iter().filter(|e| e.name != "bad.tif").enumerate() {
                assert_eq!(index.name(i), entry.name);
                assert_eq!(index.size(i), (1210, 566));
                let expected = load_image_target(&entry.path, &TargetNeed::all()).unwrap();
                assert_eq!(index.load(i, &TargetNeed::all()).unwrap(), expected);
                let first_rows =
                    load_image_target(&entry.path, &TargetNeed::first_rows(300)).unwrap();
                assert_eq!(
                    index.load(i, &TargetNeed::first_rows(300)).unwrap(),
                    first_rows
                );
            }
        }
    }

    #[test]
    fn rejects_files_that_are_not_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cdsindex");
        std::fs::write(&path, b"CDSINDEX\x09\0\0\0").unwrap();
        assert!(is_index(&path));
        let err = IndexLibrary::open(&path).unwrap_err().to_string();
        assert!(err.contains("x.cdsindex"), "{err}");
        std::fs::write(&path, b"PNG").unwrap();
        assert!(!is_index(&path));
    }
}
