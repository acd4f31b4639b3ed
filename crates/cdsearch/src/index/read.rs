//! Reading an index file: its table of contents once, then each record
//! with positioned reads, so many threads share one file. A stored record is
//! read only up to the last row the masks need.

use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use cds::pixel_match::CodedTarget;

use super::format::{load_record, read_toc, Header, TocEntry, HEADER_LEN};
use super::write::Record;
use super::IndexError;
use crate::search::{TargetError, TargetNeed, TargetSource};

/// A library read from an index file.
#[derive(Debug)]
pub struct IndexLibrary {
    path: PathBuf,
    file: File,
    codec: u32,
    toc: Vec<TocEntry>,
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
        let header = Header::read(&header).map_err(invalid)?;
        file.seek(SeekFrom::Start(header.toc_offset)).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let toc = read_toc(&bytes, header.count, header.toc_offset).map_err(invalid)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            codec: header.codec,
            toc,
        })
    }

    /// The codec of the records (0 stored, 1 zstd).
    pub fn codec(&self) -> u32 {
        self.codec
    }

    /// The name of target `index` and the size of its record as stored.
    pub fn record_size(&self, index: usize) -> (&str, u64) {
        let e = &self.toc[index];
        (&e.name, u64::from(e.stored_len))
    }

    /// Record `index` as stored, ready to be written to another index.
    pub fn record(&self, index: usize) -> std::io::Result<Record> {
        let e = &self.toc[index];
        Ok(Record {
            name: e.name.clone(),
            width: e.width,
            height: e.height,
            raw_len: e.raw_len,
            stored: self.read_record(e)?,
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
        let place = || format!("index {}", self.path.display());
        RECORD.with(|cell| {
            let mut buf = cell.borrow_mut();
            if self.codec == 0 {
                self.read_stored_rows(e, rows, &mut buf)?;
            } else {
                *buf = self.read_record(e)?;
            }
            load_record(self.codec, e, &buf, rows, out, &place)
        })
    }
}
