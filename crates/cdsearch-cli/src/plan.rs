//! `cdsearch plan`: what a search of N targets takes on AWS Lambda for each
//! library form (batch size, workers, GETs, bytes, time, cost, from the
//! measured worker rates), the spawn tree of a job, and a simulation of its
//! fan-out per tree depth.

use anyhow::Context;
use burst::plan::Plan;
use burst::sim::{describe_tree, fanout_table, SimParams};
use cdsearch::job::sizing::{estimate_search, LibraryForm, SearchEstimate, WorkerRates};
use cdsearch::store::shards::DEFAULT_SHARD_TARGETS;
use clap::{Args, ValueEnum};

/// Library forms to plan for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormArg {
    /// Index shards (`cdsearch library upload --format index`).
    Index,
    /// One object per image (`--format images`).
    Images,
    /// Both, side by side.
    Both,
}

/// Options of `cdsearch plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Number of items (targets) of the job.
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Library form(s) to estimate a search for.
    #[arg(long, value_enum, default_value_t = FormArg::Both)]
    library_format: FormArg,
    /// Targets per index shard.
    #[arg(long, default_value_t = DEFAULT_SHARD_TARGETS)]
    shard_targets: u64,
    /// Targets one worker searches per second from index shards (measured:
    /// `cargo bench -p benchmarks --bench store_batch`).
    #[arg(long, default_value_t = WorkerRates::default().index_per_sec)]
    index_rate: f64,
    /// Targets one worker searches per second from one object per image.
    #[arg(long, default_value_t = WorkerRates::default().images_per_sec)]
    images_rate: f64,
    /// Requested items per batch of the spawn tree shown below the estimate
    /// (grown so that batches stay within --max-parallelism); by default the
    /// batch size of the first form's estimate.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: Option<u64>,
    /// Cap on the number of batches (workers).
    #[arg(long, default_value_t = burst::DEFAULT_MAX_PARALLELISM)]
    max_parallelism: u64,
    /// Manager levels of the spawn tree.
    #[arg(long, default_value_t = burst::DEFAULT_NUM_LEVELS)]
    levels: u32,
    /// Worker counts to simulate, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [3_000u64, 30_000])]
    simulate_workers: Vec<u64>,
    /// Latency of one asynchronous Lambda invoke, in seconds.
    #[arg(long, default_value_t = SimParams::default().invoke_latency_secs)]
    invoke_latency: f64,
    /// How long one worker runs, in seconds.
    #[arg(long, default_value_t = SimParams::default().worker_duration_secs)]
    worker_secs: f64,
    /// Worker memory in MB (sets the GB-seconds price).
    #[arg(long, default_value_t = SimParams::default().worker_memory_mb)]
    worker_memory_mb: f64,
    /// Account-wide concurrent executions.
    #[arg(long, default_value_t = SimParams::default().account_concurrency)]
    account_concurrency: u64,
}

/// Prints the estimates of a search, one line per form.
fn print_estimates(estimates: &[SearchEstimate]) {
    println!(
        "{:<20} {:>7} {:>7} {:>10} {:>9} {:>8} {:>8} {:>9}",
        "library form", "batch", "workers", "GETs", "GB read", "worker s", "job s", "USD"
    );
    for e in estimates {
        let form = match e.form {
            LibraryForm::Index { shard_targets } => format!("index ({shard_targets}/shard)"),
            LibraryForm::Images => "object per image".into(),
        };
        println!(
            "{:<20} {:>7} {:>7} {:>10} {:>9.1} {:>8.2} {:>8.1} {:>9.4}",
            form,
            e.batch_size,
            e.plan.num_batches,
            e.gets,
            e.bytes / 1e9,
            e.worker_secs,
            e.job_secs,
            e.cost.total_usd
        );
    }
    println!(
        "(workers on one vCPU; S3 GETs at $0.0004 per 1,000; rates and prices as `cdsearch plan \
         --help` says)\n"
    );
}

/// Runs `cdsearch plan`.
pub fn run(args: PlanArgs) -> anyhow::Result<()> {
    let rates = WorkerRates {
        index_per_sec: args.index_rate,
        images_per_sec: args.images_rate,
        ..WorkerRates::default()
    };
    let index = LibraryForm::Index {
        shard_targets: args.shard_targets.max(1),
    };
    let forms = match args.library_format {
        FormArg::Index => vec![index],
        FormArg::Images => vec![LibraryForm::Images],
        FormArg::Both => vec![index, LibraryForm::Images],
    };
    let estimates: Vec<SearchEstimate> = forms
        .iter()
        .map(|&form| estimate_search(args.items, form, &rates))
        .collect();
    print_estimates(&estimates);
    let plan = Plan::compute(
        0..args.items,
        args.batch_size.unwrap_or(estimates[0].batch_size),
        args.max_parallelism,
        args.levels,
        None,
    )
    .context("cannot plan this job")?;
    println!("{}", describe_tree(&plan));
    let params = SimParams {
        invoke_latency_secs: args.invoke_latency,
        worker_duration_secs: args.worker_secs,
        worker_memory_mb: args.worker_memory_mb,
        account_concurrency: args.account_concurrency,
        ..SimParams::default()
    };
    println!("{}", fanout_table(&args.simulate_workers, 1..=3, params));
    Ok(())
}
