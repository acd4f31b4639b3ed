//! The local runtime, the embedded default: an in-process invoker (tokio tasks; workers on
//! blocking threads so they may use rayon), a task table and object store in memory or on
//! disk, and the monitor state machine run by the [`crate::asl`] interpreter from the same
//! definition file as on AWS.

mod cpu;
mod disk;
mod memory;

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::{watch, Semaphore};

pub use disk::{DiskObjectStore, DiskTaskTable};
pub use memory::{MemoryObjectStore, MemoryTaskTable};

use crate::asl::{
    substitute, Executor, StateMachine, TaskFailure, TaskHandler, MONITOR_DEFINITION,
};
use crate::backends::{to_event, Backends};
use crate::error::{BackendError, BurstError};
use crate::job::{
    DispatchResponse, JobOutcome, JobRequest, ManagerInput, MonitorRequest, MonitorResponse,
    MonitorState, Progress, WorkerEvent,
};
use crate::manager::{self, Deployment};
use crate::outcome::load_outcome;
use crate::status::{self, JobReport};
use crate::traits::{Combiner, Invoker, ObjectStore, Page, StateMachineStarter, TaskTable, Worker};
use crate::{cleanup, combine, monitor, worker};

/// Items per page of the local backends' listings.
pub const PAGE_SIZE: usize = 1000;

/// One page of `items`, the token being the offset of the page.
pub(crate) fn paginate<T>(items: Vec<T>, token: Option<&str>) -> Result<Page<T>, BackendError> {
    let start: usize = match token {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| BackendError::Invalid(format!("page token {t:?} (expected an offset)")))?,
    };
    let end = (start + PAGE_SIZE).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok(Page {
        items: items
            .into_iter()
            .skip(start)
            .take(end.saturating_sub(start))
            .collect(),
        next,
    })
}

/// Rejects object keys that could escape a directory.
pub(crate) fn check_key(key: &str) -> Result<(), BackendError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(BackendError::Invalid(format!(
            "object key {key:?} (expected relative segments without '.', '..' or empty parts)"
        )));
    }
    Ok(())
}

/// Bytes `range` of `bytes`, clipped at the end.
pub(crate) fn slice_range(bytes: &[u8], range: Range<u64>) -> Vec<u8> {
    let len = bytes.len() as u64;
    let (start, end) = (range.start.min(len) as usize, range.end.min(len) as usize);
    bytes[start..end.max(start)].to_vec()
}

/// Resource names the local runtime substitutes into the state-machine definition.
const MONITOR_RESOURCE: &str = "local:monitor";
const COMBINER_RESOURCE: &str = "local:combiner";

/// A function that wraps the runtime's invoker (fault injection, latency simulation, tracing).
pub type InvokerLayer = Box<dyn FnOnce(Arc<dyn Invoker>) -> Arc<dyn Invoker> + Send>;

/// Where the local runtime keeps its task table and objects.
enum Storage {
    Memory,
    Dir(PathBuf),
}

/// Configures a [`LocalRuntime`].
pub struct LocalRuntimeBuilder {
    workers: HashMap<String, Arc<dyn Worker>>,
    combiners: HashMap<String, Arc<dyn Combiner>>,
    storage: Storage,
    poll_interval: Duration,
    worker_concurrency: usize,
    layer: Option<InvokerLayer>,
    deployment: Deployment,
}

/// Per-job channels: progress, and the end of the execution (which also cancels workers).
struct JobEntry {
    progress: watch::Sender<Progress>,
    finished: watch::Sender<Option<Result<(), String>>>,
}

struct Inner {
    backends: Backends,
    deployment: Deployment,
    workers: HashMap<String, Arc<dyn Worker>>,
    combiners: HashMap<String, Arc<dyn Combiner>>,
    executor: Executor,
    jobs: Mutex<HashMap<String, Arc<JobEntry>>>,
    permits: Arc<Semaphore>,
}

/// The embedded runtime: runs jobs end to end in this process.
#[derive(Clone)]
pub struct LocalRuntime {
    inner: Arc<Inner>,
}

/// A submitted job: its id, the manager's answer, progress, and its end.
pub struct JobHandle {
    /// The manager's answer (job id, batches, branching factor).
    pub dispatch: DispatchResponse,
    progress: watch::Receiver<Progress>,
    finished: watch::Receiver<Option<Result<(), String>>>,
    runtime: LocalRuntime,
    /// The process's CPU seconds when the job was submitted.
    cpu_at_submit: Option<f64>,
}

impl LocalRuntimeBuilder {
    /// Registers a worker under the function name jobs use in `workerFunctionName`.
    pub fn worker(mut self, name: &str, worker: Arc<dyn Worker>) -> Self {
        self.workers.insert(name.to_string(), worker);
        self
    }

    /// Registers a combiner under the function name jobs use in `combinerFunctionName`.
    pub fn combiner(mut self, name: &str, combiner: Arc<dyn Combiner>) -> Self {
        self.combiners.insert(name.to_string(), combiner);
        self
    }

    /// Keeps the task table and objects as files under `dir` (they survive a restart).
    pub fn on_disk(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage = Storage::Dir(dir.into());
        self
    }

    /// Interval of the monitor's Wait (the definition's 1 s by default; tests may poll faster).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How many workers run at once (default: the number of CPUs).
    pub fn worker_concurrency(mut self, n: usize) -> Self {
        self.worker_concurrency = n.max(1);
        self
    }

    /// Wraps the in-process invoker (e.g. to inject duplicated or delayed invocations).
    pub fn invoker_layer(mut self, layer: InvokerLayer) -> Self {
        self.layer = Some(layer);
        self
    }

    /// Builds the runtime; fails if the state-machine definition is invalid.
    pub fn build(self) -> Result<LocalRuntime, BurstError> {
        let text = substitute(
            MONITOR_DEFINITION,
            &[
                ("MonitorFunctionArn", MONITOR_RESOURCE),
                ("CombinerFunctionArn", COMBINER_RESOURCE),
            ],
        )?;
        let machine = StateMachine::from_json(&text)?;
        let (tasks, store): (Arc<dyn TaskTable>, Arc<dyn ObjectStore>) = match &self.storage {
            Storage::Memory => (
                Arc::new(MemoryTaskTable::default()),
                Arc::new(MemoryObjectStore::default()),
            ),
            Storage::Dir(dir) => (
                Arc::new(DiskTaskTable::new(dir.join("tasks"))),
                Arc::new(DiskObjectStore::new(dir.join("objects"))),
            ),
        };
        let time_scale = self.poll_interval.as_secs_f64();
        let layer = self.layer;
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let local: Arc<dyn Invoker> = Arc::new(LocalInvoker(weak.clone()));
            let invoker = match layer {
                Some(layer) => layer(local),
                None => local,
            };
            let executor = Executor::new(machine)
                .with_handler(MONITOR_RESOURCE, Arc::new(MonitorTask(weak.clone())))
                .with_handler(COMBINER_RESOURCE, Arc::new(CombinerTask(weak.clone())))
                .with_time_scale(time_scale);
            Inner {
                backends: Backends {
                    tasks,
                    store,
                    invoker,
                    starter: Arc::new(LocalStarter(weak.clone())),
                },
                deployment: self.deployment,
                workers: self.workers,
                combiners: self.combiners,
                executor,
                jobs: Mutex::new(HashMap::new()),
                permits: Arc::new(Semaphore::new(self.worker_concurrency)),
            }
        });
        Ok(LocalRuntime { inner })
    }
}

impl LocalRuntime {
    /// A builder with in-memory storage, a 1 s poll and one worker per CPU.
    pub fn builder() -> LocalRuntimeBuilder {
        LocalRuntimeBuilder {
            workers: HashMap::new(),
            combiners: HashMap::new(),
            storage: Storage::Memory,
            poll_interval: Duration::from_secs(1),
            worker_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            layer: None,
            deployment: Deployment::default(),
        }
    }

    /// The backends the runtime's handlers use.
    pub fn backends(&self) -> &Backends {
        &self.inner.backends
    }

    /// Starts a job (the level-0 manager runs now; the rest runs in the background).
    pub async fn submit(&self, mut request: JobRequest) -> Result<JobHandle, BurstError> {
        if !self
            .inner
            .workers
            .contains_key(&request.worker_function_name)
        {
            return Err(BurstError::UnknownFunction {
                kind: "worker",
                name: request.worker_function_name,
            });
        }
        if !self
            .inner
            .combiners
            .contains_key(&request.combiner_function_name)
        {
            return Err(BurstError::UnknownFunction {
                kind: "combiner",
                name: request.combiner_function_name,
            });
        }
        let job_id = request
            .job_id
            .get_or_insert_with(|| uuid::Uuid::new_v4().to_string())
            .clone();
        let entry = self.inner.entry(&job_id);
        let cpu_at_submit = cpu::process_cpu_seconds();
        let dispatch = match manager::start_job(
            &self.inner.backends,
            &self.inner.deployment,
            &request,
        )
        .await
        {
            Ok(dispatch) => dispatch,
            Err(e) => {
                // No execution started: the job is not running here (its state may be
                // deleted).
                entry.finished.send_replace(Some(Err(e.to_string())));
                return Err(e);
            }
        };
        Ok(JobHandle {
            dispatch,
            progress: entry.progress.subscribe(),
            finished: entry.finished.subscribe(),
            runtime: self.clone(),
            cpu_at_submit,
        })
    }

    /// Runs a job to its end and returns its outcome (also for failed or timed-out jobs).
    pub async fn run(&self, request: JobRequest) -> Result<JobOutcome, BurstError> {
        self.submit(request).await?.wait().await
    }

    /// Status, progress, errors and outcome of a job, also one started by another process
    /// over the same directory.
    pub async fn attach(&self, job_id: &str) -> Result<JobReport, BurstError> {
        status::report(&self.inner.backends, job_id).await
    }

    /// Whether job `job_id` runs in this runtime now (submitted here and not ended).
    pub fn is_running_here(&self, job_id: &str) -> bool {
        let jobs = self.inner.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get(job_id)
            .is_some_and(|entry| entry.finished.borrow().is_none())
    }

    /// Marks job `job_id` failed with `reason` if its status says it runs although it does not
    /// run here: the process that ran it stopped (the caller knows that no other process
    /// shares the directory). Returns whether its status changed; refuses a job running here.
    pub async fn abandon_job(&self, job_id: &str, reason: &str) -> Result<bool, BurstError> {
        self.refuse_running(job_id)?;
        cleanup::abandon_job(self.inner.backends.tasks.as_ref(), job_id, reason).await
    }

    /// Deletes everything stored of job `job_id` (task-table entries, outcome, partial
    /// results; see [`cleanup::delete_job_state`]), which must have ended: refused with
    /// [`BurstError::JobNotEnded`] while it runs here or its status is not final.
    pub async fn forget_job(&self, job_id: &str) -> Result<cleanup::DeletedJob, BurstError> {
        self.refuse_running(job_id)?;
        let backends = &self.inner.backends;
        cleanup::delete_job_state(backends.tasks.as_ref(), backends.store.as_ref(), job_id).await
    }

    fn refuse_running(&self, job_id: &str) -> Result<(), BurstError> {
        if self.is_running_here(job_id) {
            return Err(BurstError::JobNotEnded {
                job_id: job_id.to_string(),
                state: "running".into(),
            });
        }
        Ok(())
    }
}

impl JobHandle {
    /// The job id.
    pub fn job_id(&self) -> &str {
        &self.dispatch.job_id
    }

    /// A receiver of progress updates (one per monitor poll).
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// Waits for the end of the job and returns its outcome.
    pub async fn wait(mut self) -> Result<JobOutcome, BurstError> {
        let ended = self
            .finished
            .wait_for(Option::is_some)
            .await
            .map(|r| r.clone().expect("waited for Some"))
            .unwrap_or_else(|_| Err("the runtime stopped".into()));
        let job_id = self.dispatch.job_id.clone();
        let status = self
            .runtime
            .inner
            .backends
            .tasks
            .get_status(&job_id)
            .await?;
        match (status.and_then(|s| s.outcome_key), ended) {
            (Some(key), _) => {
                let mut outcome = load_outcome(&self.runtime.inner.backends, &key).await?;
                // Lambda bills wall time; here the process's CPU time from submit to end is
                // what the job used (with other jobs running in the process, theirs too).
                if let (Some(start), Some(end)) = (self.cpu_at_submit, cpu::process_cpu_seconds()) {
                    outcome.usage.cpu_seconds = (end - start).max(0.0);
                }
                Ok(outcome)
            }
            (None, Err(message)) => Err(BurstError::JobFailed { job_id, message }),
            (None, Ok(())) => Err(BurstError::JobFailed {
                job_id,
                message: "the job ended without an outcome".into(),
            }),
        }
    }
}

impl Inner {
    fn entry(&self, job_id: &str) -> Arc<JobEntry> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.entry(job_id.to_string())
            .or_insert_with(|| {
                Arc::new(JobEntry {
                    progress: watch::channel(Progress::default()).0,
                    finished: watch::channel(None).0,
                })
            })
            .clone()
    }
}

fn upgrade(weak: &Weak<Inner>) -> Result<Arc<Inner>, BackendError> {
    weak.upgrade()
        .ok_or_else(|| BackendError::Other("the local runtime was dropped".into()))
}

/// Invokes managers and workers as tokio tasks.
struct LocalInvoker(Weak<Inner>);

#[async_trait]
impl Invoker for LocalInvoker {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<(), BackendError> {
        let inner = upgrade(&self.0)?;
        let invalid = |e: BurstError| BackendError::Invalid(format!("{function_name}: {e}"));
        if function_name == inner.deployment.manager_function_name {
            let input = ManagerInput::from_value(payload).map_err(invalid)?;
            tokio::spawn(async move {
                if let Err(e) = manager::handle(&inner.backends, &inner.deployment, input).await {
                    tracing::warn!("manager invocation failed: {e}");
                }
            });
            return Ok(());
        }
        let worker = inner
            .workers
            .get(function_name)
            .cloned()
            .ok_or_else(|| BackendError::NotFound(format!("function {function_name}")))?;
        let event = WorkerEvent::from_value(payload).map_err(invalid)?;
        let mut finished = inner.entry(&event.job_id).finished.subscribe();
        let permits = Arc::clone(&inner.permits);
        let tasks = Arc::clone(&inner.backends.tasks);
        let store = Arc::clone(&inner.backends.store);
        drop(inner);
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let handle = tokio::runtime::Handle::current();
            let ran = tokio::task::spawn_blocking(move || {
                handle.block_on(async {
                    tokio::select! {
                        result = worker::handle(tasks.as_ref(), store.as_ref(), worker.as_ref(), event) => Some(result),
                        _ = finished.wait_for(Option::is_some) => None,
                    }
                })
            })
            .await;
            if let Ok(Some(Err(e))) = ran {
                tracing::debug!("worker invocation failed: {e}");
            }
        });
        Ok(())
    }
}

/// Starts monitor executions as tokio tasks.
struct LocalStarter(Weak<Inner>);

#[async_trait]
impl StateMachineStarter for LocalStarter {
    async fn start_execution(&self, name: &str, input: Value) -> Result<String, BackendError> {
        let inner = upgrade(&self.0)?;
        let entry = inner.entry(name);
        let executor = inner.executor.clone();
        let name = name.to_string();
        let execution = name.clone();
        drop(inner);
        tokio::spawn(async move {
            let ended = executor
                .run(&name, input)
                .await
                .map(drop)
                .map_err(|e| e.to_string());
            entry.finished.send_replace(Some(ended));
        });
        Ok(execution)
    }
}

fn task_failure(err: BurstError) -> TaskFailure {
    TaskFailure {
        error: err.error_name().to_string(),
        cause: err.to_string(),
    }
}

/// The state machine's Monitor task: one poll, then a progress update.
struct MonitorTask(Weak<Inner>);

#[async_trait]
impl TaskHandler for MonitorTask {
    async fn call(&self, input: Value) -> Result<Value, TaskFailure> {
        let inner = upgrade(&self.0).map_err(|e| task_failure(e.into()))?;
        let request = MonitorRequest::from_value(input).map_err(task_failure)?;
        let response = monitor::handle(&inner.backends, request)
            .await
            .map_err(task_failure)?;
        if let MonitorResponse::Polled(state) = &response {
            inner
                .entry(&state.job.job_id)
                .progress
                .send_replace(Progress {
                    completed: state.completed,
                    failed: state.failed_batches,
                    total: state.job.num_batches,
                });
        }
        to_event("monitor response", &response).map_err(task_failure)
    }
}

/// The state machine's Combine task: runs the job's registered combiner.
struct CombinerTask(Weak<Inner>);

#[async_trait]
impl TaskHandler for CombinerTask {
    async fn call(&self, input: Value) -> Result<Value, TaskFailure> {
        let inner = upgrade(&self.0).map_err(|e| task_failure(e.into()))?;
        let state = MonitorState::from_value(input).map_err(task_failure)?;
        let name = &state.job.combiner_function_name;
        let combiner = inner.combiners.get(name).cloned().ok_or_else(|| {
            task_failure(BurstError::UnknownFunction {
                kind: "combiner",
                name: name.clone(),
            })
        })?;
        let summary = combine::handle(&inner.backends, combiner.as_ref(), state)
            .await
            .map_err(task_failure)?;
        to_event("combine summary", &summary).map_err(task_failure)
    }
}
