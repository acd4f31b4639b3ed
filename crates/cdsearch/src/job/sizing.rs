//! How a search is cut into batches, and what it then takes on AWS Lambda:
//! batches sized from what one worker measurably searches per second, by
//! the library's form (index shards or one object per image), and the
//! modeled requests, bytes, time and cost of a whole search. Pure
//! arithmetic over measured or given figures.

use burst::cost::{estimate, CostEstimate, CostInputs, Prices};
use burst::plan::Plan;
use burst::sim::{simulate, SimParams};

use super::params::LibraryParameters;
use crate::store::INDEX_CONCURRENCY;

/// Seconds of worker time a batch aims at: long enough that a worker's
/// start (about a second on a cold Lambda) stays a small share, short
/// enough that progress moves and a straggler costs little.
pub const BATCH_SECS: f64 = 1.5;

/// How a library is stored, as far as its cost goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibraryForm {
    /// Index shards of this many targets each.
    Index {
        /// Targets per shard.
        shard_targets: u64,
    },
    /// One object per image, with key lists.
    Images,
}

impl LibraryForm {
    /// The form of a library from its parameters.
    pub fn of(library: &LibraryParameters) -> Self {
        match &library.index {
            Some(index) => LibraryForm::Index {
                shard_targets: index.shard_targets,
            },
            None => LibraryForm::Images,
        }
    }
}

/// What one worker (one vCPU) does per second, by form, and how many bytes
/// it reads per target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorkerRates {
    /// Targets per second from index shards.
    pub index_per_sec: f64,
    /// Targets per second from one object per image.
    pub images_per_sec: f64,
    /// Bytes per target of an index (coded records).
    pub index_bytes: f64,
    /// Bytes per target image.
    pub image_bytes: f64,
}

impl Default for WorkerRates {
    /// Measured on one x86_64 core with `cargo bench -p benchmarks --bench
    /// store_batch` (2,000 synthetic 1210x566 targets, 7.6% lit, mask
    /// 12191_JRC2018U at P1; S3 modeled as 20 ms to the first byte, 90 MB/s
    /// per connection, 300 MB/s per function): index shards 1,400 targets/s
    /// (network-bound at 202 KB per coded target), PackBits TIFF objects
    /// 1,100/s; PNG images decode at about 500/s per core (`--bench search`),
    /// the rate used for image libraries so that batches of either image
    /// format keep to their time.
    fn default() -> Self {
        Self {
            index_per_sec: 1_400.0,
            images_per_sec: 500.0,
            index_bytes: 202_000.0,
            image_bytes: 180_000.0,
        }
    }
}

impl WorkerRates {
    /// Targets per second of a worker on a library of `form`.
    pub fn per_sec(&self, form: LibraryForm) -> f64 {
        match form {
            LibraryForm::Index { .. } => self.index_per_sec,
            LibraryForm::Images => self.images_per_sec,
        }
    }
}

/// Targets per batch for a library of `form`: about [`BATCH_SECS`] of
/// worker time; for an index, a multiple or an even part of a shard, so that
/// a batch reads one table of contents (or a few) and no shard is shared by
/// more batches than needed.
pub fn batch_size(form: LibraryForm, rates: &WorkerRates) -> u64 {
    let size = (rates.per_sec(form) * BATCH_SECS).round().max(1.0) as u64;
    match form {
        LibraryForm::Images => size,
        LibraryForm::Index { shard_targets } if size >= shard_targets => {
            size / shard_targets * shard_targets
        }
        LibraryForm::Index { shard_targets } => {
            shard_targets.div_ceil(shard_targets.div_ceil(size))
        }
    }
}

/// The batch size of a search of `libraries`: the smallest of theirs.
pub fn libraries_batch_size(libraries: &[LibraryParameters], rates: &WorkerRates) -> u64 {
    libraries
        .iter()
        .map(|l| batch_size(LibraryForm::of(l), rates))
        .min()
        .unwrap_or(1)
}

/// The modeled figures of a whole search on Lambda.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchEstimate {
    /// The library's form.
    pub form: LibraryForm,
    /// Targets per batch.
    pub batch_size: u64,
    /// The spawn tree.
    pub plan: Plan,
    /// GET requests to the library (key lists or tables of contents, images
    /// or ranged reads).
    pub gets: u64,
    /// Bytes read from the library.
    pub bytes: f64,
    /// Seconds of one worker.
    pub worker_secs: f64,
    /// Seconds from the start until the last worker ends, with Lambda's
    /// scaling limits ([`burst::sim`]).
    pub job_secs: f64,
    /// Requests, compute and dollars.
    pub cost: CostEstimate,
}

/// Lambda memory of one vCPU (a worker searches on one core).
pub const WORKER_MEMORY_MB: u64 = 1769;

/// Models a search of `items` targets stored as `form` at `rates`, with
/// [`burst::DEFAULT_MAX_PARALLELISM`] workers at most.
pub fn estimate_search(items: u64, form: LibraryForm, rates: &WorkerRates) -> SearchEstimate {
    let requested = batch_size(form, rates);
    let plan = Plan::compute(
        0..items,
        requested,
        burst::DEFAULT_MAX_PARALLELISM,
        burst::DEFAULT_NUM_LEVELS,
        None,
    )
    .unwrap_or_else(|_| Plan::compute(0..items.max(1), 1, 1, 1, None).expect("a plan"));
    let per_batch = items as f64 / plan.num_batches.max(1) as f64;
    let rate = rates.per_sec(form);
    let worker_secs = per_batch / rate;
    let (gets, bytes) = match form {
        LibraryForm::Index { shard_targets } => {
            let tocs = plan.num_batches * plan.batch_size.div_ceil(shard_targets).max(1);
            let pieces = plan.num_batches * 2 * INDEX_CONCURRENCY as u64;
            (tocs + pieces, items as f64 * rates.index_bytes)
        }
        LibraryForm::Images => (items + plan.num_batches, items as f64 * rates.image_bytes),
    };
    let sim = simulate(
        &plan,
        &SimParams {
            worker_duration_secs: worker_secs + 1.0,
            worker_memory_mb: WORKER_MEMORY_MB as f64,
            ..SimParams::default()
        },
    );
    let cost = estimate(
        &CostInputs {
            items,
            batches: plan.num_batches,
            managers: sim.managers,
            worker_memory_mb: WORKER_MEMORY_MB,
            secs_per_item: 1.0 / rate,
            worker_overhead_secs: 1.0,
            manager_memory_mb: 512,
            manager_secs: 1.0,
            monitor_polls: sim.job_secs.ceil() as u64 + 2,
            row_kb: 4.0,
            gets_per_item: gets as f64 / items.max(1) as f64,
        },
        &Prices::default(),
    );
    SearchEstimate {
        form,
        batch_size: plan.batch_size,
        plan,
        gets,
        bytes,
        worker_secs,
        job_secs: sim.job_secs,
        cost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_take_about_a_second_and_a_half_and_align_with_shards() {
        let rates = WorkerRates::default();
        assert_eq!(batch_size(LibraryForm::Images, &rates), 750);
        let index = |shard_targets| batch_size(LibraryForm::Index { shard_targets }, &rates);
        assert_eq!(index(1024), 2048, "two whole shards");
        assert_eq!(index(500), 2000);
        assert_eq!(index(4096), 2048, "half a shard");
        assert_eq!(index(5000), 1667, "a third of a shard");
    }

    #[test]
    fn a_million_images_from_an_index_costs_cents_in_seconds() {
        let rates = WorkerRates::default();
        let index = estimate_search(
            1_000_000,
            LibraryForm::Index {
                shard_targets: 1024,
            },
            &rates,
        );
        assert_eq!(index.batch_size, 2048);
        assert_eq!(index.plan.num_batches, 489);
        assert!(index.gets <= 5_000, "{}", index.gets);
        assert!(index.cost.total_usd <= 0.05, "{:?}", index.cost);
        assert!(index.job_secs <= 15.0, "{}", index.job_secs);
        let images = estimate_search(1_000_000, LibraryForm::Images, &rates);
        assert!(images.gets > 1_000_000);
        assert!(
            images.cost.total_usd > 4.0 * index.cost.total_usd,
            "{:?}",
            images.cost
        );
    }
}
