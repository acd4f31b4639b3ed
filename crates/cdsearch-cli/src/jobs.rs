//! `cdsearch jobs failures JOB_ID`: the failed asynchronous invocations of a job on a deployed
//! stack, read from the stack's on-failure destination queue (template.yaml's `FailureQueue`)
//! without removing them: each message is received with a short visibility timeout and made
//! visible again, so the alerts' count and later readers still see it.

use anyhow::Context;
use burst_alerts::aws::{queue_url, SqsFailureQueue};
use burst_alerts::{parse_record, Failure};
use clap::{Args, Subcommand, ValueEnum};

use crate::aws_args::{tokio_runtime, AwsArgs};

/// Commands about the jobs of a deployed stack.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List a job's failed asynchronous invocations: manager and worker events that failed all
    /// their attempts or waited in Lambda's queue too long (Lambda's destination records, kept
    /// 14 days). The messages stay in the queue.
    Failures(FailuresArgs),
}

/// How to print failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailuresFormat {
    /// Aligned columns for reading.
    Table,
    /// A JSON array of the failures (timestamp, function, condition, attempts, requestId, jobId,
    /// batchId, level, error).
    Json,
}

/// Options of `cdsearch jobs failures`.
#[derive(Debug, Args)]
pub struct FailuresArgs {
    /// The job's id (as `cdsearch submit` printed it).
    job_id: String,
    /// The stack name given to `sam deploy`: its failure queue is <STACK>-failures.
    #[arg(long, required_unless_present = "queue")]
    stack: Option<String>,
    /// The failure queue, by name or URL (instead of <STACK>-failures).
    #[arg(long, value_name = "NAME|URL")]
    queue: Option<String>,
    /// Most messages read from the queue (it holds every job's failures); a warning says when
    /// there were more.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    limit: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FailuresFormat::Table)]
    format: FailuresFormat,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Runs `cdsearch jobs ...`.
pub fn run(command: JobsCommand) -> anyhow::Result<()> {
    match command {
        JobsCommand::Failures(args) => failures(args),
    }
}

fn failures(args: FailuresArgs) -> anyhow::Result<()> {
    let queue = match (&args.queue, &args.stack) {
        (Some(queue), _) => queue.clone(),
        (None, Some(stack)) => format!("{stack}-failures"),
        (None, None) => anyhow::bail!("give --stack or --queue"),
    };
    let (bodies, more, url) = tokio_runtime()?.block_on(async {
        let clients = args.aws.clients().await;
        let url = queue_url(&clients, &queue).await.with_context(|| {
            format!("finding the failure queue {queue} (is the stack deployed in this region?)")
        })?;
        let (bodies, more) = SqsFailureQueue::new(&clients, &url)
            .peek(args.limit as usize)
            .await?;
        anyhow::Ok((bodies, more, url))
    })?;
    let (mut failures, unreadable) = of_job(&bodies, &args.job_id);
    failures.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    match args.format {
        FailuresFormat::Json => println!("{}", serde_json::to_string_pretty(&failures)?),
        FailuresFormat::Table => print_table(&failures),
    }
    eprintln!(
        "{} failed invocation(s) of job {} among {} message(s) of {url}",
        failures.len(),
        args.job_id,
        bodies.len()
    );
    if unreadable > 0 {
        eprintln!("warning: {unreadable} message(s) are not Lambda destination records");
    }
    if more {
        eprintln!(
            "warning: the queue holds more than {} messages; raise --limit to read them all",
            args.limit
        );
    }
    Ok(())
}

/// The failures of `job_id` among the queue's messages, and the count of messages that are not
/// destination records.
fn of_job(bodies: &[String], job_id: &str) -> (Vec<Failure>, usize) {
    let mut unreadable = 0;
    let failures = bodies
        .iter()
        .filter_map(|body| match parse_record(body) {
            Ok(failure) => Some(failure),
            Err(e) => {
                tracing::debug!(error = %e, "not a destination record");
                unreadable += 1;
                None
            }
        })
        .filter(|f| f.job_id.as_deref() == Some(job_id))
        .collect();
    (failures, unreadable)
}

fn print_table(failures: &[Failure]) {
    println!(
        "{:<24}  {:<22}  {:<16}  {:>8}  {:<10}  error",
        "time", "function", "condition", "attempts", "event"
    );
    for f in failures {
        let event = match (f.batch_id, f.level) {
            (Some(batch), _) => format!("batch {batch}"),
            (None, Some(level)) => format!("level {level}"),
            (None, None) => "start".to_owned(),
        };
        println!(
            "{:<24}  {:<22}  {:<16}  {:>8}  {:<10}  {}",
            f.timestamp, f.function, f.condition, f.attempts, event, f.error
        );
    }
}
