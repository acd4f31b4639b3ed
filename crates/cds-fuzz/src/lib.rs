//! A decoder fuzz loop that runs on stable Rust (cargo-fuzz needs nightly).
//!
//! Seeds are the CDM fixtures of the repository (fixtures/cdm) and small
//! images cut from them, written in every PNG and TIFF layout the decoders
//! read (color types, bit depths, interlacing; byte orders, compressions,
//! the predictor, planar strips). Each input is a seed after one to three
//! mutations (bit flips, byte writes, truncations, edits of the header
//! fields width, height, bit depth, color type, compression..., chunk
//! duplication, splices of another seed) and is fed to every decoder of
//! `cds::decode` and to the mask loader ([`cdsearch::job::prepare_mask`]),
//! with panics caught and the peak heap growth of each input measured by a
//! counting global allocator ([`alloc::CountingAlloc`], which the binary or
//! test declares).

pub mod alloc;
pub mod bombs;
pub mod mutate;
pub mod seeds;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use cds::decode::{self, SizeLimit};
use cds::pixel_match::MatchParams;
use cds::RgbImage;
use cdsearch::search::TargetNeed;

pub use mutate::Rng;
pub use seeds::Seed;

/// The most heap one input may take, across all decoders: 160 MiB.
///
/// Decoding is bounded by [`decode::MAX_PIXELS`] (4 Mpx): 16 MiB of packed
/// RGB, 32 MiB more for an interlaced 16-bit RGBA PNG frame, the `png`
/// crate's rows (up to three 32 MiB rows for a 4 Mpx-wide 16-bit RGBA row)
/// and its 1 MiB for metadata; preparing a mask of that size adds its
/// position lists. Before the header checks a 10000x10000 header cost
/// 400 to 800 MB.
pub const ALLOCATION_LIMIT: usize = 160 << 20;

/// What one decoder made of the inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecoderTally {
    /// The decoder's name.
    pub name: &'static str,
    /// Inputs it accepted.
    pub ok: u64,
    /// Inputs it refused with an error.
    pub errors: u64,
}

/// An input that broke a rule: a panic, or more heap than
/// [`ALLOCATION_LIMIT`].
#[derive(Clone, Debug)]
pub struct Finding {
    /// The iteration that made it.
    pub iteration: u64,
    /// The seed it was mutated from.
    pub seed: String,
    /// What went wrong.
    pub what: String,
    /// The input.
    pub bytes: Vec<u8>,
}

/// The outcome of a fuzz run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Inputs tried.
    pub inputs: u64,
    /// Per decoder, accepted and refused inputs.
    pub decoders: Vec<DecoderTally>,
    /// Panics and allocations over the limit, with their inputs.
    pub findings: Vec<Finding>,
    /// The largest heap growth of one input, in bytes.
    pub max_peak: usize,
    /// The seed and iteration of that input.
    pub max_peak_input: String,
    /// How long the run took.
    pub elapsed: Duration,
}

/// The decoders every input is fed to: a name, and the call (`true` when
/// the input was accepted). `dims` is the seed's size, used as a target's
/// expected size.
type Decoder = (&'static str, fn(&[u8], (usize, usize)) -> bool);

const DECODERS: [Decoder; 8] = [
    ("image_size", |b, _| decode::image_size(b).is_ok()),
    ("check_complete", |b, _| decode::check_complete(b).is_ok()),
    ("decode_rgb", |b, _| cds::decode_rgb(b).is_ok()),
    ("decode_rgb_rows(7)", |b, _| {
        decode::decode_rgb_rows(b, 7).is_ok()
    }),
    (
        "decode_rgb_rows_into_limited(seed size)",
        |b, (width, height)| {
            let mut image = RgbImage::black(0, 0);
            let limit = SizeLimit::Exactly { width, height };
            decode::decode_rgb_rows_into_limited(b, usize::MAX, limit, &mut image).is_ok()
        },
    ),
    ("decode_gray16", |b, _| cds::decode_gray16(b).is_ok()),
    ("target coding (first 40 rows)", |b, _| {
        TargetNeed::first_rows(40).code_bytes(b).is_ok()
    }),
    ("mask loader (prepare_mask)", |b, _| {
        cdsearch::job::prepare_mask("fuzz", b, &MatchParams::default()).is_ok()
    }),
];

/// Runs `iterations` inputs from `seeds` with the generator seeded by
/// `seed`. Every finding is kept (with its input); `on_finding` is told of
/// each as it happens.
pub fn run(
    seeds: &[Seed],
    iterations: u64,
    seed: u64,
    mut on_finding: impl FnMut(&Finding),
) -> Summary {
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let mut summary = Summary {
        decoders: DECODERS
            .iter()
            .map(|(name, _)| DecoderTally {
                name,
                ..DecoderTally::default()
            })
            .collect(),
        ..Summary::default()
    };
    // A panic is caught and counted; its message would drown the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for iteration in 0..iterations {
        let base = seeds::pick(seeds, &mut rng);
        let input = mutate::mutate(&base.bytes, seeds, &mut rng);
        let label = format!("iteration {iteration} from {}", base.name);
        for ((name, call), tally) in DECODERS.iter().zip(&mut summary.decoders) {
            alloc::reset_peak();
            let before = alloc::allocated();
            let outcome = catch_unwind(AssertUnwindSafe(|| call(&input, base.size)));
            let peak = alloc::peak().saturating_sub(before);
            if peak > summary.max_peak {
                summary.max_peak = peak;
                summary.max_peak_input = format!("{label}, {name}");
            }
            let mut finding = |what: String| {
                let f = Finding {
                    iteration,
                    seed: base.name.clone(),
                    what: format!("{name}: {what}"),
                    bytes: input.clone(),
                };
                on_finding(&f);
                summary.findings.push(f);
            };
            match outcome {
                Ok(true) => tally.ok += 1,
                Ok(false) => tally.errors += 1,
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    finding(format!("panicked: {message}"));
                }
            }
            if peak > ALLOCATION_LIMIT {
                finding(format!(
                    "took {peak} bytes of heap, over the {ALLOCATION_LIMIT}-byte limit"
                ));
            }
        }
        summary.inputs += 1;
    }
    std::panic::set_hook(hook);
    summary.elapsed = started.elapsed();
    summary
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} inputs in {:.1} s ({:.0} inputs/s)",
            self.inputs,
            self.elapsed.as_secs_f64(),
            self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9)
        )?;
        for d in &self.decoders {
            writeln!(f, "  {:<42} {:>9} ok {:>9} refused", d.name, d.ok, d.errors)?;
        }
        writeln!(
            f,
            "largest heap growth of one input: {:.1} MiB ({}); limit {} MiB",
            self.max_peak as f64 / (1 << 20) as f64,
            self.max_peak_input,
            ALLOCATION_LIMIT >> 20
        )?;
        let panics = self
            .findings
            .iter()
            .filter(|f| f.what.contains("panicked"))
            .count();
        write!(
            f,
            "{} panics, {} allocations over the limit",
            panics,
            self.findings.len() - panics
        )
    }
}
