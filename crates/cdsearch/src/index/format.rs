//! The byte layout of an index, shared by index files and the shards of an
//! index in an object store: the 32-byte header, the table of contents, and
//! the decoding of one record into a coded target.

use std::cell::RefCell;

use cds::pixel_match::CodedTarget;

use crate::search::TargetError;

/// First bytes of every index.
pub(crate) const MAGIC: &[u8; 8] = b"CDSINDEX";
/// 3: code words hold a hue index (`CDSCODE3`); 2 held sector and rank.
pub(crate) const VERSION: u32 = 3;
/// Bytes of the header.
pub(crate) const HEADER_LEN: u64 = 32;

/// How records are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Stored as is.
    Stored,
    /// zstd at the given level (1-22; 3 is a good default).
    Zstd(i32),
}

impl Codec {
    /// The codec's number in the header.
    pub(crate) fn id(self) -> u32 {
        match self {
            Codec::Stored => 0,
            Codec::Zstd(_) => 1,
        }
    }
}

/// The header's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// 0 = stored, 1 = zstd.
    pub codec: u32,
    /// Number of records.
    pub count: u64,
    /// Where the table of contents starts (the end of the records).
    pub toc_offset: u64,
}

impl Header {
    /// The header's 32 bytes.
    pub fn to_bytes(self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0u8; HEADER_LEN as usize];
        out[..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.codec.to_le_bytes());
        out[16..24].copy_from_slice(&self.count.to_le_bytes());
        out[24..32].copy_from_slice(&self.toc_offset.to_le_bytes());
        out
    }

    /// Reads a header, saying what is wrong with one that is not valid.
    pub fn read(bytes: &[u8]) -> Result<Self, String> {
        let mut h = Cursor::new(bytes);
        if h.take(8) != Some(MAGIC.as_slice()) {
            return Err("missing the CDSINDEX magic".into());
        }
        let version = h.u32().ok_or("shorter than its 32-byte header")?;
        if version != VERSION {
            return Err(format!(
                "version {version}, expected {VERSION} (rebuild it with `cdsearch library index`)"
            ));
        }
        let codec = h.u32().ok_or("shorter than its 32-byte header")?;
        if codec > 1 {
            return Err(format!("unknown codec {codec}, expected 0 or 1"));
        }
        let count = h.u64().ok_or("shorter than its 32-byte header")?;
        let toc_offset = h.u64().ok_or("shorter than its 32-byte header")?;
        Ok(Self {
            codec,
            count,
            toc_offset,
        })
    }
}

/// One record of the table of contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TocEntry {
    /// The target's name.
    pub name: String,
    /// Where the record starts.
    pub offset: u64,
    /// Bytes of the record as stored.
    pub stored_len: u32,
    /// Bytes of the coded target (the record uncompressed).
    pub raw_len: u32,
    /// The target's width.
    pub width: u32,
    /// The target's height.
    pub height: u32,
}

impl TocEntry {
    /// Appends the entry's bytes: offset (u64), stored length, raw length,
    /// width, height, name length (u32 each), name (UTF-8).
    pub fn write(&self, out: &mut Vec<u8>) {
        let name = self.name.as_bytes();
        out.extend_from_slice(&self.offset.to_le_bytes());
        for v in [
            self.stored_len,
            self.raw_len,
            self.width,
            self.height,
            name.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(name);
    }

    /// Reads one entry; `None` when `c` ends first.
    pub fn read(c: &mut Cursor<'_>) -> Result<Option<Self>, String> {
        let Some(offset) = c.u64() else {
            return Ok(None);
        };
        let mut v = [0u32; 5];
        for x in &mut v {
            let Some(value) = c.u32() else {
                return Ok(None);
            };
            *x = value;
        }
        let Some(name) = c.take(v[4] as usize) else {
            return Ok(None);
        };
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| format!("record name at {offset} is not UTF-8"))?;
        Ok(Some(Self {
            name,
            offset,
            stored_len: v[0],
            raw_len: v[1],
            width: v[2],
            height: v[3],
        }))
    }

    /// Where the record ends.
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.stored_len)
    }
}

/// Reads the `count` entries of a table of contents; every record must end
/// by `records_end`.
pub(crate) fn read_toc(
    bytes: &[u8],
    count: u64,
    records_end: u64,
) -> Result<Vec<TocEntry>, String> {
    let mut c = Cursor::new(bytes);
    let mut toc = Vec::with_capacity(count.min(1 << 20) as usize);
    for _ in 0..count {
        let entry = TocEntry::read(&mut c)?
            .ok_or_else(|| format!("table of contents truncated (expected {count} records)"))?;
        if entry.end() > records_end {
            return Err(format!("record {} extends past the records", entry.name));
        }
        toc.push(entry);
    }
    Ok(toc)
}

/// A little-endian reader over a byte slice that reports truncation.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    /// The next u32.
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// The next u64.
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

thread_local! {
    /// One zstd decompression context per thread, reused across records.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// Decompresses a zstd record of `raw_len` bytes.
pub(crate) fn decompress(stored: &[u8], raw_len: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = match slot.as_mut() {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        d.decompress(stored, raw_len)
    })
}

/// Loads rows `0..rows` of a record into `out`: `bytes` are the record's
/// first bytes (enough for those rows when stored, the whole record when
/// compressed); `place` names the record in errors. A record of raw length
/// 0 stands for a target that could not be coded: its bytes say why.
pub(crate) fn load_record(
    codec: u32,
    entry: &TocEntry,
    bytes: &[u8],
    rows: usize,
    out: &mut CodedTarget,
    place: &dyn Fn() -> String,
) -> Result<(), TargetError> {
    if entry.raw_len == 0 {
        let reason = String::from_utf8_lossy(bytes);
        return Err(TargetError::Source(format!(
            "unreadable when indexed: {reason}"
        )));
    }
    if codec == 0 {
        return out.read_prefix(bytes, rows).map_err(TargetError::Coded);
    }
    let raw = decompress(bytes, entry.raw_len as usize)
        .map_err(|err| TargetError::Source(format!("damaged record in {}: {err}", place())))?;
    out.read_prefix(&raw, rows).map_err(TargetError::Coded)
}
