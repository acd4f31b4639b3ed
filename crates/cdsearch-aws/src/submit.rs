//! Searches on a deployed stack (`template.yaml`) from the client's side.
//!
//! A search on a stack is a burst job: the masks go to the stack's search
//! bucket under `masks/<jobId>/`, the manager function is invoked
//! asynchronously with the job request (the same
//! [`cdsearch::job::SearchJobParameters`] a local search runs), and the
//! client then reads the job's status record from the task table and, once
//! the combiner has run, its outcome from the search bucket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use burst::{
    BackendError, Backends, BurstError, Invoker, JobOutcome, JobRequest, ObjectStore, Progress,
};
use burst_aws::stack::{execution_state, ExecutionState, Stack};
use burst_aws::{AwsClients, DynamoTaskTable, LambdaInvoker, S3ObjectStore, SfnStarter};
use cds::pixel_match::MatchParams;
use cdsearch::job::sizing::{libraries_batch_size, WorkerRates};
use cdsearch::job::{search_request, LibraryParameters, SearchJobParameters, ShapeJobParameters};
use cdsearch::results::SearchReport;

use crate::AwsError;

/// Folder of the search bucket where submitted masks are stored.
pub const MASKS_FOLDER: &str = "masks";

/// A search to run on a stack.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The masks, as (name, image bytes); names become part of their keys.
    pub masks: Vec<(String, Vec<u8>)>,
    /// Pixel-match parameters (the mask threshold applies to every mask).
    pub params: MatchParams,
    /// Hits kept per mask.
    pub top: usize,
    /// The libraries searched, in order.
    pub libraries: Vec<LibraryParameters>,
    /// Targets per worker; when `None`, sized from the libraries' form
    /// ([`cdsearch::job::sizing`]: about 1.5 s of worker time).
    pub batch_size: Option<u64>,
    /// The shape stage's settings.
    pub shape: ShapeJobParameters,
}

/// Object key of mask `index` of job `job_id` in the search bucket: the
/// mask's file name, with anything but letters, digits, `.`, `-` and `_`
/// replaced.
pub fn mask_key(job_id: &str, index: usize, name: &str) -> String {
    let file = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let safe: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{MASKS_FOLDER}/{job_id}/{index}-{safe}")
}

/// The job request of a submission to `stack` as job `job_id`, its masks
/// at `mask_keys`.
pub fn job_request(
    stack: &Stack,
    job_id: &str,
    submission: &Submission,
    mask_keys: Vec<String>,
) -> Result<JobRequest, AwsError> {
    let thresholds = vec![submission.params.mask_threshold; mask_keys.len()];
    let params = SearchJobParameters::new(
        &stack.search_bucket,
        mask_keys,
        thresholds,
        &submission.params,
        submission.top,
        submission.libraries.clone(),
    );
    let batch_size = submission
        .batch_size
        .unwrap_or_else(|| libraries_batch_size(&submission.libraries, &WorkerRates::default()));
    let mut request = search_request(&params, &submission.shape, batch_size)?;
    request.worker_function_name = stack.functions.worker.clone();
    request.combiner_function_name = stack.functions.combiner.clone();
    request.job_id = Some(job_id.to_owned());
    Ok(request)
}

/// Starts a search on `stack`: stores the masks in its search bucket and
/// invokes its manager asynchronously. Returns the request sent (its
/// `job_id` names the job).
pub async fn submit(
    clients: &AwsClients,
    stack: &Stack,
    submission: &Submission,
) -> Result<JobRequest, AwsError> {
    let job_id = uuid::Uuid::new_v4().to_string();
    let keys: Vec<String> = submission
        .masks
        .iter()
        .enumerate()
        .map(|(i, (name, _))| mask_key(&job_id, i, name))
        .collect();
    let request = job_request(stack, &job_id, submission, keys.clone())?;
    let store = S3ObjectStore::new(clients, stack.search_bucket.clone());
    for (key, (_, bytes)) in keys.iter().zip(&submission.masks) {
        store.put(key, bytes.clone()).await?;
    }
    let event = serde_json::to_value(&request)
        .map_err(|e| AwsError::Invalid(format!("job request of {job_id}: {e}")))?;
    LambdaInvoker::new(clients)
        .invoke(&stack.functions.manager, event)
        .await?;
    Ok(request)
}

/// How a client follows a job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FollowOptions {
    /// Pause between two reads of the job's status.
    pub poll: Duration,
    /// How long the manager may take to record the job before the client
    /// gives up (asynchronous invocations may queue for a while).
    pub start_timeout: Duration,
    /// How long the job may run in all (its search time-out plus the
    /// combiner's time).
    pub timeout: Duration,
}

impl FollowOptions {
    /// Options for a job with the given request: a 2 s poll, 2 minutes to
    /// start, and 5 minutes beyond the job's own time-out.
    pub fn for_request(request: &JobRequest) -> Self {
        FollowOptions {
            poll: Duration::from_secs(2),
            start_timeout: Duration::from_secs(120),
            timeout: Duration::from_secs_f64(request.search_timeout_secs.max(0.0) + 300.0),
        }
    }
}

/// Burst's backends over the stack, for reading a job's records.
fn stack_backends(clients: &AwsClients, stack: &Stack) -> Backends {
    Backends {
        tasks: Arc::new(DynamoTaskTable::new(clients, stack.tasks_table.clone())),
        store: Arc::new(S3ObjectStore::new(clients, stack.search_bucket.clone())),
        invoker: Arc::new(LambdaInvoker::new(clients)),
        starter: Arc::new(SfnStarter::new(
            clients,
            stack.state_machine_arn.clone().unwrap_or_default(),
        )),
    }
}

/// Follows job `job_id` on `stack` until its outcome is stored, calling
/// `on_progress` after each poll. Fails when the job is not recorded within
/// the start time-out, when its monitor execution ends without an outcome,
/// or when it runs past the time-out.
pub async fn follow(
    clients: &AwsClients,
    stack: &Stack,
    job_id: &str,
    options: &FollowOptions,
    on_progress: impl Fn(Progress),
) -> Result<JobOutcome, AwsError> {
    let backends = stack_backends(clients, stack);
    let started = Instant::now();
    let failed = |message: String| AwsError::JobFailed {
        job_id: job_id.to_owned(),
        message,
    };
    loop {
        match burst::status::report(&backends, job_id).await {
            Ok(report) => {
                on_progress(report.progress);
                if let Some(outcome) = report.outcome {
                    return Ok(outcome);
                }
                if report.status.state.is_final() {
                    return Err(failed(format!(
                        "ended {:?} without an outcome: {}",
                        report.status.state,
                        report
                            .status
                            .error
                            .as_deref()
                            .unwrap_or("no error recorded")
                    )));
                }
                if let Some(arn) = &stack.state_machine_arn {
                    if let ExecutionState::Ended { status, reason } =
                        execution_state(clients, arn, job_id).await?
                    {
                        return Err(failed(format!(
                            "its monitor execution ended {status} before the outcome was \
                             stored: {reason}"
                        )));
                    }
                }
            }
            Err(BurstError::Backend(BackendError::NotFound(_)))
                if started.elapsed() < options.start_timeout => {}
            Err(BurstError::Backend(BackendError::NotFound(what))) => {
                return Err(failed(format!(
                    "not recorded within {} s ({what}): did the manager function {} run? \
                     See its logs",
                    options.start_timeout.as_secs(),
                    stack.functions.manager
                )))
            }
            Err(e) => return Err(e.into()),
        }
        if started.elapsed() > options.timeout {
            return Err(failed(format!(
                "still running after {} s",
                options.timeout.as_secs()
            )));
        }
        tokio::time::sleep(options.poll).await;
    }
}

/// Names the masks of a report of a submitted search as the caller named
/// them (the job names them by their keys in the search bucket).
pub fn name_masks(report: &mut SearchReport, names: &[String]) {
    for (mask, name) in report.masks.iter_mut().zip(names) {
        mask.mask_id = name.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burst_aws::stack::StackFunctions;
    use cdsearch::job::sizing::{batch_size, LibraryForm};

    fn stack() -> Stack {
        Stack {
            functions: StackFunctions::of_stack("cds"),
            tasks_table: "tasks".into(),
            search_bucket: "searches".into(),
            state_machine_arn: None,
        }
    }

    fn submission() -> Submission {
        Submission {
            masks: vec![("a/m 1.png".into(), vec![1, 2])],
            params: MatchParams {
                mask_threshold: 30,
                xy_shift: 2,
                ..MatchParams::default()
            },
            top: 7,
            libraries: vec![LibraryParameters::in_store("lib", "libraries", "lib", 250)],
            batch_size: None,
            shape: ShapeJobParameters {
                shape: true,
                shape_top: 40,
            },
        }
    }

    #[test]
    fn mask_keys_are_safe_and_per_job() {
        assert_eq!(mask_key("j1", 0, "a/m 1.png"), "masks/j1/0-m_1.png");
        assert_eq!(mask_key("j1", 3, "C:\\x\\é.tif"), "masks/j1/3-_.tif");
    }

    #[test]
    fn a_submission_becomes_a_job_for_the_stack_s_functions() {
        let keys = vec![mask_key("j1", 0, "a/m 1.png")];
        let request = job_request(&stack(), "j1", &submission(), keys.clone()).unwrap();
        assert_eq!(request.worker_function_name, "cds-worker");
        assert_eq!(request.combiner_function_name, "cds-combiner");
        assert_eq!(request.job_id.as_deref(), Some("j1"));
        assert_eq!((request.start_index, request.end_index), (0, 250));
        assert_eq!(
            request.batch_size,
            batch_size(LibraryForm::Images, &WorkerRates::default()),
            "sized for one object per image"
        );
        let params: SearchJobParameters =
            serde_json::from_value(request.job_parameters.clone()).unwrap();
        assert_eq!(params.search_bucket, "searches");
        assert_eq!(params.mask_keys, keys);
        assert_eq!(params.mask_thresholds, vec![30]);
        assert_eq!(params.xy_shift, 2);
        assert_eq!(params.max_results_per_mask, 7);
        assert_eq!(params.libraries[0].library_bucket, "libraries");
        assert_eq!(request.job_parameters["shape"], true);
        assert_eq!(request.job_parameters["shapeTop"], 40);
    }

    #[test]
    fn an_invalid_submission_is_refused_before_anything_is_sent() {
        let mut bad = submission();
        bad.libraries.clear();
        let err = job_request(&stack(), "j1", &bad, vec!["k".into()]).unwrap_err();
        assert!(err.to_string().contains("libraries"), "{err}");
    }
}
