//! The object store's part in burst on moto's S3: conditional creates, and partial results of
//! several MB. DynamoDB refuses such a result as a row, so the worker stores it in S3 under
//! `partials/<jobId>/` and writes a pointer row; duplicated deliveries keep the first row and
//! its object; the combiner reads the objects and gets every result exactly.

mod common;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use burst::outcome::load_outcome;
use burst::partials::job_prefix;
use burst::payload::{self, ObjectPointer, MIME_OBJECT};
use burst::{
    all_rows, collect_pages, combine, worker, BackendError, Backends, BatchRow, CombineInput,
    Combiner, Invoker, JobSettings, JobSpec, JobState, JobStatus, MonitorState, ObjectStore,
    PartialResult, PutOutcome, StateMachineStarter, TaskError, TaskTable, Worker, WorkerEvent,
};
use burst_aws::{DynamoTaskTable, S3ObjectStore};
use common::{create_bucket, Moto};
use serde_json::{json, Value};

const JOB: &str = "job-large";
const BUCKET: &str = "search";
/// Items of a large batch: 16 random hex digits each, about 6 MB of JSON, 3 MB after gzip.
const LARGE_ITEMS: usize = 300_000;

/// Batch 1 returns three items, the others [`LARGE_ITEMS`] pseudo-random ones.
fn items_of(batch: u64) -> Vec<String> {
    let n = if batch == 1 { 3 } else { LARGE_ITEMS };
    let mut x = (batch + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{x:016x}")
        })
        .collect()
}

struct Items;

#[async_trait]
impl Worker for Items {
    async fn process(&self, event: &WorkerEvent) -> Result<PartialResult, TaskError> {
        Ok(PartialResult::json(json!(items_of(event.batch_id))))
    }
}

/// Concatenates the batches' items in batch order.
struct Concatenate;

#[async_trait]
impl Combiner for Concatenate {
    async fn combine(&self, input: CombineInput) -> Result<Value, TaskError> {
        let mut all = Vec::new();
        for partial in input.partials {
            let batch_id = partial.batch_id;
            match partial.result.data {
                burst::ResultData::Json(Value::Array(items)) => all.extend(items),
                _ => return Err(TaskError::new(format!("batch {batch_id} is not an array"))),
            }
        }
        Ok(json!({"items": all, "missing": input.missing_batches}))
    }
}

/// The combine step needs neither an invoker nor a state machine.
struct Unused;

#[async_trait]
impl Invoker for Unused {
    async fn invoke(&self, function_name: &str, _: Value) -> Result<(), BackendError> {
        Err(BackendError::Invalid(format!(
            "unexpected invoke of {function_name}"
        )))
    }
}

#[async_trait]
impl StateMachineStarter for Unused {
    async fn start_execution(&self, name: &str, _: Value) -> Result<String, BackendError> {
        Err(BackendError::Invalid(format!(
            "unexpected execution {name}"
        )))
    }
}

fn spec() -> JobSpec {
    JobSpec {
        job_id: JOB.into(),
        dataset_start_index: 0,
        dataset_end_index: 3,
        batch_size: 1,
        num_batches: 3,
        num_levels: 1,
        branching_factor: 3,
        max_parallelism: 3000,
        search_timeout_secs: 600.0,
        start_time: "2026-01-01T00:00:00.000Z".into(),
        tasks_table_name: "tasks".into(),
        manager_function_name: "m".into(),
        monitor_function_name: "mon".into(),
        worker_function_name: "w".into(),
        combiner_function_name: "c".into(),
        job_parameters: json!({}),
        settings: JobSettings::default(),
    }
}

fn event(batch_id: u64) -> WorkerEvent {
    WorkerEvent::from_value(json!({
        "tasksTableName": "tasks", "jobId": JOB, "batchId": batch_id,
        "startIndex": batch_id, "endIndex": batch_id + 1, "jobParameters": {}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_result_of_several_mb_is_stored_in_s3_and_combined_exactly() {
    let moto = Moto::start().await;
    let clients = moto.clients().await;
    let table = Arc::new(DynamoTaskTable::new(&clients, "tasks"));
    table.create_table().await.unwrap();
    create_bucket(&clients, BUCKET).await;
    let s3 = S3ObjectStore::new(&clients, BUCKET);
    let (tasks, store): (Arc<dyn TaskTable>, Arc<dyn ObjectStore>) = (table, Arc::new(s3));

    // Inline, the large result is far beyond DynamoDB's 400 KB item limit.
    let large = PartialResult::json(json!(items_of(0)));
    let (inline, mime) = payload::encode(&large);
    let json_bytes = serde_json::to_vec(large.as_json().unwrap()).unwrap().len();
    eprintln!(
        "partial result: {json_bytes} bytes of JSON, {} characters inline (gzip + base64)",
        inline.len()
    );
    assert!(inline.len() > 3_000_000, "{}", inline.len());
    let refused = tasks
        .put_row(&BatchRow {
            job_id: "job-inline".into(),
            batch_id: 0,
            ttl: 1_900_000_000,
            results: inline,
            results_mime_type: mime.into(),
            nresults: LARGE_ITEMS as u64,
            attempt: 1,
            started_at_ms: 0,
            finished_at_ms: 0,
            usage: Default::default(),
        })
        .await;
    assert!(
        refused.is_err(),
        "moto enforces the item limit as DynamoDB does"
    );

    // Every batch delivered twice at once: exactly one row each, the other copy discarded.
    for batch in 0..3 {
        let (a, b) = tokio::join!(
            worker::handle(tasks.as_ref(), store.as_ref(), &Items, event(batch)),
            worker::handle(tasks.as_ref(), store.as_ref(), &Items, event(batch)),
        );
        let mut outcomes = [a.unwrap(), b.unwrap()];
        outcomes.sort_by_key(|o| *o == PutOutcome::AlreadyPresent);
        assert_eq!(
            outcomes,
            [PutOutcome::Inserted, PutOutcome::AlreadyPresent],
            "batch {batch}"
        );
    }
    let rows = all_rows(tasks.as_ref(), JOB).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1].results, json!(items_of(1)).to_string());
    let mut object_bytes = 0;
    for row in [&rows[0], &rows[2]] {
        assert_eq!(row.results_mime_type, MIME_OBJECT);
        assert_eq!(row.nresults, LARGE_ITEMS as u64);
        let pointer = ObjectPointer::parse(&row.results).unwrap();
        assert!(pointer.key.starts_with(&job_prefix(JOB)), "{}", pointer.key);
        assert!(pointer.size > 2_000_000, "{}", pointer.size);
        object_bytes += pointer.size;
    }
    let prefix = job_prefix(JOB);
    let objects = collect_pages(|token| {
        let (store, prefix) = (&store, prefix.clone());
        async move { store.list(&prefix, token.as_deref()).await }
    })
    .await
    .unwrap();
    assert_eq!(
        objects.iter().map(|o| o.size).sum::<u64>(),
        object_bytes,
        "only the winners' objects remain: {objects:?}"
    );
    eprintln!("stored objects: {object_bytes} bytes in 2 objects");

    let backends = Backends {
        tasks: tasks.clone(),
        store: store.clone(),
        invoker: Arc::new(Unused),
        starter: Arc::new(Unused),
    };
    tasks.put_status(&JobStatus::started(spec())).await.unwrap();
    let started = Instant::now();
    let summary = combine::handle(&backends, &Concatenate, MonitorState::initial(spec()))
        .await
        .unwrap();
    eprintln!(
        "combine (rows, 2 objects from moto, decode, combiner, outcome): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(summary.state, JobState::Succeeded);
    assert_eq!(summary.completed, 3);
    let outcome = load_outcome(&backends, &summary.outcome_key).await.unwrap();
    let expected: Vec<String> = (0..3).flat_map(items_of).collect();
    assert_eq!(
        outcome.result.unwrap(),
        json!({"items": expected, "missing": []})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_put_if_absent_creates_once_among_concurrent_writers() {
    let moto = Moto::start().await;
    let clients = moto.clients().await;
    create_bucket(&clients, BUCKET).await;
    let s3 = S3ObjectStore::new(&clients, BUCKET);
    let store: Arc<dyn ObjectStore> = Arc::new(s3);
    let writers: Vec<_> = (0..8u8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { (n, store.put_if_absent("keys/k", vec![n; 64]).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for writer in writers {
        let (n, outcome) = writer.await.unwrap();
        if outcome.unwrap() == PutOutcome::Inserted {
            winners.push(n);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(store.get("keys/k").await.unwrap(), vec![winners[0]; 64]);
    assert_eq!(
        store
            .put_if_absent("keys/k", b"late".to_vec())
            .await
            .unwrap(),
        PutOutcome::AlreadyPresent
    );
    assert_eq!(store.get("keys/k").await.unwrap(), vec![winners[0]; 64]);
    assert_eq!(
        store
            .put_if_absent("keys/other", b"new".to_vec())
            .await
            .unwrap(),
        PutOutcome::Inserted
    );
}
