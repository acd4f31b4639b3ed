//! The job model: the JSON events exchanged by managers, workers, the monitor and the combiner.
//!
//! Field names follow Janelia's burst-compute (camelCase: `jobId`, `numBatches`, `startIndex`, ...)
//! so that its users can keep their clients, and numeric fields are read as its JavaScript
//! reads them ([`crate::lenient`]): `"batchSize": "25"` is 25, `"numLevels": 0` is the default.
//! Our additions (retries, failure tolerance, stragglers) are optional fields with defaults.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::lenient::field_readers;

/// Default number of manager levels in the spawn tree.
pub const DEFAULT_NUM_LEVELS: u32 = 2;
/// Default number of items per batch (burst-compute's).
pub const DEFAULT_BATCH_SIZE: u64 = 50;
/// Default cap on the number of workers (batches) of one job.
pub const DEFAULT_MAX_PARALLELISM: u64 = 3000;
/// Default time after which the monitor stops waiting and combines what it has.
pub const DEFAULT_SEARCH_TIMEOUT_SECS: f64 = 900.0;
/// Default number of tries per batch.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default lifetime of task-table rows, in seconds.
pub const DEFAULT_ROW_TTL_SECS: u64 = 3600;
/// Default time the monitor gives an invocation to leave a row or a failure before it counts
/// the batch as lost and invokes it itself, in seconds (plus the median run time of the
/// completed batches): covers the fan-out of 3,000 workers at Lambda's scaling rate
/// ([`crate::sim`]: the last worker starts after about 20 s).
pub const DEFAULT_RECOVERY_GRACE_SECS: f64 = 30.0;
/// Default cap on the invocations (retries, recoveries, speculative copies) of one monitor poll.
pub const DEFAULT_MAX_MONITOR_INVOCATIONS_PER_POLL: u32 = 500;
/// Default name of the manager (dispatch) function.
pub const DEFAULT_MANAGER_FUNCTION: &str = "burst-manager";
/// Default name of the monitor function.
pub const DEFAULT_MONITOR_FUNCTION: &str = "burst-monitor";
/// Default name of the tasks table.
pub const DEFAULT_TASKS_TABLE: &str = "burst-tasks";

/// The attempt number of a batch's first invocation.
const FIRST_ATTEMPT: u32 = 1;

/// The lenient readers of the events' numeric fields, one per field and rule.
mod read {
    use super::*;

    field_readers! {
        start_index_or_zero: u64 = count_or("startIndex", 0);
        start_index: u64 = count("startIndex");
        end_index: u64 = count("endIndex");
        dataset_start_index: u64 = count("datasetStartIndex");
        dataset_end_index: u64 = count("datasetEndIndex");
        batch_id: u64 = count("batchId");
        num_batches: u64 = count("numBatches");
        num_batches_or_zero: u64 = count_or("numBatches", 0);
        branching_factor: u64 = count("branchingFactor");
        branching_factor_or_zero: u64 = count_or("branchingFactor", 0);
        requested_branching_factor: Option<u64> = optional_count("branchingFactor");
        batch_size: u64 = count_or("batchSize", DEFAULT_BATCH_SIZE);
        num_levels: u32 = count_or("numLevels", DEFAULT_NUM_LEVELS);
        level: u32 = count_or("level", 0);
        max_parallelism: u64 = count_or("maxParallelism", DEFAULT_MAX_PARALLELISM);
        attempt: u32 = count_or("attempt", FIRST_ATTEMPT);
        max_attempts: u32 = count_or("maxAttempts", DEFAULT_MAX_ATTEMPTS);
        row_ttl_secs: u64 = count_or("rowTtlSecs", DEFAULT_ROW_TTL_SECS);
        search_timeout_secs: f64 = number_or("searchTimeoutSecs", DEFAULT_SEARCH_TIMEOUT_SECS);
        tolerated_failure_percent: f64 = number_or("toleratedFailurePercent", 0.0);
        recovery_grace_secs: f64 = number_or("recoveryGraceSecs", DEFAULT_RECOVERY_GRACE_SECS);
        max_monitor_invocations_per_poll: u32 =
            count_or("maxMonitorInvocationsPerPoll", DEFAULT_MAX_MONITOR_INVOCATIONS_PER_POLL);
    }
}

fn default_num_levels() -> u32 {
    DEFAULT_NUM_LEVELS
}

fn default_batch_size() -> u64 {
    DEFAULT_BATCH_SIZE
}

fn default_max_parallelism() -> u64 {
    DEFAULT_MAX_PARALLELISM
}

fn default_search_timeout() -> f64 {
    DEFAULT_SEARCH_TIMEOUT_SECS
}

fn first_attempt() -> u32 {
    FIRST_ATTEMPT
}

fn default_row_ttl() -> u64 {
    DEFAULT_ROW_TTL_SECS
}

/// Parses an already-buffered event as `T`, keeping serde's message (which names missing or
/// invalid fields).
fn parse_as<T: DeserializeOwned, E: serde::de::Error>(value: Value) -> Result<T, E> {
    serde_json::from_value(value).map_err(E::custom)
}

mod events;
mod records;
mod request;

pub use events::*;
pub use records::*;
pub use request::*;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_request_accepts_burst_compute_fields_and_fills_defaults() {
        let req: JobRequest = serde_json::from_str(
            r#"{"workerFunctionName":"w","combinerFunctionName":"c","datasetStartIndex":5,
                "datasetEndIndex":105,"batchSize":10,"jobsTimeoutSecs":60,"jobParameters":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(req.start_index, 5);
        assert_eq!(req.end_index, 105);
        assert_eq!(req.num_levels, 2);
        assert_eq!(req.max_parallelism, 3000);
        assert_eq!(req.search_timeout_secs, 60.0);
        assert_eq!(req.settings.max_attempts, 3);
        assert!(req.settings.stragglers.enabled);
        assert_eq!(req.job_parameters["a"], 1);
    }

    #[test]
    fn recovery_settings_have_json_names_defaults_and_lenient_numbers() {
        let base = json!({"workerFunctionName": "w", "combinerFunctionName": "c", "endIndex": 10});
        let defaults = start(base.clone()).unwrap().settings;
        assert_eq!(defaults.recovery_grace_secs, 30.0);
        assert_eq!(defaults.max_monitor_invocations_per_poll, 500);
        let mut event = base;
        event["recoveryGraceSecs"] = json!("0.5");
        event["maxMonitorInvocationsPerPoll"] = json!("40");
        let settings = start(event.clone()).unwrap().settings;
        assert_eq!(settings.recovery_grace_secs, 0.5);
        assert_eq!(settings.max_monitor_invocations_per_poll, 40);
        let back = serde_json::to_value(MonitorState::initial(JobSpec {
            settings,
            ..sample_spec()
        }))
        .unwrap();
        assert_eq!(back["recoveryGraceSecs"], 0.5);
        assert_eq!(back["maxMonitorInvocationsPerPoll"], 40);
        assert_eq!(back["recoveredBatches"], 0);
        event["maxMonitorInvocationsPerPoll"] = json!(0);
        assert_eq!(
            start(event.clone())
                .unwrap()
                .settings
                .max_monitor_invocations_per_poll,
            500
        );
        event["recoveryGraceSecs"] = json!(-1);
        assert_eq!(
            start(event).unwrap_err(),
            "malformed manager event: invalid recoveryGraceSecs: -1 (expected a non-negative \
             number or numeric string)"
        );
    }

    fn start(event: Value) -> Result<JobRequest, String> {
        match ManagerInput::from_value(event).map_err(|e| e.to_string())? {
            ManagerInput::Start(request) => Ok(*request),
            ManagerInput::Node(node) => Err(format!("a node: {node:?}")),
        }
    }

    #[test]
    fn burst_compute_start_requests_read_numbers_like_parse_int() {
        let req = start(json!({
            "workerFunctionName": "w", "combinerFunctionName": "c",
            "startIndex": "0", "endIndex": " 1000", "batchSize": "25", "numLevels": 0,
            "maxParallelism": "100.5", "searchTimeoutSecs": "60", "level": "0",
            "toleratedFailurePercent": "2.5", "maxAttempts": "0x2", "rowTtlSecs": "600s"
        }))
        .unwrap();
        assert_eq!((req.start_index, req.end_index), (0, 1000));
        assert_eq!((req.batch_size, req.num_levels), (25, 2));
        assert_eq!((req.max_parallelism, req.branching_factor), (100, None));
        assert_eq!(req.search_timeout_secs, 60.0);
        assert_eq!(req.settings.tolerated_failure_percent, 2.5);
        assert_eq!(
            (req.settings.max_attempts, req.settings.row_ttl_secs),
            (2, 600)
        );

        let req = start(json!({
            "workerFunctionName": "w", "combinerFunctionName": "c", "endIndex": 99.9,
            "batchSize": 0, "maxParallelism": 0, "numLevels": "x", "branchingFactor": "0",
            "searchTimeoutSecs": null
        }))
        .unwrap();
        assert_eq!(
            (req.start_index, req.end_index, req.batch_size),
            (0, 99, 50)
        );
        assert_eq!((req.max_parallelism, req.num_levels), (3000, 2));
        assert_eq!(req.branching_factor, None);
        assert_eq!(req.search_timeout_secs, 900.0);
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(
            (back["endIndex"].as_u64(), back["batchSize"].as_u64()),
            (Some(99), Some(50))
        );
    }

    #[test]
    fn bad_start_requests_name_the_field() {
        let base = json!({"workerFunctionName": "w", "combinerFunctionName": "c", "endIndex": 10});
        let with = |key: &str, value: Value| {
            let mut event = base.clone();
            event[key] = value;
            start(event).unwrap_err()
        };
        let mut no_end = base.clone();
        no_end.as_object_mut().unwrap().remove("endIndex");
        assert_eq!(
            start(no_end).unwrap_err(),
            "malformed manager event: missing field `endIndex`"
        );
        assert_eq!(
            with("endIndex", json!("abc")),
            "malformed manager event: invalid endIndex: \"abc\" (expected an integer or a string \
             starting with one)"
        );
        assert_eq!(
            with("startIndex", json!(-1)),
            "malformed manager event: invalid startIndex: -1 (expected a non-negative integer \
             that fits in u64)"
        );
        assert!(with("batchSize", json!("-25")).contains("invalid batchSize: \"-25\""));
        assert!(with("numLevels", json!(-2)).contains("invalid numLevels: -2"));
        assert!(with("searchTimeoutSecs", json!("later")).contains("invalid searchTimeoutSecs"));
    }

    #[test]
    fn manager_input_distinguishes_start_from_node() {
        let start: ManagerInput = serde_json::from_value(json!({
            "workerFunctionName":"w","combinerFunctionName":"c","startIndex":0,"endIndex":10,"batchSize":2
        }))
        .unwrap();
        assert!(matches!(start, ManagerInput::Start(_)));
        let spec = sample_spec();
        let node = ManagerEvent {
            level: 1,
            start_index: 0,
            end_index: 4,
            job: spec,
        };
        let mut json = serde_json::to_value(&node).unwrap();
        assert_eq!(json["jobId"], "j");
        assert_eq!(json["numBatches"], 5);
        assert_eq!(json["maxAttempts"], 3);
        let back: ManagerInput = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, ManagerInput::Node(Box::new(node.clone())));
        json["level"] = json!("1");
        json["startIndex"] = json!("0");
        json["numBatches"] = json!("5");
        assert_eq!(
            ManagerInput::from_value(json.clone()).unwrap(),
            ManagerInput::Node(Box::new(node))
        );
        json["level"] = json!("-1");
        assert_eq!(
            ManagerInput::from_value(json).unwrap_err().to_string(),
            "malformed manager event: invalid level: \"-1\" (expected a non-negative integer \
             that fits in u32)"
        );
    }

    #[test]
    fn batch_ranges_clip_at_the_end() {
        let spec = sample_spec();
        assert_eq!(spec.batch_range(0), (10, 12));
        assert_eq!(spec.batch_range(4), (18, 19));
        let ev = serde_json::to_value(spec.worker_event(4, 2)).unwrap();
        assert_eq!(ev["startIndex"], 18);
        assert_eq!(ev["endIndex"], 19);
        assert_eq!(ev["batchId"], 4);
        assert_eq!(ev["tasksTableName"], "t");
        assert_eq!(ev["attempt"], 2);
    }

    #[test]
    fn worker_events_carry_the_job_shape_as_burst_compute_does() {
        let ev = serde_json::to_value(sample_spec().worker_event(1, 1)).unwrap();
        let shape = json!({
            "level": 2, "numLevels": 2, "batchSize": 2, "numBatches": 5, "branchingFactor": 3,
            "searchTimeoutSecs": 10.0, "workerFunctionName": "w", "combinerFunctionName": "c"
        });
        for (key, value) in shape.as_object().unwrap() {
            assert_eq!(&ev[key], value, "{key}");
        }
        let back = WorkerEvent::from_value(ev).unwrap();
        assert_eq!(back, sample_spec().worker_event(1, 1));
    }

    #[test]
    fn worker_events_read_string_numbers_and_default_the_rest() {
        let ev = WorkerEvent::from_value(json!({
            "tasksTableName": "t", "jobId": "j", "batchId": "3", "startIndex": "30",
            "endIndex": "40", "jobParameters": {}, "attempt": "2", "rowTtlSecs": "60",
            "batchSize": "10", "numBatches": "9", "branchingFactor": "3", "numLevels": "2",
            "level": "2", "searchTimeoutSecs": "120"
        }))
        .unwrap();
        assert_eq!((ev.batch_id, ev.start_index, ev.end_index), (3, 30, 40));
        assert_eq!((ev.attempt, ev.row_ttl_secs, ev.batch_size), (2, 60, 10));
        assert_eq!((ev.num_batches, ev.branching_factor), (9, 3));
        assert_eq!(
            (ev.num_levels, ev.level, ev.search_timeout_secs),
            (2, 2, 120.0)
        );

        let minimal = WorkerEvent::from_value(json!({
            "tasksTableName": "t", "jobId": "j", "batchId": 0, "startIndex": 0, "endIndex": 5,
            "jobParameters": null
        }))
        .unwrap();
        assert_eq!((minimal.attempt, minimal.row_ttl_secs), (1, 3600));
        assert_eq!(
            (minimal.batch_size, minimal.num_batches, minimal.num_levels),
            (50, 0, 2)
        );
        assert_eq!(minimal.worker_function_name, "");

        let err = WorkerEvent::from_value(json!({
            "tasksTableName": "t", "jobId": "j", "batchId": "x", "startIndex": 0, "endIndex": 5,
            "jobParameters": {}
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed worker event at batchId: invalid batchId: \"x\" (expected an integer or \
             a string starting with one)"
        );
    }

    #[test]
    fn monitor_requests_dispatch_on_action() {
        let state = MonitorState::initial(sample_spec());
        let poll = MonitorRequest::from_value(serde_json::to_value(&state).unwrap()).unwrap();
        assert_eq!(poll, MonitorRequest::Poll(Box::new(state)));
        let report = MonitorRequest::from_value(json!({
            "action": "reportFailure", "jobId": "j", "error": {"Error": "E", "Cause": "c"}
        }))
        .unwrap();
        assert_eq!(
            report,
            MonitorRequest::ReportFailure(FailureReport {
                job_id: "j".into(),
                error: json!({"Error": "E", "Cause": "c"}),
            })
        );
    }

    #[test]
    fn malformed_monitor_requests_name_the_field() {
        let error = |event: Value| MonitorRequest::from_value(event).unwrap_err().to_string();
        assert_eq!(
            error(json!({"action": "reportFailure", "error": {}})),
            "malformed monitor request: missing field `jobId`"
        );
        assert_eq!(
            error(json!({"action": "retry", "jobId": "j"})),
            "malformed monitor request: invalid action: \"retry\" (expected \"reportFailure\", \
             or no action for a poll)"
        );
        let mut state = serde_json::to_value(MonitorState::initial(sample_spec())).unwrap();
        state["numBatches"] = json!(-5);
        assert_eq!(
            error(state.clone()),
            "malformed monitor request: invalid numBatches: -5 (expected a non-negative integer \
             that fits in u64)"
        );
        state.as_object_mut().unwrap().remove("numBatches");
        assert_eq!(
            error(state),
            "malformed monitor request: missing field `numBatches`"
        );
    }

    #[test]
    fn monitor_responses_have_the_shape_the_state_machine_reads() {
        let mut state = MonitorState::initial(sample_spec());
        state.completed = 4;
        state.num_remaining = 1;
        let polled =
            serde_json::to_value(MonitorResponse::Polled(Box::new(state.clone()))).unwrap();
        assert_eq!(polled, serde_json::to_value(&state).unwrap());
        for key in [
            "completed",
            "numRemaining",
            "timedOut",
            "failuresExceedTolerance",
            "jobId",
        ] {
            assert!(polled.get(key).is_some(), "{key}");
        }
        assert_eq!(
            (
                polled["completed"].as_u64(),
                polled["numRemaining"].as_u64()
            ),
            (Some(4), Some(1))
        );
        let reported = MonitorResponse::FailureReported {
            job_id: "j".into(),
            state: JobState::Failed,
        };
        assert_eq!(
            serde_json::to_value(reported).unwrap(),
            json!({"jobId": "j", "state": "failed"})
        );
    }

    #[test]
    fn combine_summaries_have_the_keys_the_state_machine_reads() {
        let summary = CombineSummary {
            job_id: "j".into(),
            state: JobState::Succeeded,
            outcome_key: "jobs/j/outcome.json".into(),
            completed: 5,
            failed_batches: 0,
            missing_batches: 1,
        };
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            json,
            json!({"jobId": "j", "state": "succeeded", "outcomeKey": "jobs/j/outcome.json",
                   "completed": 5, "failedBatches": 0, "missingBatches": 1})
        );
        assert_eq!(
            serde_json::from_value::<CombineSummary>(json).unwrap(),
            summary
        );
    }

    pub(crate) fn sample_spec() -> JobSpec {
        JobSpec {
            job_id: "j".into(),
            dataset_start_index: 10,
            dataset_end_index: 19,
            batch_size: 2,
            num_batches: 5,
            num_levels: 2,
            branching_factor: 3,
            max_parallelism: 3000,
            search_timeout_secs: 10.0,
            start_time: "2026-01-01T00:00:00.000Z".into(),
            tasks_table_name: "t".into(),
            manager_function_name: "m".into(),
            monitor_function_name: "mon".into(),
            worker_function_name: "w".into(),
            combiner_function_name: "c".into(),
            job_parameters: json!({}),
            settings: JobSettings::default(),
        }
    }
}
