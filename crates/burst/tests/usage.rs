//! Cost per job on the local runtime: the outcome's usage adds up what the test itself counts
//! (worker invocations, the app's reported reads, managers of the plan, monitor polls and their
//! state transitions, one combiner), and its dollars are the list-price sum of those drivers.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use burst::cost::{Prices, Usage, COMBINE_TRANSITIONS, TRANSITIONS_PER_POLL};
use burst::plan::Plan;
use burst::{JobRequest, JobState, PartialResult, TaskError, Worker, WorkerEvent};
use common::{bounded, runtime, sum_of};

/// Sums its batch and reports one GET of 1,000 bytes per item, counting its invocations.
struct ReadingWorker {
    calls: AtomicU64,
}

#[async_trait]
impl Worker for ReadingWorker {
    async fn process(&self, event: &WorkerEvent) -> Result<PartialResult, TaskError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let items = event.end_index - event.start_index;
        Ok(sum_of(event).with_usage(Usage {
            s3_get_requests: items,
            s3_bytes_read: items * 1000,
            ..Usage::default()
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outcome_reports_what_the_job_used() {
    bounded(30, async {
        let worker = Arc::new(ReadingWorker {
            calls: AtomicU64::new(0),
        });
        let rt = runtime(worker.clone()).build().unwrap();
        let mut req = JobRequest::new("sum", "add", 0, 500, 7);
        req.num_levels = 2;
        req.search_timeout_secs = 20.0;
        req.settings.stragglers.enabled = false;
        let plan = Plan::new(&req).unwrap();
        let handle = rt.submit(req).await.unwrap();
        let outcome = handle.wait().await.unwrap();
        assert_eq!(outcome.state, JobState::Succeeded);
        let usage = &outcome.usage;

        let workers = &usage.functions["worker"];
        assert_eq!(workers.invocations, worker.calls.load(Ordering::SeqCst));
        assert_eq!(workers.invocations, 72, "500 items in batches of 7");
        assert_eq!(usage.functions["manager"].invocations, plan.num_managers());
        assert_eq!(usage.functions["combiner"].invocations, 1);
        let polls = usage.functions["monitor"].invocations;
        assert!(polls >= 1);
        assert_eq!(
            usage.state_transitions,
            polls * TRANSITIONS_PER_POLL + COMBINE_TRANSITIONS
        );

        // Every item read once, as the worker reported; one outcome object written.
        assert_eq!(usage.s3_get_requests, 500);
        assert_eq!(usage.s3_bytes_read, 500_000);
        assert_eq!(usage.s3_put_requests, 1);
        // Small rows: one write unit each.
        assert_eq!(usage.dynamodb_write_units, 72.0);
        assert!(usage.dynamodb_read_units >= polls as f64);

        // No Lambda memory on the local runtime: durations but no GB-seconds; the process's
        // CPU time instead.
        assert_eq!(usage.gb_seconds(), 0.0);
        assert!(usage.cpu_seconds > 0.0);
        assert_eq!(outcome.cost_usd, usage.cost(&Prices::default()));
        let prices = Prices::default();
        let expected_s3 = 500.0 * prices.s3_get + prices.s3_put;
        assert!((outcome.cost_usd.s3_usd - expected_s3).abs() < 1e-15);
        assert!(
            (outcome.cost_usd.lambda_usd - usage.invocations() as f64 * prices.lambda_request)
                .abs()
                < 1e-15
        );
    })
    .await;
}
