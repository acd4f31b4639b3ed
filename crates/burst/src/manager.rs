//! The manager (dispatcher): level 0 creates and plans the job, records its status, starts
//! the monitor state machine and invokes level-1 managers; the last level invokes workers.
//!
//! The tree only makes the start fast; the monitor guarantees completion. So a failed
//! invocation at any level is logged and left to the monitor, which invokes the batches it
//! lost after the job's recovery grace period ([`crate::monitor`]). Only level 0's own steps
//! (planning, checking event sizes, recording the status, starting the monitor) fail a
//! submission.

use serde_json::Value;

use crate::backends::{invoke_all, to_event, Backends, Issuer};
use crate::error::BurstError;
use crate::job::{
    DispatchResponse, JobRequest, JobSpec, JobStatus, ManagerEvent, ManagerInput, MonitorState,
    DEFAULT_MANAGER_FUNCTION, DEFAULT_MONITOR_FUNCTION, DEFAULT_TASKS_TABLE,
};
use crate::plan::{Children, Node, Plan};
use crate::time::{iso_from_ms, now_ms};

/// Names of the framework's own functions and table, as deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The manager function (invoked for levels below 0).
    pub manager_function_name: String,
    /// The monitor function.
    pub monitor_function_name: String,
    /// The task table.
    pub tasks_table_name: String,
}

impl Default for Deployment {
    fn default() -> Self {
        Deployment {
            manager_function_name: DEFAULT_MANAGER_FUNCTION.into(),
            monitor_function_name: DEFAULT_MONITOR_FUNCTION.into(),
            tasks_table_name: DEFAULT_TASKS_TABLE.into(),
        }
    }
}

/// Handles one manager invocation (any level); parse raw JSON with
/// [`ManagerInput::from_value`].
pub async fn handle(
    backends: &Backends,
    deployment: &Deployment,
    input: ManagerInput,
) -> Result<DispatchResponse, BurstError> {
    match input {
        ManagerInput::Start(request) => start_job(backends, deployment, &request).await,
        ManagerInput::Node(event) => dispatch_node(backends, &event).await,
    }
}

/// The plan a job description was made with.
pub fn plan_of(job: &JobSpec) -> Plan {
    Plan {
        dataset_start: job.dataset_start_index,
        dataset_end: job.dataset_end_index,
        batch_size: job.batch_size,
        num_batches: job.num_batches,
        num_levels: job.num_levels,
        branching_factor: job.branching_factor,
    }
}

/// Resolves a request into a job description, without side effects.
pub fn describe_job(
    request: &JobRequest,
    deployment: &Deployment,
    job_id: String,
    start_ms: u64,
) -> Result<JobSpec, BurstError> {
    let plan = Plan::new(request)?;
    Ok(JobSpec {
        job_id,
        dataset_start_index: plan.dataset_start,
        dataset_end_index: plan.dataset_end,
        batch_size: plan.batch_size,
        num_batches: plan.num_batches,
        num_levels: plan.num_levels,
        branching_factor: plan.branching_factor,
        max_parallelism: request.max_parallelism,
        search_timeout_secs: request.search_timeout_secs,
        start_time: iso_from_ms(start_ms),
        tasks_table_name: deployment.tasks_table_name.clone(),
        manager_function_name: deployment.manager_function_name.clone(),
        monitor_function_name: deployment.monitor_function_name.clone(),
        worker_function_name: request.worker_function_name.clone(),
        combiner_function_name: request.combiner_function_name.clone(),
        job_parameters: request.job_parameters.clone(),
        settings: request.settings.clone(),
    })
}

/// Level 0: creates the job, records it, starts the monitor and dispatches the tree.
///
/// Fails, before anything is recorded or started, if the request cannot be planned or an
/// event of the job exceeds the event limit (the caller's fault, and permanent); then only
/// if the status cannot be recorded or the monitor cannot be started. Invocations of the
/// level-1 managers (or workers) that fail are logged and left to the monitor.
pub async fn start_job(
    backends: &Backends,
    deployment: &Deployment,
    request: &JobRequest,
) -> Result<DispatchResponse, BurstError> {
    let job_id = request
        .job_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let job = describe_job(request, deployment, job_id, now_ms())?;
    let monitor_input = to_event("monitor state", &MonitorState::initial(job.clone()))?;
    // A worker event carries fewer of the job's fields than a manager event, so once the
    // root's children events fit, every later event of the job does.
    let (function, payloads) = children_events(&job, &plan_of(&job).root())?;
    backends
        .tasks
        .put_status(&JobStatus::started(job.clone()))
        .await?;
    backends
        .starter
        .start_execution(&job.job_id, monitor_input)
        .await?;
    invoke_all(
        &backends.invoker,
        &job.job_id,
        Issuer::Manager(0),
        function,
        payloads,
    )
    .await;
    Ok(response(&job))
}

fn response(job: &JobSpec) -> DispatchResponse {
    DispatchResponse {
        job_id: job.job_id.clone(),
        num_batches: job.num_batches,
        branching_factor: job.branching_factor,
        batch_size: job.batch_size,
    }
}

/// Levels below 0: invokes the children of the node of the tree the event describes; failed
/// invocations are logged and left to the monitor.
pub async fn dispatch_node(
    backends: &Backends,
    event: &ManagerEvent,
) -> Result<DispatchResponse, BurstError> {
    let plan = plan_of(&event.job);
    let node = Node {
        level: event.level,
        batches: plan.batches_of(&(event.start_index..event.end_index)),
    };
    let (function, payloads) = children_events(&event.job, &node)?;
    invoke_all(
        &backends.invoker,
        &event.job.job_id,
        Issuer::Manager(event.level),
        function,
        payloads,
    )
    .await;
    Ok(response(&event.job))
}

/// The function `node` invokes and its children's events: managers one level down, or
/// workers (attempt 1).
fn children_events<'a>(job: &'a JobSpec, node: &Node) -> Result<(&'a str, Vec<Value>), BurstError> {
    let plan = plan_of(job);
    match plan.children(node) {
        Children::Managers(kids) => {
            let events = kids.iter().map(|kid| {
                let items = plan.items_of(&kid.batches);
                to_event(
                    "manager event",
                    &ManagerEvent {
                        level: kid.level,
                        start_index: items.start,
                        end_index: items.end,
                        job: job.clone(),
                    },
                )
            });
            Ok((
                &job.manager_function_name,
                events.collect::<Result<_, _>>()?,
            ))
        }
        Children::Workers(batches) => {
            let events = batches.map(|b| to_event("worker event", &job.worker_event(b, 1)));
            Ok((&job.worker_function_name, events.collect::<Result<_, _>>()?))
        }
    }
}
