//! Reading a batch of targets from a library stored as index shards
//! ([`super::shards`]): the tables of contents of the shards the batch
//! touches, then the records with a few ranged GETs, at most `concurrency`
//! in flight, in target order. The search takes the targets piece by piece
//! ([`TargetSource::chunks`]), so the first pieces are scored while later
//! ones are still arriving.

use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use burst::{BackendError, ObjectStore};
use cds::pixel_match::CodedTarget;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::counting::ReadCounter;
use super::shards::{plan_reads, IndexManifest, ReadPolicy, ShardEntry, ShardToc};
use crate::index::load_record;
use crate::results::ReadStats;
use crate::search::{TargetError, TargetNeed, TargetSource};

/// How long a search waits for one piece before calling its targets unreadable.
const PIECE_TIMEOUT: Duration = Duration::from_secs(600);

/// The bytes of one piece once fetched, or why they could not be.
#[derive(Default)]
struct Slot {
    fetched: Mutex<Option<Result<Arc<Vec<u8>>, String>>>,
    ready: Condvar,
}

impl Slot {
    fn fill(&self, fetched: Result<Arc<Vec<u8>>, String>) {
        *self.fetched.lock().unwrap_or_else(|e| e.into_inner()) = Some(fetched);
        self.ready.notify_all();
    }

    /// Waits for the piece (blocking: called from the search's threads).
    fn wait(&self) -> Result<Arc<Vec<u8>>, String> {
        let guard = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, timeout) = self
            .ready
            .wait_timeout_while(guard, PIECE_TIMEOUT, |f| f.is_none())
            .unwrap_or_else(|e| e.into_inner());
        match &*guard {
            Some(fetched) => fetched.clone(),
            None if timeout.timed_out() => {
                Err(format!("not received within {} s", PIECE_TIMEOUT.as_secs()))
            }
            None => Err("not fetched".into()),
        }
    }
}

/// One ranged read of a shard.
struct Piece {
    key: String,
    bytes: Range<u64>,
    targets: Range<usize>,
}

/// One target of the batch.
struct Target {
    entry: ShardEntry,
    needed: Range<u64>,
    piece: usize,
}

/// Aborts the fetching task when the source is dropped.
struct Fetching(tokio::task::JoinHandle<()>);

impl Drop for Fetching {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A batch of targets of an index in an object store, fetched in the
/// background as it is searched.
pub struct ShardedSource {
    codec: u32,
    rows: usize,
    targets: Vec<Target>,
    pieces: Vec<Piece>,
    slots: Arc<Vec<Slot>>,
    counter: Arc<ReadCounter>,
    _fetching: Fetching,
}

/// Reads the table of contents of shard `shard`, naming what is wrong.
async fn read_toc(
    store: &dyn ObjectStore,
    prefix: &str,
    manifest: &IndexManifest,
    shard: u64,
) -> Result<ShardToc, String> {
    let key = manifest.toc_key(prefix, shard);
    let bytes = store.get(&key).await.map_err(|e| match e {
        BackendError::NotFound(_) => format!(
            "index shard {shard} of {prefix} is missing (no table of contents at {key}); \
             upload the library again"
        ),
        e => format!("table of contents {key}: {e}"),
    })?;
    let toc = ShardToc::read(&bytes).map_err(|e| format!("table of contents {key}: {e}"))?;
    let expected = manifest.shard_items(shard);
    if toc.entries.len() as u64 != expected.end - expected.start || toc.codec != manifest.codec {
        return Err(format!(
            "table of contents {key} lists {} targets with codec {} (the manifest says {} with \
             codec {}); upload the library again",
            toc.entries.len(),
            toc.codec,
            expected.end - expected.start,
            manifest.codec
        ));
    }
    Ok(toc)
}

/// How a batch fetches its targets' bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchOptions {
    /// How records become ranged reads.
    pub policy: ReadPolicy,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// Targets `items` of the index at `prefix`, described by `manifest`.
#[derive(Clone, Copy, Debug)]
pub struct IndexBatch<'a> {
    /// The library's prefix.
    pub prefix: &'a str,
    /// Its manifest.
    pub manifest: &'a IndexManifest,
    /// The batch's targets (indexes in the library).
    pub items: &'a Range<u64>,
}

impl ShardedSource {
    /// Opens `batch` for a search needing `need`: reads the tables of
    /// contents, plans the ranged reads, and starts fetching them through
    /// `store` (whose reads `counter` counts) as `fetch` says. Fails, naming
    /// the shard, when a table of contents is missing or damaged.
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        counter: Arc<ReadCounter>,
        batch: IndexBatch<'_>,
        need: &TargetNeed,
        fetch: &FetchOptions,
    ) -> Result<Self, String> {
        let IndexBatch {
            prefix,
            manifest,
            items,
        } = batch;
        let (policy, concurrency) = (&fetch.policy, fetch.concurrency);
        manifest.check()?;
        let shards = manifest.shards_of(items);
        let tocs: Vec<ShardToc> = stream::iter(shards.clone())
            .map(|shard| read_toc(store.as_ref(), prefix, manifest, shard))
            .buffered(concurrency.max(1))
            .try_collect()
            .await?;
        let rows = need.rows();
        let wanted: Vec<(u64, Vec<ShardEntry>, Vec<Range<u64>>)> = shards
            .zip(tocs)
            .map(|(shard, mut toc)| {
                let first = manifest.shard_items(shard).start;
                let end = items.end.min(first + toc.entries.len() as u64) - first;
                let local = (items.start.max(first) - first) as usize..end as usize;
                let entries: Vec<ShardEntry> = toc.entries.drain(local).collect();
                let needed = entries.iter().map(|e| e.needed(toc.codec, rows)).collect();
                (shard, entries, needed)
            })
            .collect();
        let total: u64 = wanted
            .iter()
            .flat_map(|(_, _, needed)| needed.iter().map(|r| r.end - r.start))
            .sum();
        let policy = policy.for_batch(total, concurrency);
        let (mut targets, mut pieces) = (Vec::new(), Vec::new());
        for (shard, entries, needed) in wanted {
            let key = manifest.shard_key(prefix, shard);
            let reads = plan_reads(&needed, &policy);
            let mut records = entries.into_iter().zip(needed);
            for read in reads {
                let base = targets.len();
                for (entry, needed) in records.by_ref().take(read.records.len()) {
                    targets.push(Target {
                        entry,
                        needed,
                        piece: pieces.len(),
                    });
                }
                pieces.push(Piece {
                    key: key.clone(),
                    bytes: read.bytes,
                    targets: base..targets.len(),
                });
            }
        }
        let slots: Arc<Vec<Slot>> = Arc::new(pieces.iter().map(|_| Slot::default()).collect());
        let requests: Vec<(usize, String, Range<u64>)> = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.key.clone(), p.bytes.clone()))
            .collect();
        let fetch_slots = slots.clone();
        let fetching = tokio::spawn(async move {
            stream::iter(requests)
                .for_each_concurrent(concurrency.max(1), |(i, key, bytes)| {
                    let (store, slots) = (store.clone(), fetch_slots.clone());
                    async move {
                        let fetched = store.get_range(&key, bytes.clone()).await;
                        slots[i].fill(checked(fetched, &key, &bytes));
                    }
                })
                .await;
        });
        Ok(Self {
            codec: manifest.codec,
            rows,
            targets,
            pieces,
            slots,
            counter,
            _fetching: Fetching(fetching),
        })
    }
}

/// The bytes of a ranged read, or why they are not usable (a missing shard,
/// a failed or short read).
fn checked(
    fetched: Result<Vec<u8>, BackendError>,
    key: &str,
    bytes: &Range<u64>,
) -> Result<Arc<Vec<u8>>, String> {
    let data = fetched.map_err(|e| match e {
        BackendError::NotFound(_) => format!("index shard {key} is missing"),
        e => format!(
            "cannot read {key} bytes {}..{}: {e}",
            bytes.start, bytes.end
        ),
    })?;
    let expected = bytes.end - bytes.start;
    if data.len() as u64 != expected {
        return Err(format!(
            "index shard {key} is truncated: bytes {}..{} gave {} of {expected} bytes",
            bytes.start,
            bytes.end,
            data.len()
        ));
    }
    Ok(Arc::new(data))
}

impl TargetSource for ShardedSource {
    fn len(&self) -> usize {
        self.targets.len()
    }

    fn name(&self, index: usize) -> &str {
        self.targets[index].entry.name()
    }

    fn load_into(
        &self,
        index: usize,
        need: &TargetNeed,
        out: &mut CodedTarget,
    ) -> Result<(), TargetError> {
        let target = &self.targets[index];
        let piece = &self.pieces[target.piece];
        let data = self.slots[target.piece]
            .wait()
            .map_err(TargetError::Source)?;
        let start = (target.needed.start - piece.bytes.start) as usize;
        let end = (target.needed.end - piece.bytes.start) as usize;
        let place = || format!("index shard {}", piece.key);
        let rows = need.rows().min(self.rows);
        load_record(
            self.codec,
            &target.entry.toc,
            &data[start..end],
            rows,
            out,
            &place,
        )
        .map_err(|e| match e {
            TargetError::Coded(e) => {
                TargetError::Source(format!("damaged record in {}: {e}", place()))
            }
            e => e,
        })
    }

    fn chunks(&self) -> Vec<Range<usize>> {
        self.pieces.iter().map(|p| p.targets.clone()).collect()
    }

    fn reads(&self) -> ReadStats {
        self.counter.stats()
    }
}
