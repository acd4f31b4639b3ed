//! The emulated deployment one test runs against: what `template.yaml` creates on AWS (bucket,
//! task table, four functions, state machine) on moto, the Lambda emulator and the in-test Step
//! Functions endpoint, plus the sample library uploaded in the S3 layout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use burst::asl::TaskHandler;
use burst::{BurstError, JobOutcome, ObjectStore};
use burst_aws::config::{StaticCredentials, EMULATOR_REGION};
use burst_aws::{AwsSettings, DynamoTaskTable, LambdaTask, S3ObjectStore, Service};
use cdsearch::store::upload::{upload_library, LibraryPlan};
use cdsearch_lambda::config::{
    MANAGER_FUNCTION_VAR, MONITOR_FUNCTION_VAR, SEARCH_BUCKET_VAR, STATE_MACHINE_VAR,
    TASKS_TABLE_VAR,
};
use cdsearch_lambda::{AwsBackends, FunctionEnv};
use serde_json::Value;

use super::{repo_root, Gateway, LambdaEmulator, Moto, StepFunctions, Tools};

/// The manager function (a binary of this crate, as the emulator requires).
pub const MANAGER: &str = "cdsearch-manager";
/// The worker function.
pub const WORKER: &str = "cdsearch-worker";
/// The monitor function.
pub const MONITOR: &str = "cdsearch-monitor";
/// The combiner function.
pub const COMBINER: &str = "cdsearch-combiner";
/// Bucket of the libraries.
pub const LIBRARY_BUCKET: &str = "cds-libraries";
/// Bucket of masks and results.
pub const SEARCH_BUCKET: &str = "cds-searches";
/// The task table.
pub const TASKS_TABLE: &str = "burst-tasks";

/// How a stack is set up.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Invocations the Lambda gateway answers with TooManyRequests, first ones of each function.
    pub throttle: Vec<(&'static str, usize)>,
    /// Instances of the manager: one per level of the spawn tree at least, since a manager
    /// waits for the managers it invokes (the emulator answers invocations when they have run).
    pub managers: usize,
    /// Instances of the worker.
    pub workers: usize,
    /// Factor on the state machine's Wait and Retry intervals.
    pub time_scale: f64,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            throttle: Vec::new(),
            managers: 3,
            workers: 2,
            time_scale: 0.2,
        }
    }
}

/// A running emulated deployment.
pub struct Stack {
    /// The backends of the deployment as the functions see them (for the test's own reads).
    pub backends: AwsBackends,
    /// The Lambda gateway every invocation goes through.
    pub gateway: Gateway,
    /// The Step Functions endpoint.
    pub sfn: StepFunctions,
    /// The Lambda emulator and the function instances.
    pub emulator: LambdaEmulator,
    /// Its log directory.
    pub logs: PathBuf,
    _moto: Moto,
}

/// One search run through the stack.
#[derive(Debug)]
pub struct Run {
    /// The level-0 manager's answer.
    pub dispatch: Value,
    /// The state machine's output (the combiner's summary).
    pub output: Value,
    /// The job's outcome, read from the search bucket.
    pub outcome: JobOutcome,
}

/// A fresh log directory for `test` under cargo's temporary directory for tests.
pub fn log_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("lambda_watch")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create log directory {}: {e}", dir.display()));
    dir
}

/// The executable of one of this crate's functions, as cargo built it for this test run.
pub fn executable(function: &str) -> PathBuf {
    let path = match function {
        MANAGER => env!("CARGO_BIN_EXE_cdsearch-manager"),
        WORKER => env!("CARGO_BIN_EXE_cdsearch-worker"),
        MONITOR => env!("CARGO_BIN_EXE_cdsearch-monitor"),
        COMBINER => env!("CARGO_BIN_EXE_cdsearch-combiner"),
        other => panic!("{other} is not a function of cdsearch-lambda"),
    };
    PathBuf::from(path)
}

/// The sample library (`sample/library`) planned for upload under `prefix`.
pub fn sample_library(prefix: &str) -> LibraryPlan {
    let dir = repo_root().join("sample/library");
    let entries = cdsearch::library::discover(std::slice::from_ref(&dir))
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut plan = LibraryPlan::new(prefix);
    for entry in entries {
        let size = std::fs::metadata(&entry.path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", entry.path.display()))
            .len();
        plan.add_item(&entry.name, entry.path, size);
    }
    plan
}

/// Uploads `plan` and the mask files `masks` (key, path) to `library` and `search` stores.
pub async fn upload_inputs(
    library: Arc<dyn ObjectStore>,
    search: &dyn ObjectStore,
    plan: &LibraryPlan,
    masks: &[(&str, PathBuf)],
) {
    upload_library(library, plan, 8, Arc::new(|_| ()))
        .await
        .unwrap_or_else(|e| panic!("upload of library {}: {e}", plan.prefix));
    for (key, path) in masks {
        let bytes = std::fs::read(path)
            .unwrap_or_else(|e| panic!("cannot read mask {}: {e}", path.display()));
        search
            .put(key, bytes)
            .await
            .unwrap_or_else(|e| panic!("upload of mask {key}: {e}"));
    }
}

impl Stack {
    /// Starts moto, the Lambda emulator, the gateway and the Step Functions endpoint, creates the
    /// buckets and the task table, uploads `plan` and `masks`, and starts the function
    /// instances. `None` when the emulators are not installed and the test is to be skipped.
    pub async fn start(
        test: &str,
        options: StackOptions,
        plan: &LibraryPlan,
        masks: &[(&str, PathBuf)],
    ) -> Option<Stack> {
        let tools = Tools::find(test)?;
        let logs = log_dir(test);
        let (moto, emulator) = tokio::join!(Moto::start(), LambdaEmulator::start(&tools, &logs));
        let gateway = Gateway::start(&emulator.endpoint, &options.throttle).await;
        let mut settings = AwsSettings::emulator(&moto.endpoint);
        settings.endpoints.set(Service::Lambda, &gateway.endpoint);
        let sfn = StepFunctions::start(
            &settings.clients().await,
            MONITOR,
            COMBINER,
            options.time_scale,
        )
        .await;
        settings
            .endpoints
            .set(Service::StepFunctions, &sfn.endpoint);
        let env = FunctionEnv {
            tasks_table: TASKS_TABLE.into(),
            search_bucket: SEARCH_BUCKET.into(),
            state_machine_arn: Some(sfn.state_machine_arn.clone()),
            manager_function: MANAGER.into(),
            monitor_function: MONITOR.into(),
        };
        let backends = AwsBackends::all(&env, settings.clients().await);
        for bucket in [LIBRARY_BUCKET, SEARCH_BUCKET] {
            super::create_bucket(&backends.clients, bucket).await;
        }
        DynamoTaskTable::new(&backends.clients, TASKS_TABLE)
            .create_table()
            .await
            .unwrap_or_else(|e| panic!("cannot create table {TASKS_TABLE} on moto: {e}"));
        let library = Arc::new(S3ObjectStore::new(&backends.clients, LIBRARY_BUCKET));
        upload_inputs(library, backends.burst.store.as_ref(), plan, masks).await;

        let credentials = StaticCredentials::for_emulators();
        let function_env: Vec<(String, String)> = [
            (TASKS_TABLE_VAR, env.tasks_table.as_str()),
            (SEARCH_BUCKET_VAR, env.search_bucket.as_str()),
            (STATE_MACHINE_VAR, sfn.state_machine_arn.as_str()),
            (MANAGER_FUNCTION_VAR, MANAGER),
            (MONITOR_FUNCTION_VAR, MONITOR),
            (burst_aws::config::ENDPOINT_ENV, moto.endpoint.as_str()),
            (Service::Lambda.endpoint_env(), gateway.endpoint.as_str()),
            (Service::StepFunctions.endpoint_env(), sfn.endpoint.as_str()),
            ("AWS_REGION", EMULATOR_REGION),
            ("AWS_ACCESS_KEY_ID", credentials.access_key_id.as_str()),
            (
                "AWS_SECRET_ACCESS_KEY",
                credentials.secret_access_key.as_str(),
            ),
            ("RUST_LOG", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (function, count) in [
            (MANAGER, options.managers),
            (WORKER, options.workers),
            (MONITOR, 1),
            (COMBINER, 1),
        ] {
            emulator.start_function(function, &executable(function), &function_env, count);
        }
        Some(Stack {
            backends,
            gateway,
            sfn,
            emulator,
            logs,
            _moto: moto,
        })
    }

    /// Panics with `message` and the tails of the functions' logs.
    pub fn fail(&self, message: impl std::fmt::Display) -> ! {
        panic!("{message}\n{}", self.emulator.log_tails(30))
    }

    /// Starts a job by invoking the manager with `request` (a burst job request), waits at most
    /// `timeout` for its state machine execution to end, and reads its outcome.
    pub async fn run(&self, request: Value, timeout: Duration) -> Run {
        let dispatch = LambdaTask::new(&self.backends.clients, MANAGER)
            .call(request)
            .await
            .unwrap_or_else(|e| self.fail(format!("the manager failed: {e:?}")));
        let job_id = dispatch["jobId"]
            .as_str()
            .unwrap_or_else(|| self.fail(format!("the manager answered {dispatch} (no jobId)")))
            .to_owned();
        let output = match self.sfn.wait_for(&job_id, timeout).await {
            Some(Ok(output)) => output,
            Some(Err(e)) => self.fail(format!("execution {job_id} failed: {e}")),
            None => self.fail(format!("execution {job_id} did not end within {timeout:?}")),
        };
        let outcome = self
            .outcome(&job_id)
            .await
            .unwrap_or_else(|e| self.fail(format!("no outcome for job {job_id}: {e}")));
        Run {
            dispatch,
            output,
            outcome,
        }
    }

    /// The outcome of job `job_id`, from its status record and the search bucket.
    pub async fn outcome(&self, job_id: &str) -> Result<JobOutcome, BurstError> {
        burst::status::report(&self.backends.burst, job_id)
            .await?
            .outcome
            .ok_or_else(|| BurstError::JobFailed {
                job_id: job_id.to_owned(),
                message: "the status record names no outcome".into(),
            })
    }
}
