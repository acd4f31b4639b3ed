//! Partial results too large for a task-table row, end to end on the local runtime (in memory
//! and on disk): they go to the object store under `partials/<jobId>/`, the rows hold pointers,
//! duplicated deliveries keep the winner's object, and the combiner gets every result exactly.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use burst::local::InvokerLayer;
use burst::partials::job_prefix;
use burst::payload::{ObjectPointer, MIME_OBJECT, OBJECT_AT};
use burst::{
    all_rows, collect_pages, CombineInput, Combiner, JobRequest, JobState, LocalRuntime,
    LocalRuntimeBuilder, PartialResult, TaskError, Worker, WorkerEvent,
};
use common::{batch_and_attempt, bounded, faults, Delivery};
use serde_json::{json, Value};

/// Items of a large batch: enough poorly compressible text to exceed [`OBJECT_AT`] after gzip.
const LARGE_ITEMS: u64 = 30_000;

/// The item strings of batch `batch`: `LARGE_ITEMS` of them for even batches, 3 for odd ones.
fn items_of(batch: u64) -> Vec<String> {
    let n = if batch.is_multiple_of(2) {
        LARGE_ITEMS
    } else {
        3
    };
    let mut x = batch.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{batch}:{x:016x}")
        })
        .collect()
}

/// Returns the item strings of its batch.
struct Items;

#[async_trait]
impl Worker for Items {
    async fn process(&self, event: &WorkerEvent) -> Result<PartialResult, TaskError> {
        Ok(PartialResult::json(json!(items_of(event.batch_id))))
    }
}

/// Concatenates every batch's items in batch order.
struct Concatenate;

#[async_trait]
impl Combiner for Concatenate {
    async fn combine(&self, input: CombineInput) -> Result<Value, TaskError> {
        let mut all = Vec::new();
        for partial in &input.partials {
            let items = partial
                .result
                .as_json()
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    TaskError::new(format!("batch {} is not an array", partial.batch_id))
                })?;
            all.extend(items.iter().cloned());
        }
        Ok(json!({"items": all, "missing": input.missing_batches}))
    }
}

fn runtime() -> LocalRuntimeBuilder {
    LocalRuntime::builder()
        .worker("items", Arc::new(Items))
        .combiner("concat", Arc::new(Concatenate))
        .poll_interval(std::time::Duration::from_millis(20))
        .worker_concurrency(2)
}

/// Every worker invocation delivered twice (as an at-least-once queue may).
fn duplicating() -> InvokerLayer {
    faults(|_, payload| match batch_and_attempt(payload) {
        Some(_) => Delivery::Twice,
        None => Delivery::Once,
    })
}

async fn run_and_check(rt: LocalRuntime) {
    let mut request = JobRequest::new("items", "concat", 0, 6, 1);
    request.search_timeout_secs = 60.0;
    request.settings.stragglers.enabled = false;
    let outcome = rt.run(request).await.unwrap();
    assert_eq!(outcome.state, JobState::Succeeded, "{:?}", outcome.error);
    let expected: Vec<String> = (0..6).flat_map(items_of).collect();
    assert_eq!(
        outcome.result.unwrap(),
        json!({"items": expected, "missing": []}),
        "the combiner got every result exactly"
    );

    let backends = rt.backends();
    let rows = all_rows(backends.tasks.as_ref(), &outcome.job_id)
        .await
        .unwrap();
    assert_eq!(rows.len(), 6);
    let store = backends.store.as_ref();
    for row in &rows {
        if !row.batch_id.is_multiple_of(2) {
            assert_eq!(
                row.results_mime_type, "application/json",
                "small stays inline"
            );
            continue;
        }
        assert_eq!(row.results_mime_type, MIME_OBJECT);
        assert!(row.results.len() < 200, "the row holds a pointer");
        let pointer = ObjectPointer::parse(&row.results).unwrap();
        assert!(
            pointer.size as usize > OBJECT_AT * 3 / 4,
            "{}",
            pointer.size
        );
        assert!(pointer.key.starts_with(&job_prefix(&outcome.job_id)));
        assert_eq!(
            store.get(&pointer.key).await.unwrap().len() as u64,
            pointer.size
        );
    }
    let prefix = job_prefix(&outcome.job_id);
    let objects = collect_pages(|token| {
        let prefix = prefix.clone();
        async move { store.list(&prefix, token.as_deref()).await }
    })
    .await
    .unwrap();
    assert_eq!(
        objects.len(),
        3,
        "one object per large batch: the losing duplicates deleted theirs: {objects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_partial_results_go_through_the_object_store_in_memory() {
    bounded(60, async {
        run_and_check(runtime().invoker_layer(duplicating()).build().unwrap()).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_partial_results_go_through_the_object_store_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    bounded(60, async {
        run_and_check(
            runtime()
                .on_disk(dir.path())
                .invoker_layer(duplicating())
                .build()
                .unwrap(),
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_a_finished_job_deletes_its_state_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    bounded(60, async {
        let rt = runtime().on_disk(dir.path()).build().unwrap();
        let mut request = JobRequest::new("items", "concat", 0, 4, 1);
        request.search_timeout_secs = 60.0;
        let gone = rt.run(request.clone()).await.unwrap();
        let kept = rt.run(request).await.unwrap();
        for job in [&gone.job_id, &kept.job_id] {
            assert!(dir.path().join("tasks").join(job).is_dir());
            assert!(dir.path().join("objects/jobs").join(job).is_dir());
            assert!(dir.path().join("objects/partials").join(job).is_dir());
        }
        assert!(!rt.is_running_here(&gone.job_id));
        let deleted = rt.forget_job(&gone.job_id).await.unwrap();
        // The outcome and the two large results (batches 0 and 2).
        assert_eq!(deleted.objects, 3);
        assert!(deleted.had_status);
        assert!(!dir.path().join("tasks").join(&gone.job_id).exists());
        assert!(!dir.path().join("objects/jobs").join(&gone.job_id).exists());
        assert!(!dir
            .path()
            .join("objects/partials")
            .join(&gone.job_id)
            .exists());
        assert!(rt.attach(&gone.job_id).await.is_err());
        let report = rt.attach(&kept.job_id).await.unwrap();
        assert_eq!(report.outcome.unwrap().result, kept.result);

        // A job that could not start does not count as running here.
        let mut bad = JobRequest::new("items", "concat", 0, 4, 1);
        bad.job_id = Some("never-started".into());
        bad.batch_size = 0;
        assert!(rt.submit(bad).await.is_err());
        assert!(!rt.is_running_here("never-started"));
        rt.forget_job("never-started").await.unwrap();
    })
    .await;
}
