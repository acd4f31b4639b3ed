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

use crate::library::LibraryEntry;
use crate::progress::Progress;
use crate::results::Unreadable;
use crate::search::{load_image_target, TargetError, TargetNeed, TargetSource};
use cds::pixel_match::CodedTarget;
use rayon::prelude::*;
use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"CDSINDEX";
/// 3: code words hold a hue index (`CDSCODE3`); 2 held sector and rank.
const VERSION: u32 = 3;
const HEADER_LEN: u64 = 32;
/// Targets coded in parallel before their records are written.
const CHUNK: usize = 256;

/// How records are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Stored as is.
    Stored,
    /// zstd at the given level (1-22; 3 is a good default).
    Zstd(i32),
}

impl Codec {
    fn id(self) -> u32 {
        match self {
            Codec::Stored => 0,
            Codec::Zstd(_) => 1,
        }
    }
}

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

/// One record of the table of contents.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TocEntry {
    name: String,
    offset: u64,
    stored_len: u32,
    raw_len: u32,
    width: u32,
    height: u32,
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
        .is_ok_and(|_| &magic == MAGIC)
}

/// Codes every target of a library (in parallel) and writes the index file.
/// Unreadable targets are left out and listed in the summary.
pub fn write_index(
    entries: &[LibraryEntry],
    out: &Path,
    codec: Codec,
    progress: &dyn Progress,
) -> Result<IndexSummary, IndexError> {
    let io_err = |action: &'static str| {
        move |source| IndexError::Io {
            action,
            path: out.to_path_buf(),
            source,
        }
    };
    let mut file = BufWriter::new(File::create(out).map_err(io_err("create"))?);
    file.write_all(&[0; HEADER_LEN as usize])
        .map_err(io_err("write"))?;
    let mut offset = HEADER_LEN;
    let mut toc = Vec::with_capacity(entries.len());
    let mut unreadable = Vec::new();
    let mut raw_bytes = 0u64;
    progress.start(entries.len() as u64);
    for chunk in entries.chunks(CHUNK) {
        let records: Vec<_> = chunk
            .par_iter()
            .map(|entry| {
                let record = code_record(&entry.path, codec);
                progress.advance(1);
                record
            })
            .collect();
        for (entry, record) in chunk.iter().zip(records) {
            match record {
                Ok(record) => {
                    file.write_all(&record.stored).map_err(io_err("write"))?;
                    toc.push(TocEntry {
                        name: entry.name.clone(),
                        offset,
                        stored_len: record.stored.len() as u32,
                        raw_len: record.raw_len,
                        width: record.width,
                        height: record.height,
                    });
                    offset += record.stored.len() as u64;
                    raw_bytes += u64::from(record.raw_len);
                }
                Err(e) => unreadable.push(Unreadable {
                    image_name: entry.name.clone(),
                    reason: e.to_string(),
                }),
            }
        }
    }
    progress.finish();
    let toc_offset = offset;
    for e in &toc {
        let name = e.name.as_bytes();
        let mut rec = Vec::with_capacity(28 + name.len());
        rec.extend_from_slice(&e.offset.to_le_bytes());
        for v in [
            e.stored_len,
            e.raw_len,
            e.width,
            e.height,
            name.len() as u32,
        ] {
            rec.extend_from_slice(&v.to_le_bytes());
        }
        rec.extend_from_slice(name);
        file.write_all(&rec).map_err(io_err("write"))?;
    }
    let mut file = file
        .into_inner()
        .map_err(|e| io_err("write")(e.into_error()))?;
    let file_bytes = file.stream_position().map_err(io_err("write"))?;
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&codec.id().to_le_bytes());
    header.extend_from_slice(&(toc.len() as u64).to_le_bytes());
    header.extend_from_slice(&toc_offset.to_le_bytes());
    file.seek(SeekFrom::Start(0)).map_err(io_err("write"))?;
    file.write_all(&header).map_err(io_err("write"))?;
    file.sync_all().map_err(io_err("write"))?;
    Ok(IndexSummary {
        written: toc.len(),
        raw_bytes,
        file_bytes,
        unreadable,
    })
}

/// One coded, compressed target ready to be written.
struct Record {
    width: u32,
    height: u32,
    raw_len: u32,
    stored: Vec<u8>,
}

/// Reads, codes and compresses one image.
fn code_record(path: &Path, codec: Codec) -> Result<Record, TargetError> {
    let target = load_image_target(path, &TargetNeed::all())?;
    let raw = target.to_bytes();
    let raw_len = u32::try_from(raw.len()).map_err(|_| {
        TargetError::Source(format!("coded target of {} bytes is too large", raw.len()))
    })?;
    let stored = match codec {
        Codec::Stored => raw,
        Codec::Zstd(level) => zstd::bulk::compress(&raw, level)
            .map_err(|e| TargetError::Source(format!("cannot compress: {e}")))?,
    };
    Ok(Record {
        width: target.width() as u32,
        height: target.height() as u32,
        raw_len,
        stored,
    })
}

/// A library read from an index file.
#[derive(Debug)]
pub struct IndexLibrary {
    path: PathBuf,
    file: File,
    codec: u32,
    toc: Vec<TocEntry>,
}

/// A little-endian reader over a byte slice that reports truncation.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

impl IndexLibrary {
    /// Opens an index file and reads its table of contents.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let invalid = |problem: String| IndexError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        let io = |source| IndexError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact(&mut header)
            .map_err(|_| invalid("shorter than its 32-byte header".into()))?;
        let mut h = Cursor {
            bytes: &header,
            at: 0,
        };
        if h.take(8) != Some(MAGIC.as_slice()) {
            return Err(invalid("missing the CDSINDEX magic".into()));
        }
        let version = h.u32().unwrap_or(0);
        if version != VERSION {
            return Err(invalid(format!(
                "version {version}, expected {VERSION} (rebuild it with `cdsearch library index`)"
            )));
        }
        let codec = h.u32().unwrap_or(u32::MAX);
        if codec > 1 {
            return Err(invalid(format!("unknown codec {codec}, expected 0 or 1")));
        }
        let count = h.u64().unwrap_or(0);
        let toc_offset = h.u64().unwrap_or(0);
        file.seek(SeekFrom::Start(toc_offset)).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let mut c = Cursor {
            bytes: &bytes,
            at: 0,
        };
        let truncated = || {
            invalid(format!(
                "table of contents truncated (expected {count} records)"
            ))
        };
        let mut toc = Vec::with_capacity(count.min(1 << 24) as usize);
        for _ in 0..count {
            let offset = c.u64().ok_or_else(truncated)?;
            let mut v = [0u32; 5];
            for x in &mut v {
                *x = c.u32().ok_or_else(truncated)?;
            }
            let name = c.take(v[4] as usize).ok_or_else(truncated)?;
            let name = String::from_utf8(name.to_vec())
                .map_err(|_| invalid(format!("record name at {offset} is not UTF-8")))?;
            if offset + u64::from(v[0]) > toc_offset {
                return Err(invalid(format!("record {name} extends past the records")));
            }
            toc.push(TocEntry {
                name,
                offset,
                stored_len: v[0],
                raw_len: v[1],
                width: v[2],
                height: v[3],
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            codec,
            toc,
        })
    }

    /// The (width, height) of target `index`.
    pub fn size(&self, index: usize) -> (usize, usize) {
        let e = &self.toc[index];
        (e.width as usize, e.height as usize)
    }

    /// The stored bytes of record `index`.
    fn read_record(&self, e: &TocEntry) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; e.stored_len as usize];
        read_at(&self.file, &mut buf, e.offset)?;
        Ok(buf)
    }

    /// Reads rows `0..rows` of an uncompressed record (its header, then the
    /// prefix the header says holds those rows) into `buf`.
    fn read_stored_rows(
        &self,
        e: &TocEntry,
        rows: usize,
        buf: &mut Vec<u8>,
    ) -> Result<(), TargetError> {
        let stored = e.stored_len as usize;
        let header = CodedTarget::header_len(e.height as usize).min(stored);
        buf.resize(header, 0);
        read_at(&self.file, buf, e.offset)?;
        let len = CodedTarget::prefix_len(buf, rows).map_err(TargetError::Coded)?;
        if len > stored {
            return Err(TargetError::Source(format!(
                "damaged record in index {}: rows end at byte {len}, past its {stored} bytes",
                self.path.display()
            )));
        }
        buf.resize(len, 0);
        read_at(&self.file, &mut buf[header..], e.offset + header as u64)?;
        Ok(())
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_read(file, buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

thread_local! {
    /// One record buffer per thread, reused across records.
    static RECORD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// One zstd decompression context per thread, reused across records.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

fn decompress(stored: &[u8], raw_len: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = match slot.as_mut() {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        d.decompress(stored, raw_len)
    })
}

impl TargetSource for IndexLibrary {
    fn len(&self) -> usize {
        self.toc.len()
    }

    fn name(&self, index: usize) -> &str {
        &self.toc[index].name
    }

    /// Reads the rows the search needs (the records are already coded).
    fn load_into(
        &self,
        index: usize,
        need: &TargetNeed,
        out: &mut CodedTarget,
    ) -> Result<(), TargetError> {
        let rows = need.rows();
        let e = &self.toc[index];
        if self.codec == 0 {
            return RECORD.with(|cell| {
                let mut buf = cell.borrow_mut();
                self.read_stored_rows(e, rows, &mut buf)?;
                out.read_prefix(&buf, rows).map_err(TargetError::Coded)
            });
        }
        let raw = decompress(&self.read_record(e)?, e.raw_len as usize).map_err(|err| {
            TargetError::Source(format!(
                "damaged record in index {}: {err}",
                self.path.display()
            ))
        })?;
        out.read_prefix(&raw, rows).map_err(TargetError::Coded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        entries.insert(
            1,
            LibraryEntry {
                path: bad,
                name: "bad.tif".into(),
            },
        );
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
