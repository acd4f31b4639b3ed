//! A library as an index in an object store: coded targets packed into
//! shards, each a complete index file (`cdsearch::index`, so a shard copied
//! to disk is searchable as it is), spread over the library's numbered
//! prefixes, plus a small table-of-contents object per shard and one
//! manifest:
//!
//! ```text
//! <prefix>/INDEX/manifest.json                    IndexManifest (written last)
//! <prefix>/<NN>/INDEX/shards/<s>.cdsindex         shard s: targets s*K .. (s+1)*K
//! <prefix>/<NN>/INDEX/toc/<s>.cdstoc              its table of contents, with row bands
//! ```
//!
//! A worker reads the table of contents of each shard its batch touches (one
//! GET each) and then its targets' bytes with a few ranged GETs
//! ([`plan_reads`]): adjacent records are coalesced, and when the masks
//! reach only the top rows, only the row bands they need are read.
//!
//! The table-of-contents object (integers little-endian): magic `CDSSTOC1`,
//! codec (u32), record count (u32), shard length (u64), source fingerprint
//! (u64), then per record the index's table-of-contents entry followed by
//! [`BANDS`] u32: the bytes of the record that hold rows `0..band_rows(b)`.

use std::ops::Range;

use cds::pixel_match::CodedTarget;
use serde::{Deserialize, Serialize};

use super::layout::{item_key_among, join_key};
use crate::index::{Cursor, Record, TocEntry};

/// Row bands per record in a table-of-contents object.
pub const BANDS: usize = 8;
/// `format` of a manifest.
pub const MANIFEST_FORMAT: &str = "cdsearch-index-shards";
/// Version of the manifest and table-of-contents objects.
pub const MANIFEST_VERSION: u32 = 1;
/// Targets per shard unless the uploader says otherwise.
pub const DEFAULT_SHARD_TARGETS: u64 = 1024;
/// First bytes of a table-of-contents object.
const TOC_MAGIC: &[u8; 8] = b"CDSSTOC1";
/// Bytes of a table-of-contents object's header.
const TOC_HEADER_LEN: usize = 32;

/// Key of a library's index manifest.
pub fn manifest_key(prefix: &str) -> String {
    join_key(prefix, "INDEX/manifest.json")
}

/// What a worker needs to know of a library stored as index shards; read
/// from `<prefix>/INDEX/manifest.json` and carried in the job's library
/// parameters, so workers need not read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexManifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// How records are stored: 0 as they are, 1 zstd.
    pub codec: u32,
    /// Number of targets.
    pub targets: u64,
    /// Targets per shard (the last shard may hold fewer).
    pub shard_targets: u64,
    /// Number of numbered prefixes the shards (and images) are spread over.
    pub item_prefixes: u64,
    /// Bytes of all shards.
    pub bytes: u64,
    /// Whether the images (and their derived images) are stored beside the
    /// index at their item keys, for the shape stage and thumbnails.
    pub images: bool,
}

impl IndexManifest {
    /// A manifest of `targets` targets in shards of `shard_targets`.
    pub fn new(codec: u32, targets: u64, shard_targets: u64, item_prefixes: u64) -> Self {
        Self {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            codec,
            targets,
            shard_targets: shard_targets.max(1),
            item_prefixes,
            bytes: 0,
            images: false,
        }
    }

    /// Checks that this is a manifest this code reads.
    pub fn check(&self) -> Result<(), String> {
        if self.format != MANIFEST_FORMAT || self.version != MANIFEST_VERSION {
            return Err(format!(
                "index manifest of format {:?} version {} (expected {MANIFEST_FORMAT:?} version \
                 {MANIFEST_VERSION}; upload the library again)",
                self.format, self.version
            ));
        }
        if self.shard_targets == 0 || self.codec > 1 {
            return Err(format!(
                "index manifest with {} targets per shard and codec {} (expected at least 1 and \
                 0 or 1)",
                self.shard_targets, self.codec
            ));
        }
        Ok(())
    }

    /// Number of shards.
    pub fn shards(&self) -> u64 {
        self.targets.div_ceil(self.shard_targets)
    }

    /// The targets of shard `shard`.
    pub fn shard_items(&self, shard: u64) -> Range<u64> {
        let start = shard * self.shard_targets;
        start..(start + self.shard_targets).min(self.targets)
    }

    /// The shards holding targets `items`.
    pub fn shards_of(&self, items: &Range<u64>) -> Range<u64> {
        let end = items.end.min(self.targets);
        if items.start >= end {
            return 0..0;
        }
        items.start / self.shard_targets..(end - 1) / self.shard_targets + 1
    }

    /// Key of shard `shard` of the library at `prefix`.
    pub fn shard_key(&self, prefix: &str, shard: u64) -> String {
        let name = format!("INDEX/shards/{shard:06}.cdsindex");
        item_key_among(prefix, &name, self.item_prefixes)
    }

    /// Key of the table-of-contents object of shard `shard`.
    pub fn toc_key(&self, prefix: &str, shard: u64) -> String {
        let name = format!("INDEX/toc/{shard:06}.cdstoc");
        item_key_among(prefix, &name, self.item_prefixes)
    }
}

/// Rows `0..band_rows(height, b)` make up band `b` of a target `height` rows high.
pub fn band_rows(height: usize, band: usize) -> usize {
    (height * (band + 1)).div_ceil(BANDS)
}

/// One record of a shard's table of contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardEntry {
    pub(crate) toc: TocEntry,
    /// Bytes of the record holding rows `0..band_rows(height, b)`, per band.
    pub bands: [u32; BANDS],
}

impl ShardEntry {
    /// The target's name.
    pub fn name(&self) -> &str {
        &self.toc.name
    }

    /// The bytes of the shard a search needing rows `0..rows` reads: the
    /// whole record when it is compressed, else the smallest band holding
    /// those rows.
    pub fn needed(&self, codec: u32, rows: usize) -> Range<u64> {
        let len = if codec == 0 && self.toc.raw_len > 0 {
            let height = self.toc.height as usize;
            let band = (0..BANDS)
                .find(|&b| band_rows(height, b) >= rows)
                .unwrap_or(BANDS - 1);
            self.bands[band].min(self.toc.stored_len)
        } else {
            self.toc.stored_len
        };
        self.toc.offset..self.toc.offset + u64::from(len)
    }
}

/// A shard's table of contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardToc {
    /// How its records are stored (0 as they are, 1 zstd).
    pub codec: u32,
    /// Bytes of the shard object.
    pub shard_len: u64,
    /// Fingerprint of what the shard was made from (names and sizes), so a
    /// resumed upload knows whether it is still current.
    pub fingerprint: u64,
    /// Its records, in target order.
    pub entries: Vec<ShardEntry>,
}

impl ShardToc {
    /// The object's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TOC_HEADER_LEN + self.entries.len() * 96);
        out.extend_from_slice(TOC_MAGIC);
        out.extend_from_slice(&self.codec.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.shard_len.to_le_bytes());
        out.extend_from_slice(&self.fingerprint.to_le_bytes());
        for entry in &self.entries {
            entry.toc.write(&mut out);
            for band in entry.bands {
                out.extend_from_slice(&band.to_le_bytes());
            }
        }
        out
    }

    /// Reads the object's bytes, saying what is wrong with them.
    pub fn read(bytes: &[u8]) -> Result<Self, String> {
        let mut c = Cursor::new(bytes);
        if c.take(8) != Some(TOC_MAGIC.as_slice()) {
            return Err("missing the CDSSTOC1 magic".into());
        }
        let short = || "shorter than its 32-byte header".to_string();
        let codec = c.u32().ok_or_else(short)?;
        let count = c.u32().ok_or_else(short)?;
        let shard_len = c.u64().ok_or_else(short)?;
        let fingerprint = c.u64().ok_or_else(short)?;
        if codec > 1 {
            return Err(format!("unknown codec {codec}, expected 0 or 1"));
        }
        let truncated = || format!("truncated (expected {count} records)");
        let mut entries = Vec::with_capacity(count.min(1 << 20) as usize);
        for _ in 0..count {
            let toc = TocEntry::read(&mut c)?.ok_or_else(truncated)?;
            if toc.end() > shard_len {
                return Err(format!(
                    "record {} ends at byte {}, past the shard's {shard_len} bytes",
                    toc.name,
                    toc.end()
                ));
            }
            let mut bands = [0u32; BANDS];
            for band in &mut bands {
                *band = c.u32().ok_or_else(truncated)?;
            }
            entries.push(ShardEntry { toc, bands });
        }
        Ok(Self {
            codec,
            shard_len,
            fingerprint,
            entries,
        })
    }
}

/// The row bands of a record: for a stored record, read from its row table;
/// for a compressed one (or the stand-in of an unreadable target), its whole
/// length for every band.
pub fn record_bands(codec: u32, record: &Record) -> Result<[u32; BANDS], String> {
    let mut bands = [record.stored.len() as u32; BANDS];
    if codec != 0 || record.raw_len == 0 {
        return Ok(bands);
    }
    for (b, band) in bands.iter_mut().enumerate() {
        let rows = band_rows(record.height as usize, b);
        let len = CodedTarget::prefix_len(&record.stored, rows)
            .map_err(|e| format!("record {}: {e}", record.name))?;
        *band = len as u32;
    }
    Ok(bands)
}

/// Builds a shard in memory: its bytes (an index file) and its table of
/// contents.
pub fn build_shard(
    codec: u32,
    records: &[Record],
    fingerprint: u64,
) -> Result<(Vec<u8>, ShardToc), String> {
    let mut writer = crate::index::IndexWriter::new(std::io::Cursor::new(Vec::new()), codec)
        .map_err(|e| e.to_string())?;
    let mut bands = Vec::with_capacity(records.len());
    for record in records {
        writer.add(record).map_err(|e| e.to_string())?;
        bands.push(record_bands(codec, record)?);
    }
    let toc = writer.entries().to_vec();
    let (out, len) = writer.finish().map_err(|e| e.to_string())?;
    let entries = toc
        .into_iter()
        .zip(bands)
        .map(|(toc, bands)| ShardEntry { toc, bands })
        .collect();
    Ok((
        out.into_inner(),
        ShardToc {
            codec,
            shard_len: len,
            fingerprint,
            entries,
        },
    ))
}

/// One ranged read of a shard and the records it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeRead {
    /// Bytes of the shard to read.
    pub bytes: Range<u64>,
    /// The records served, as positions in the list given to [`plan_reads`].
    pub records: Range<usize>,
}

/// How a worker turns its records into ranged reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadPolicy {
    /// Records whose needed bytes are at most this far apart are read in one
    /// request (the bytes between them are read and dropped).
    pub max_gap: u64,
    /// No request reads more than this (unless one record needs more).
    pub max_range: u64,
}

impl Default for ReadPolicy {
    /// Gaps up to 256 KiB coalesced (about one record), ranges up to 64 MiB:
    /// few requests (S3 bills per request) while several are in flight.
    fn default() -> Self {
        Self {
            max_gap: 256 * 1024,
            max_range: 64 * 1024 * 1024,
        }
    }
}

/// Pieces no smaller than this are worth a request of their own.
const MIN_PIECE: u64 = 4 * 1024 * 1024;

impl ReadPolicy {
    /// The policy for a batch needing `total` bytes with `concurrency`
    /// requests in flight: pieces of about `total / (2 * concurrency)` (at
    /// least 4 MiB, at most `max_range`), so every connection is busy and
    /// the first pieces arrive, and are scored, while later ones are read.
    pub fn for_batch(&self, total: u64, concurrency: usize) -> Self {
        let share = total / (2 * concurrency.max(1) as u64);
        Self {
            max_gap: self.max_gap,
            max_range: share.clamp(MIN_PIECE.min(self.max_range), self.max_range),
        }
    }
}

/// Groups the needed byte ranges of consecutive records (ascending, not
/// overlapping) into ranged reads: a record joins the current read when the
/// gap before it is at most `max_gap` and the read stays within `max_range`.
pub fn plan_reads(needed: &[Range<u64>], policy: &ReadPolicy) -> Vec<RangeRead> {
    let mut reads: Vec<RangeRead> = Vec::new();
    for (i, range) in needed.iter().enumerate() {
        if let Some(last) = reads.last_mut() {
            let gap = range.start.saturating_sub(last.bytes.end);
            let joined = range.end.max(last.bytes.end) - last.bytes.start;
            if gap <= policy.max_gap && joined <= policy.max_range {
                last.bytes.end = range.end.max(last.bytes.end);
                last.records.end = i + 1;
                continue;
            }
        }
        reads.push(RangeRead {
            bytes: range.clone(),
            records: i..i + 1,
        });
    }
    reads
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(targets: u64, per_shard: u64) -> IndexManifest {
        IndexManifest::new(0, targets, per_shard, 100)
    }

    #[test]
    fn shards_cover_items_in_order() {
        let m = manifest(10, 4);
        assert_eq!(m.shards(), 3);
        assert_eq!(m.shard_items(2), 8..10);
        assert_eq!(m.shards_of(&(0..10)), 0..3);
        assert_eq!(m.shards_of(&(4..8)), 1..2);
        assert_eq!(m.shards_of(&(3..5)), 0..2);
        assert_eq!(m.shards_of(&(9..20)), 2..3);
        assert_eq!(m.shards_of(&(10..12)), 0..0);
        assert!(m
            .shard_key("lib", 7)
            .ends_with("/INDEX/shards/000007.cdsindex"));
        assert!(m.toc_key("lib/", 7).starts_with("lib/"));
        assert_eq!(manifest_key("lib/"), "lib/INDEX/manifest.json");
        m.check().unwrap();
        let mut bad = m.clone();
        bad.version = 9;
        assert!(bad.check().unwrap_err().contains("version 9"));
    }

    #[test]
    fn bands_split_rows_evenly_and_end_at_the_height() {
        assert_eq!(band_rows(566, 0), 71);
        assert_eq!(band_rows(566, BANDS - 1), 566);
        assert_eq!(band_rows(3, 0), 1);
        let entry = ShardEntry {
            toc: TocEntry {
                name: "a".into(),
                offset: 100,
                stored_len: 800,
                raw_len: 800,
                width: 10,
                height: 566,
            },
            bands: [100, 200, 300, 400, 500, 600, 700, 800],
        };
        assert_eq!(entry.needed(0, 71), 100..200);
        assert_eq!(entry.needed(0, 72), 100..300);
        assert_eq!(entry.needed(0, 566), 100..900);
        assert_eq!(entry.needed(0, usize::MAX), 100..900);
        assert_eq!(entry.needed(1, 1), 100..900, "compressed: whole record");
    }

    #[test]
    fn reads_coalesce_close_records_within_the_size_limit() {
        let policy = ReadPolicy {
            max_gap: 10,
            max_range: 100,
        };
        let needed = [0..30, 30..60, 65..90, 200..210, 210..260, 260..330];
        let reads = plan_reads(&needed, &policy);
        let summary: Vec<_> = reads
            .iter()
            .map(|r| (r.bytes.clone(), r.records.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![(0..90, 0..3), (200..260, 3..5), (260..330, 5..6)]
        );
        assert!(plan_reads(&[], &policy).is_empty());
        let huge = plan_reads(&[Range { start: 0, end: 500 }], &policy);
        assert_eq!(huge[0].bytes, 0..500, "one record larger than the limit");
        let wide = ReadPolicy::default();
        assert_eq!(wide.for_batch(800 << 20, 4).max_range, 64 << 20);
        assert_eq!(wide.for_batch(80 << 20, 4).max_range, 10 << 20);
        assert_eq!(wide.for_batch(1 << 20, 4).max_range, 4 << 20);
    }
}
