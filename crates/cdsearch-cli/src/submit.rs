//! `cdsearch submit`: a search on a deployed stack (template.yaml), followed to its ranked
//! result with `--wait`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use burst_aws::stack::{
    function_environment, Stack, StackFunctions, SEARCH_BUCKET_VAR, STATE_MACHINE_VAR,
    TASKS_TABLE_VAR,
};
use burst_aws::S3ObjectStore;
use cdsearch::job::{outcome_report, prepare_mask};
use cdsearch::progress::Progress;
use cdsearch_aws::{follow, library_parameters, name_masks, submit, FollowOptions, Submission};
use clap::Args;
use serde_json::json;

use crate::aws_args::{tokio_runtime, AwsArgs};
use crate::output::{print_report, warn_incomplete};
use crate::progress_bar::Bar;
use crate::search_flags::SearchFlags;

/// Which deployed stack runs the search.
#[derive(Debug, Args)]
pub struct StackArgs {
    /// The stack name given to `sam deploy`: its functions are <STACK>-manager, -worker and
    /// -combiner; its task table, search bucket and state machine are read from the manager's
    /// configuration.
    #[arg(long, required_unless_present = "manager_function")]
    stack: Option<String>,
    /// The manager function (instead of <STACK>-manager).
    #[arg(long, value_name = "NAME", requires_all = ["worker_function", "combiner_function"])]
    manager_function: Option<String>,
    /// The worker function (instead of <STACK>-worker).
    #[arg(long, value_name = "NAME")]
    worker_function: Option<String>,
    /// The combiner function (instead of <STACK>-combiner).
    #[arg(long, value_name = "NAME")]
    combiner_function: Option<String>,
    /// The monitor state machine, watched while following the job (default: the manager's
    /// BURST_STATE_MACHINE_ARN).
    #[arg(long, value_name = "ARN")]
    state_machine: Option<String>,
    /// The bucket for masks and job outcomes (default: the manager's BURST_SEARCH_BUCKET).
    #[arg(long, value_name = "BUCKET")]
    search_bucket: Option<String>,
    /// The task table (default: the manager's BURST_TASKS_TABLE).
    #[arg(long, value_name = "TABLE")]
    tasks_table: Option<String>,
}

impl StackArgs {
    /// The stack's functions, named by `--stack` and the per-function flags.
    fn functions(&self) -> StackFunctions {
        let base = StackFunctions::of_stack(self.stack.as_deref().unwrap_or_default());
        let pick = |flag: &Option<String>, default: String| flag.clone().unwrap_or(default);
        StackFunctions {
            manager: pick(&self.manager_function, base.manager),
            worker: pick(&self.worker_function, base.worker),
            combiner: pick(&self.combiner_function, base.combiner),
        }
    }

    /// Reads the stack's settings from its manager, with the flags' overrides.
    async fn resolve(&self, clients: &burst_aws::AwsClients) -> anyhow::Result<Stack> {
        let functions = self.functions();
        let mut env = function_environment(clients, &functions.manager)
            .await
            .with_context(|| {
                format!(
                    "reading the configuration of the manager function {} (is the stack \
                     deployed in this region?)",
                    functions.manager
                )
            })?;
        for (var, flag) in [
            (SEARCH_BUCKET_VAR, &self.search_bucket),
            (TASKS_TABLE_VAR, &self.tasks_table),
            (STATE_MACHINE_VAR, &self.state_machine),
        ] {
            if let Some(value) = flag {
                env.insert(var.to_owned(), value.clone());
            }
        }
        Ok(Stack::from_environment(functions, &env)?)
    }
}

/// Options of `cdsearch submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    search: SearchFlags,
    /// A library to search: its folder in --bucket, as uploaded with `cdsearch library upload
    /// --prefix`; repeat for several.
    #[arg(long = "library", required = true, value_name = "PREFIX")]
    libraries: Vec<String>,
    /// The bucket holding the libraries.
    #[arg(long)]
    bucket: String,
    #[command(flatten)]
    stack: StackArgs,
    /// Targets per worker; by default about 1.5 s of worker time for the libraries' form (2,048
    /// for index shards, 750 for one object per image; see `cdsearch plan`). The stack caps a
    /// job at 3,000 workers by enlarging batches.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: Option<u64>,
    /// Follow the job and print its ranked hits; without it, print the job's id and where its
    /// outcome will be stored, and return.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Reads the masks and checks that they can be searched, before anything is sent.
fn load_masks(
    paths: &[PathBuf],
    params: &cds::pixel_match::MatchParams,
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    paths
        .iter()
        .map(|path| {
            let name = path.display().to_string();
            let bytes = std::fs::read(path).with_context(|| format!("reading mask {name}"))?;
            prepare_mask(&name, &bytes, params)?;
            Ok((name, bytes))
        })
        .collect()
}

/// Runs `cdsearch submit`.
pub fn run(args: SubmitArgs) -> anyhow::Result<()> {
    let params = args.search.params();
    params.validate().context("invalid search parameters")?;
    let masks = load_masks(&args.search.masks, &params)?;
    let names: Vec<String> = masks.iter().map(|(name, _)| name.clone()).collect();
    tokio_runtime()?.block_on(async {
        let clients = args.aws.clients().await;
        let stack = args.stack.resolve(&clients).await?;
        let libraries_store = S3ObjectStore::new(&clients, args.bucket.clone());
        let mut libraries = Vec::new();
        for prefix in &args.libraries {
            libraries.push(library_parameters(&libraries_store, &args.bucket, prefix).await?);
        }
        let submission = Submission {
            masks,
            params,
            top: args.search.top,
            libraries,
            batch_size: args.batch_size,
            shape: args.search.shape_parameters(),
        };
        let request = submit(&clients, &stack, &submission)
            .await
            .with_context(|| format!("submitting the search to {}", stack.functions.manager))?;
        let job_id = request.job_id.clone().unwrap_or_default();
        if !args.wait {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(
                &mut out,
                &json!({
                    "jobId": job_id,
                    "tasksTable": stack.tasks_table,
                    "searchBucket": stack.search_bucket,
                    "outcomeKey": burst::outcome::outcome_key(&job_id),
                }),
            )?;
            writeln!(out)?;
            return Ok(());
        }
        eprintln!("job {job_id} started on {}", stack.functions.manager);
        let bar = Bar::new("batches");
        let started = AtomicBool::new(false);
        let outcome = follow(
            &clients,
            &stack,
            &job_id,
            &FollowOptions::for_request(&request),
            |progress| {
                if !started.swap(true, Ordering::Relaxed) {
                    bar.start(progress.total);
                }
                bar.advance_to(progress.completed + progress.failed);
            },
        )
        .await;
        bar.finish();
        let outcome = outcome?;
        warn_incomplete(&outcome);
        eprintln!(
            "job {job_id} cost {}",
            outcome.usage.summary(&outcome.cost_usd)
        );
        let mut report = outcome_report(&outcome)?;
        name_masks(&mut report, &names);
        print_report(&report, args.search.format)
    })
}
