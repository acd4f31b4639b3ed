//! `fuzz_decoders`: runs the decoder fuzz loop (see the `cds_fuzz` crate)
//! and prints a tally; exits non-zero on any panic or allocation over the
//! limit, writing each such input to `--failures`.

use std::path::PathBuf;
use std::process::ExitCode;

use cds_fuzz::alloc::CountingAlloc;
use clap::Parser;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Mutates the CDM fixtures and feeds every input to every decoder and the
/// mask loader, catching panics and measuring each input's heap growth.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Inputs to try.
    #[arg(long, default_value_t = 100_000)]
    iterations: u64,
    /// Seed of the mutation generator: the same seed makes the same inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Folder of fixture images the seeds come from (PNG and TIFF, walked
    /// recursively); the repository's fixtures/cdm by default.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Folder where each input that panicked or took too much heap is
    /// written, as `<iteration>.bin`.
    #[arg(long, default_value = "target/fuzz-failures")]
    failures: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let dir = args.fixtures.unwrap_or_else(cds_fuzz::seeds::fixture_dir);
    let seeds = match cds_fuzz::seeds::load(&dir) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            eprintln!("no decodable PNG or TIFF under {}", dir.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("cannot read fixtures under {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    println!(
        "{} seeds ({} fixtures) from {}, {} iterations, seed {}",
        seeds.len(),
        seeds.iter().filter(|s| s.fixture).count(),
        dir.display(),
        args.iterations,
        args.seed
    );
    let failures = args.failures;
    let summary = cds_fuzz::run(&seeds, args.iterations, args.seed, |f| {
        let path = failures.join(format!("{}.bin", f.iteration));
        let written =
            std::fs::create_dir_all(&failures).and_then(|()| std::fs::write(&path, &f.bytes));
        eprintln!(
            "FINDING at iteration {} (from {}): {} -> {}",
            f.iteration,
            f.seed,
            f.what,
            match written {
                Ok(()) => path.display().to_string(),
                Err(e) => format!("not written: {e}"),
            }
        );
    });
    println!("{summary}");
    if summary.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
