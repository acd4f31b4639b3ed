//! `cdsearch plan`: the spawn tree of a job and a simulation of its fan-out
//! on AWS Lambda (start-up time and cost per tree depth).

use anyhow::Context;
use burst::plan::Plan;
use burst::sim::{describe_tree, fanout_table, SimParams};
use clap::Args;

/// Options of `cdsearch plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Number of items (targets) of the job.
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Requested items per batch (grown so that batches stay within --max-parallelism).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
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

/// Runs `cdsearch plan`.
pub fn run(args: PlanArgs) -> anyhow::Result<()> {
    let plan = Plan::compute(
        0..args.items,
        args.batch_size,
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
