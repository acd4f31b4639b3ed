//! `cdsearch`: color depth search of neuron images from the command line.
//! Each subcommand lives in its own module; this file only dispatches.
//!
//! The commands that talk to AWS (`submit`, `library upload|list`, and
//! `s3://` libraries) are built with the `aws` feature, so a local search
//! never compiles an AWS SDK crate.

#[cfg(feature = "aws")]
mod aws_args;
mod derive;
#[cfg(feature = "aws")]
mod jobs;
mod library;
mod output;
mod plan;
mod progress_bar;
mod s3_url;
mod search;
mod search_flags;
mod serve;
mod shape_score;
#[cfg(feature = "aws")]
mod submit;
#[cfg(feature = "aws")]
mod upload;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// How to get the AWS commands, shown by `--help` of a build without them.
const AWS_NOTE: &str = if cfg!(feature = "aws") {
    ""
} else {
    "This build has no AWS commands (submit, jobs failures, library upload|list). Build them with the `aws` \
     feature: cargo install --path crates/cdsearch-cli --features aws"
};

/// Color depth search (CDS) of neuron images, compatible with NeuronBridge.
#[derive(Debug, Parser)]
#[command(name = "cdsearch", version, about, long_about = None, after_help = AWS_NOTE)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Search a library for the targets that best match one or more masks
    /// (pixel-match score, as NeuronBridge computes it) and print them ranked.
    Search(search::SearchArgs),
    /// Build or inspect target libraries.
    #[command(subcommand)]
    Library(library::LibraryCommand),
    /// Show the spawn tree of a job and simulate its fan-out on AWS Lambda
    /// (time until the last worker starts, cost) for 1 to 3 manager levels.
    Plan(plan::PlanArgs),
    /// Serve the search service: HTTP API and web client (see the README).
    Serve(serve::ServeArgs),
    #[cfg(feature = "aws")]
    /// Run a search on a deployed AWS stack (template.yaml) over libraries
    /// uploaded with `cdsearch library upload`; `--wait` follows it to the
    /// ranked hits.
    Submit(submit::SubmitArgs),
    #[cfg(feature = "aws")]
    /// Inspect the jobs of a deployed AWS stack (`jobs failures JOB_ID`: its failed
    /// asynchronous invocations).
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Shape score (second stage) of one mask against one target, as
    /// colormipsearch computes it.
    ShapeScore(shape_score::ShapeScoreArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Search(args) => search::run(args),
        Command::Library(command) => library::run(command),
        Command::Plan(args) => plan::run(args),
        Command::Serve(args) => serve::run(args),
        #[cfg(feature = "aws")]
        Command::Submit(args) => submit::run(args),
        #[cfg(feature = "aws")]
        Command::Jobs(command) => jobs::run(command),
        Command::ShapeScore(args) => shape_score::run(args),
    }
}
