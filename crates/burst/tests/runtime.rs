//! End-to-end jobs on the local runtime, with injected failures. Every test has a time bound.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use burst::attempts::LOST_CAUSE;
use burst::{
    AttemptKind, BurstError, FailureReport, JobRequest, JobState, ManagerInput, MonitorRequest,
    MonitorResponse, PartialResult, TaskError, Worker, WorkerEvent, DEFAULT_MANAGER_FUNCTION,
};
use common::{
    batch_and_attempt, bounded, faults, runtime, sum_of, worker, Act, Delivery, PANIC_MESSAGE,
};
use serde_json::json;

/// 100 items in batches of 10: sum 0..100 = 4950.
fn request() -> JobRequest {
    let mut req = JobRequest::new("sum", "add", 0, 100, 10);
    req.search_timeout_secs = 20.0;
    req.settings.stragglers.enabled = false;
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_runs_end_to_end_through_the_state_machine() {
    bounded(30, async {
        let w = worker(|_, _| Act::Sum);
        let rt = runtime(w.clone()).build().unwrap();
        let mut req = request();
        req.start_index = 7;
        req.end_index = 1007;
        req.batch_size = 9;
        req.num_levels = 3;
        let handle = rt.submit(req).await.unwrap();
        assert_eq!(handle.dispatch.num_batches, 112);
        assert_eq!(handle.dispatch.branching_factor, 5);
        let progress = handle.progress();
        let outcome = handle.wait().await.unwrap();
        assert_eq!(outcome.state, JobState::Succeeded);
        assert_eq!(
            outcome.result.unwrap(),
            json!({"sum": (7..1007u64).sum::<u64>(), "items": 1000, "missing": []})
        );
        assert_eq!(outcome.completed, 112);
        assert!(outcome.failed_batches.is_empty());
        assert_eq!(w.calls.load(Ordering::SeqCst), 112);
        let last = *progress.borrow();
        assert_eq!((last.completed, last.total), (112, 112));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_batches_are_retried_and_their_errors_kept() {
    bounded(30, async {
        let w = worker(|batch, attempt| {
            if batch == 3 && attempt < 3 {
                Act::Fail("disk hiccup")
            } else {
                Act::Sum
            }
        });
        let rt = runtime(w.clone()).build().unwrap();
        let outcome = rt.run(request()).await.unwrap();
        assert_eq!(outcome.state, JobState::Succeeded);
        assert_eq!(outcome.result.unwrap()["sum"], 4950);
        assert_eq!(w.calls.load(Ordering::SeqCst), 12, "10 batches + 2 retries");
        let report = rt.attach(&outcome.job_id).await.unwrap();
        let errors: Vec<_> = report
            .errors
            .iter()
            .map(|e| (e.batch_id, e.attempt, e.cause.as_str()))
            .collect();
        assert_eq!(errors, [(3, 1, "disk hiccup"), (3, 2, "disk hiccup")]);
        assert_eq!(report.status.state, JobState::Succeeded);
    })
    .await;
}

fn failing_twice() -> Arc<dyn Worker> {
    worker(|batch, _| match batch {
        2 => Act::Fail("corrupt input"),
        4 => Act::Panic,
        _ => Act::Sum,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_failures_end_the_job_with_batches_and_causes() {
    bounded(30, async {
        let rt = runtime(failing_twice()).build().unwrap();
        let mut req = request();
        req.settings.max_attempts = 2;
        // One failed batch is tolerated, so the monitor waits until the second one also
        // failed for good (beyond the tolerance it stops early and combines at once).
        req.settings.tolerated_failure_percent = 10.0;
        let outcome = rt.run(req).await.unwrap();
        assert_eq!(outcome.state, JobState::Failed);
        let failed: Vec<_> = outcome
            .failed_batches
            .iter()
            .map(|f| (f.batch_id, f.attempts, f.cause.as_str()))
            .collect();
        assert_eq!(
            failed,
            [
                (2, 2, "corrupt input"),
                (4, 2, &*format!("panicked: {PANIC_MESSAGE} 4"))
            ]
        );
        assert_eq!(outcome.missing_batches, [2, 4]);
        assert_eq!(
            outcome.error.as_deref(),
            Some("2 of 10 batches failed (first: batch 2 after 2 attempt(s): corrupt input)")
        );
        let partial = outcome.result.unwrap();
        assert_eq!(
            partial["sum"],
            4950 - (20..30).sum::<u64>() - (40..50).sum::<u64>()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tolerated_failures_let_the_job_succeed() {
    bounded(30, async {
        let rt = runtime(failing_twice()).build().unwrap();
        let mut req = request();
        req.settings.max_attempts = 1;
        req.settings.tolerated_failure_percent = 20.0;
        let outcome = rt.run(req).await.unwrap();
        assert_eq!(outcome.state, JobState::Succeeded);
        assert_eq!(outcome.failed_batches.len(), 2);
        assert_eq!(outcome.result.unwrap()["missing"], json!([2, 4]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_never_returns_times_the_job_out_with_partial_results() {
    bounded(30, async {
        let rt = runtime(worker(
            |batch, _| {
                if batch == 6 {
                    Act::Hang
                } else {
                    Act::Sum
                }
            },
        ))
        .build()
        .unwrap();
        let mut req = request();
        req.search_timeout_secs = 1.0;
        let start = Instant::now();
        let outcome = rt.run(req).await.unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
        assert_eq!(outcome.state, JobState::TimedOut);
        assert_eq!(outcome.missing_batches, [6]);
        assert_eq!(outcome.completed, 9);
        assert_eq!(outcome.result.unwrap()["sum"], 4950 - (60..70).sum::<u64>());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_invocations_do_not_double_count() {
    bounded(30, async {
        let w = worker(|_, _| Act::Sum);
        let rt = runtime(w.clone())
            .invoker_layer(faults(|function, _| match function {
                "sum" => Delivery::Twice,
                _ => Delivery::Once,
            }))
            .build()
            .unwrap();
        let outcome = rt.run(request()).await.unwrap();
        assert_eq!(outcome.state, JobState::Succeeded);
        assert_eq!(outcome.completed, 10);
        assert_eq!(outcome.result.unwrap()["sum"], 4950);
        assert!(w.calls.load(Ordering::SeqCst) >= 11, "duplicates did run");
        let report = rt.attach(&outcome.job_id).await.unwrap();
        assert_eq!(report.progress.completed, 10);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stragglers_are_reinvoked_and_the_first_result_wins() {
    bounded(30, async {
        let w = worker(|batch, attempt| match (batch, attempt) {
            (8, 1) => Act::Hang,
            _ => Act::Stall(Duration::from_millis(20)),
        });
        let rt = runtime(w.clone()).build().unwrap();
        let mut req = request();
        req.settings.stragglers.enabled = true;
        req.settings.stragglers.min_running_secs = 0.3;
        let start = Instant::now();
        let outcome = rt.run(req).await.unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "took {:?}",
            start.elapsed()
        );
        assert_eq!(outcome.state, JobState::Succeeded);
        assert_eq!(outcome.result.unwrap()["sum"], 4950);
        assert_eq!(w.calls.load(Ordering::SeqCst), 11, "one speculative copy");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_runtime_reattaches_to_a_job_on_disk() {
    bounded(30, async {
        let dir = tempfile::tempdir().unwrap();
        let flaky = || {
            worker(|batch, attempt| {
                if batch == 1 && attempt == 1 {
                    Act::Fail("flaky network")
                } else {
                    Act::Sum
                }
            })
        };
        let job_id = {
            let rt = runtime(flaky()).on_disk(dir.path()).build().unwrap();
            let outcome = rt.run(request()).await.unwrap();
            assert_eq!(outcome.state, JobState::Succeeded);
            outcome.job_id
        };
        let fresh = runtime(flaky()).on_disk(dir.path()).build().unwrap();
        let report = fresh.attach(&job_id).await.unwrap();
        assert_eq!(report.status.state, JobState::Succeeded);
        assert_eq!((report.progress.completed, report.progress.total), (10, 10));
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].cause, "flaky network");
        let outcome = report.outcome.unwrap();
        assert_eq!(outcome.result.unwrap()["sum"], 4950);
        let err = fresh.attach("no-such-job").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "not found: job no-such-job (no status record)"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_functions_are_rejected_up_front() {
    let rt = runtime(worker(|_, _| Act::Sum)).build().unwrap();
    let mut req = request();
    req.worker_function_name = "nope".into();
    let err = rt.submit(req).await.err().unwrap();
    assert_eq!(
        err.to_string(),
        "no worker registered under the name \"nope\""
    );
}

/// Keeps the last event it saw, and sums like [`SumWorker`].
#[derive(Default)]
struct Recording {
    last: Mutex<Option<WorkerEvent>>,
}

#[async_trait]
impl Worker for Recording {
    async fn process(&self, event: &WorkerEvent) -> Result<PartialResult, TaskError> {
        *self.last.lock().unwrap() = Some(event.clone());
        Ok(sum_of(event))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_compute_requests_run_unchanged() {
    bounded(30, async {
        let w = Arc::new(Recording::default());
        let rt = runtime(w.clone()).build().unwrap();
        let input = ManagerInput::from_value(json!({
            "workerFunctionName": "sum", "combinerFunctionName": "add",
            "startIndex": "0", "endIndex": "100", "batchSize": "25", "numLevels": 0,
            "searchTimeoutSecs": "20", "jobParameters": {"k": "v"},
            "stragglers": {"enabled": false}
        }))
        .unwrap();
        let ManagerInput::Start(request) = input else {
            panic!("a start request parsed as {input:?}");
        };
        let outcome = rt.run(*request).await.unwrap();
        assert_eq!(outcome.state, JobState::Succeeded);
        assert_eq!(outcome.result.unwrap()["sum"], 4950);
        let event = w.last.lock().unwrap().clone().unwrap();
        assert_eq!((event.num_batches, event.batch_size), (4, 25));
        assert_eq!(
            (event.num_levels, event.level, event.branching_factor),
            (2, 2, 2)
        );
        assert_eq!(event.search_timeout_secs, 20.0);
        assert_eq!(
            (
                event.worker_function_name.as_str(),
                event.combiner_function_name.as_str()
            ),
            ("sum", "add")
        );
        assert_eq!(event.job_parameters, json!({"k": "v"}));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_reports_leave_ended_jobs_alone_and_name_unknown_ones() {
    bounded(30, async {
        let rt = runtime(worker(|_, _| Act::Sum)).build().unwrap();
        let outcome = rt.run(request()).await.unwrap();
        let report = |job_id: &str| {
            MonitorRequest::ReportFailure(FailureReport {
                job_id: job_id.into(),
                error: json!({"Error": "States.Timeout", "Cause": "late"}),
            })
        };
        let response = burst::monitor::handle(rt.backends(), report(&outcome.job_id))
            .await
            .unwrap();
        assert_eq!(
            response,
            MonitorResponse::FailureReported {
                job_id: outcome.job_id.clone(),
                state: JobState::Succeeded
            }
        );
        let err = burst::monitor::handle(rt.backends(), report("nope"))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "not found: job nope (no status record)");
    })
    .await;
}

/// `request()` with a short recovery grace period, for jobs that lose invocations.
fn recovering_request() -> JobRequest {
    let mut req = request();
    req.settings.recovery_grace_secs = 0.2;
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_worker_invocations_are_recovered_by_the_monitor() {
    bounded(30, async {
        let w = worker(|_, _| Act::Sum);
        let rt = runtime(w.clone())
            .invoker_layer(faults(|function, payload| {
                match (function, batch_and_attempt(payload)) {
                    ("sum", Some((2 | 5, 1))) => Delivery::Refused,
                    _ => Delivery::Once,
                }
            }))
            .build()
            .unwrap();
        let outcome = rt.run(recovering_request()).await.unwrap();
        assert_eq!(outcome.state, JobState::Succeeded);
        assert_eq!(outcome.result.unwrap()["sum"], 4950);
        assert_eq!(outcome.recovered_batches, 2);
        assert_eq!(w.calls.load(Ordering::SeqCst), 10);
        let log = burst::traits::all_attempts(rt.backends().tasks.as_ref(), &outcome.job_id)
            .await
            .unwrap();
        let recovered: Vec<_> = log
            .iter()
            .filter(|r| r.kind == AttemptKind::Recovered)
            .map(|r| (r.batch_id, r.attempt))
            .collect();
        assert_eq!(recovered, [(2, 2), (5, 2)]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_sub_managers_are_all_lost_still_submits_and_completes() {
    bounded(30, async {
        let rt = runtime(worker(|_, _| Act::Sum))
            .invoker_layer(faults(|function, _| match function {
                DEFAULT_MANAGER_FUNCTION => Delivery::Refused,
                _ => Delivery::Once,
            }))
            .build()
            .unwrap();
        let mut req = recovering_request();
        req.settings.max_monitor_invocations_per_poll = 4;
        let handle = rt
            .submit(req)
            .await
            .expect("lost sub-managers do not fail it");
        let outcome = handle.wait().await.unwrap();
        assert_eq!(outcome.state, JobState::Succeeded);
        assert_eq!(outcome.result.unwrap()["sum"], 4950);
        assert_eq!(outcome.recovered_batches, 10);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_lost_at_every_attempt_fails_with_a_named_cause() {
    bounded(30, async {
        let rt = runtime(worker(|_, _| Act::Sum))
            .invoker_layer(faults(|function, payload| {
                match (function, batch_and_attempt(payload)) {
                    ("sum", Some((7, _))) => Delivery::Refused,
                    _ => Delivery::Once,
                }
            }))
            .build()
            .unwrap();
        let outcome = rt.run(recovering_request()).await.unwrap();
        assert_eq!(outcome.state, JobState::Failed);
        let failed: Vec<_> = outcome
            .failed_batches
            .iter()
            .map(|f| (f.batch_id, f.attempts, f.cause.as_str()))
            .collect();
        assert_eq!(failed, [(7, 3, LOST_CAUSE)]);
        assert_eq!(outcome.missing_batches, [7]);
        assert_eq!(
            outcome.error.unwrap(),
            format!("1 of 10 batches failed (first: batch 7 after 3 attempt(s): {LOST_CAUSE})")
        );
        assert_eq!(outcome.recovered_batches, 1);
        assert_eq!(outcome.result.unwrap()["sum"], 4950 - (70..80).sum::<u64>());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_events_fail_the_submission_before_anything_runs() {
    let rt = runtime(worker(|_, _| Act::Sum)).build().unwrap();
    let mut req = request();
    req.job_id = Some("too-big".into());
    req.job_parameters = json!({"data": "x".repeat(300 * 1024)});
    let err = rt.submit(req).await.err().unwrap();
    assert!(matches!(err, BurstError::EventTooLarge { .. }), "{err}");
    let missing = rt.attach("too-big").await.unwrap_err();
    assert_eq!(
        missing.to_string(),
        "not found: job too-big (no status record)"
    );
}
