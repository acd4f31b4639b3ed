//! Writing an index: targets coded (in parallel) into records, written one
//! after another behind a header, then the table of contents. The same
//! writer makes index files and the shards of an index in an object store.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use rayon::prelude::*;

use super::format::{Codec, Header, TocEntry, HEADER_LEN};
use super::{IndexError, IndexSummary};
use crate::library::LibraryEntry;
use crate::progress::Progress;
use crate::results::Unreadable;
use crate::search::{load_image_target, TargetError, TargetNeed};

/// Targets coded in parallel before their records are written.
const CHUNK: usize = 256;

/// One coded (and maybe compressed) target ready to be written.
#[derive(Clone, Debug)]
pub struct Record {
    /// The target's name.
    pub name: String,
    /// The target's width.
    pub width: u32,
    /// The target's height.
    pub height: u32,
    /// Bytes of the coded target.
    pub raw_len: u32,
    /// The record as stored.
    pub stored: Vec<u8>,
}

impl Record {
    /// The stand-in for a target that could not be coded (raw length 0, the
    /// reason as its bytes), so that an index keeps every target's place.
    pub fn unreadable(name: &str, reason: &str) -> Self {
        Self {
            name: name.to_owned(),
            width: 0,
            height: 0,
            raw_len: 0,
            stored: reason.as_bytes().to_vec(),
        }
    }

    /// Reads, codes and compresses the image at `path`, named `name`.
    pub fn code(name: &str, path: &Path, codec: Codec) -> Result<Self, TargetError> {
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
        Ok(Self {
            name: name.to_owned(),
            width: target.width() as u32,
            height: target.height() as u32,
            raw_len,
            stored,
        })
    }
}

/// Codes `entries` in parallel chunks, calling `sink` with each target's
/// record (or why it could not be coded) in order.
pub fn code_records<E>(
    entries: &[LibraryEntry],
    codec: Codec,
    progress: &dyn Progress,
    mut sink: impl FnMut(&LibraryEntry, Result<Record, TargetError>) -> Result<(), E>,
) -> Result<(), E> {
    progress.start(entries.len() as u64);
    for chunk in entries.chunks(CHUNK) {
        let records: Vec<_> = chunk
            .par_iter()
            .map(|entry| {
                let record = Record::code(&entry.name, &entry.path, codec);
                progress.advance(1);
                record
            })
            .collect();
        for (entry, record) in chunk.iter().zip(records) {
            sink(entry, record)?;
        }
    }
    progress.finish();
    Ok(())
}

/// Writes an index to `out`: records as they are added, then (at
/// [`IndexWriter::finish`]) the table of contents and the header.
pub struct IndexWriter<W: Write + Seek> {
    out: W,
    codec: u32,
    offset: u64,
    toc: Vec<TocEntry>,
}

impl<W: Write + Seek> IndexWriter<W> {
    /// Starts an index with records stored by `codec` (`0` stored, `1`
    /// zstd): leaves room for the header.
    pub fn new(mut out: W, codec: u32) -> std::io::Result<Self> {
        out.write_all(&[0; HEADER_LEN as usize])?;
        Ok(Self {
            out,
            codec,
            offset: HEADER_LEN,
            toc: Vec::new(),
        })
    }

    /// Appends a record.
    pub fn add(&mut self, record: &Record) -> std::io::Result<()> {
        self.out.write_all(&record.stored)?;
        self.toc.push(TocEntry {
            name: record.name.clone(),
            offset: self.offset,
            stored_len: record.stored.len() as u32,
            raw_len: record.raw_len,
            width: record.width,
            height: record.height,
        });
        self.offset += record.stored.len() as u64;
        Ok(())
    }

    /// The table of contents so far.
    pub(crate) fn entries(&self) -> &[TocEntry] {
        &self.toc
    }

    /// Records written so far.
    pub fn len(&self) -> usize {
        self.toc.len()
    }

    /// Whether no record was written.
    pub fn is_empty(&self) -> bool {
        self.toc.is_empty()
    }

    /// Writes the table of contents and the header; returns the output and
    /// the index's length in bytes.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        let mut toc = Vec::new();
        for entry in &self.toc {
            entry.write(&mut toc);
        }
        self.out.write_all(&toc)?;
        let len = self.offset + toc.len() as u64;
        let header = Header {
            codec: self.codec,
            count: self.toc.len() as u64,
            toc_offset: self.offset,
        };
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header.to_bytes())?;
        Ok((self.out, len))
    }
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
    let file = BufWriter::new(File::create(out).map_err(io_err("create"))?);
    let mut writer = IndexWriter::new(file, codec.id()).map_err(io_err("write"))?;
    let mut unreadable = Vec::new();
    let mut raw_bytes = 0u64;
    code_records(entries, codec, progress, |entry, record| {
        match record {
            Ok(record) => {
                writer.add(&record)?;
                raw_bytes += u64::from(record.raw_len);
            }
            Err(e) => unreadable.push(Unreadable {
                image_name: entry.name.clone(),
                reason: e.to_string(),
            }),
        }
        Ok(())
    })
    .map_err(io_err("write"))?;
    let written = writer.len();
    let (file, file_bytes) = writer.finish().map_err(io_err("write"))?;
    let file = file
        .into_inner()
        .map_err(|e| io_err("write")(e.into_error()))?;
    file.sync_all().map_err(io_err("write"))?;
    Ok(IndexSummary {
        written,
        raw_bytes,
        file_bytes,
        unreadable,
    })
}
