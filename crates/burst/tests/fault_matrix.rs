//! The fault matrix: 3,000-batch jobs on the local runtime with every fault at once, at stated
//! rates, drawn per seed; every run must end with the exact sum over all items or, past the
//! tolerance, with a named error listing the batches that failed for good.
//!
//! Each fault is a pure function of the seed and what it hits (a worker's batch and attempt,
//! a sub-manager's level and first item), so a seed always injects the same faults, whatever
//! the timing. `FAULT_MATRIX_SEEDS` (default 3) sets how many seeds run, from
//! `FAULT_MATRIX_FIRST_SEED` (default 0); `scripts/fault-matrix.sh` runs 100.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burst::{JobOutcome, JobRequest, JobState, StragglerSettings, DEFAULT_MANAGER_FUNCTION};
use common::{batch_and_attempt, bounded, faults, runtime, worker, Act, Delivery, PANIC_MESSAGE};
use serde_json::{json, Value};

const BATCHES: u64 = 3000;
const BATCH_SIZE: u64 = 10;

/// The rate of each fault, per invocation (independent draws).
struct Rates {
    /// A worker returns an error.
    error: f64,
    /// A worker panics.
    panic: f64,
    /// A worker never returns.
    hang: f64,
    /// A worker invocation is delivered twice.
    duplicate: f64,
    /// A worker invocation (by a manager or the monitor) is refused: the batch's attempt is lost.
    refused_worker: f64,
    /// A sub-manager invocation is refused: its whole subtree is lost.
    refused_manager: f64,
}

const RATES: Rates = Rates {
    error: 0.10,
    panic: 0.01,
    hang: 0.01,
    duplicate: 0.05,
    refused_worker: 0.02,
    refused_manager: 0.10,
};

/// Streams of draws, one per kind of fault site.
const WORKER_STREAM: u64 = 1;
const WORKER_INVOKE_STREAM: u64 = 2;
const MANAGER_INVOKE_STREAM: u64 = 3;

/// splitmix64's finalizer: a bijective mix of 64 bits.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform draw in [0, 1), the same for the same seed, stream and site.
fn draw(seed: u64, stream: u64, site: (u64, u64)) -> f64 {
    let bits = mix(mix(mix(mix(seed) ^ stream) ^ site.0) ^ site.1);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// What the worker does with `(batch, attempt)` under `seed`: fail, panic, hang, or work up
/// to 4 ms and sum.
fn act(seed: u64, batch: u64, attempt: u32) -> Act {
    let u = draw(seed, WORKER_STREAM, (batch, u64::from(attempt)));
    let r = &RATES;
    if u < r.error {
        Act::Fail("injected error")
    } else if u < r.error + r.panic {
        Act::Panic
    } else if u < r.error + r.panic + r.hang {
        Act::Hang
    } else {
        Act::Stall(Duration::from_secs_f64(0.004 * u))
    }
}

/// How many invocations the faulty invoker refused or duplicated.
#[derive(Default)]
struct Injected {
    refused_workers: AtomicU64,
    refused_managers: AtomicU64,
    duplicated: AtomicU64,
}

/// What becomes of one invocation under `seed`, counted in `injected`.
fn deliver(seed: u64, injected: &Injected, function: &str, payload: &Value) -> Delivery {
    let r = &RATES;
    let (counter, delivery) = match (function, batch_and_attempt(payload)) {
        (DEFAULT_MANAGER_FUNCTION, _) => {
            let site = (
                payload["level"].as_u64().unwrap(),
                payload["startIndex"].as_u64().unwrap(),
            );
            match draw(seed, MANAGER_INVOKE_STREAM, site) < r.refused_manager {
                true => (&injected.refused_managers, Delivery::Refused),
                false => return Delivery::Once,
            }
        }
        (_, Some((batch, attempt))) => {
            let u = draw(seed, WORKER_INVOKE_STREAM, (batch, u64::from(attempt)));
            if u < r.refused_worker {
                (&injected.refused_workers, Delivery::Refused)
            } else if u < r.refused_worker + r.duplicate {
                (&injected.duplicated, Delivery::Twice)
            } else {
                return Delivery::Once;
            }
        }
        _ => return Delivery::Once,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    delivery
}

/// How a run ended.
#[derive(Debug, PartialEq)]
enum Ending {
    /// The exact sum over all items.
    Exact,
    /// Failed, naming these batches.
    NamedError(Vec<u64>),
}

/// The job of every run: 3,000 batches, 2 or 3 manager levels, a 10 ms poll, a 0.3 s recovery
/// grace period. A try fails or is lost with p ≈ 0.14, so 10 attempts leave p^10 ≈ 3e-9 per
/// batch of failing for good.
fn request(seed: u64) -> JobRequest {
    let mut req = JobRequest::new("sum", "add", 0, BATCHES * BATCH_SIZE, BATCH_SIZE);
    req.num_levels = 2 + (seed % 2) as u32;
    req.search_timeout_secs = 60.0;
    req.settings.max_attempts = 10;
    req.settings.recovery_grace_secs = 0.3;
    req.settings.stragglers = StragglerSettings {
        min_running_secs: 0.2,
        max_speculative: 2,
        ..StragglerSettings::default()
    };
    req
}

/// Checks that `outcome` is exact or a named error, and says which.
fn ending(seed: u64, outcome: &JobOutcome) -> Ending {
    let items = BATCHES * BATCH_SIZE;
    match outcome.state {
        JobState::Succeeded => {
            let expected = json!({"sum": items * (items - 1) / 2, "items": items, "missing": []});
            assert_eq!(outcome.result.as_ref(), Some(&expected), "seed {seed}");
            Ending::Exact
        }
        JobState::Failed => {
            let ids: Vec<u64> = outcome.failed_batches.iter().map(|f| f.batch_id).collect();
            let error = outcome.error.as_deref().unwrap_or_default();
            assert!(
                !ids.is_empty() && error.contains(&format!("batch {}", ids[0])),
                "seed {seed}: failed without naming its batches: {error}"
            );
            assert!(ids.iter().all(|id| outcome.missing_batches.contains(id)));
            Ending::NamedError(ids)
        }
        other => panic!(
            "seed {seed}: ended {other:?} with {} of {BATCHES} batches missing ({:?})",
            outcome.missing_batches.len(),
            outcome.error
        ),
    }
}

/// Runs the job of `seed` with its faults and checks how it ended.
async fn run(seed: u64) -> Ending {
    let started = Instant::now();
    let injected = Arc::new(Injected::default());
    let counted = Arc::clone(&injected);
    let rt = runtime(worker(move |batch, attempt| act(seed, batch, attempt)))
        .poll_interval(Duration::from_millis(10))
        .worker_concurrency(256)
        .invoker_layer(faults(move |function, payload| {
            deliver(seed, &counted, function, payload)
        }))
        .build()
        .unwrap();
    let req = request(seed);
    let levels = req.num_levels;
    let outcome = bounded(60, rt.run(req)).await.unwrap();
    let ending = ending(seed, &outcome);
    println!(
        "seed {seed}: {ending:?} in {:.2} s ({levels} levels; refused {} worker and {} \
         sub-manager invocations, duplicated {}; {} batches recovered)",
        started.elapsed().as_secs_f64(),
        injected.refused_workers.load(Ordering::Relaxed),
        injected.refused_managers.load(Ordering::Relaxed),
        injected.duplicated.load(Ordering::Relaxed),
        outcome.recovered_batches,
    );
    ending
}

/// A count from the environment variable `name`, or `default`.
fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} (expected a count)"))
    })
}

/// Keeps the injected panics out of the output (other panics print as usual).
fn quiet_injected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>();
        if !message.is_some_and(|m| m.starts_with(PANIC_MESSAGE)) {
            default(info);
        }
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_ends_exact_or_names_its_failed_batches() {
    quiet_injected_panics();
    let first = env_count("FAULT_MATRIX_FIRST_SEED", 0);
    let seeds = env_count("FAULT_MATRIX_SEEDS", 3);
    let started = Instant::now();
    let mut exact = 0;
    for seed in first..first + seeds {
        if run(seed).await == Ending::Exact {
            exact += 1;
        }
    }
    println!(
        "fault matrix: {exact}/{seeds} exact, {} named errors, in {:.1} s",
        seeds - exact,
        started.elapsed().as_secs_f64()
    );
}
