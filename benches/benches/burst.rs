//! Framework overhead on the local runtime: a 3,000-batch job with a no-op worker, end to end
//! through the manager tree, task table, monitor state machine and combiner, against calling
//! the same worker directly in a loop. Also prints the fan-out simulation table.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use burst::{
    CombineInput, Combiner, JobRequest, LocalRuntime, PartialResult, TaskError, Worker, WorkerEvent,
};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

const BATCHES: u64 = 3000;

struct Noop;

#[async_trait]
impl Worker for Noop {
    async fn process(&self, event: &WorkerEvent) -> Result<PartialResult, TaskError> {
        Ok(PartialResult::json(json!(event.batch_id)))
    }
}

struct Count;

#[async_trait]
impl Combiner for Count {
    async fn combine(&self, input: CombineInput) -> Result<Value, TaskError> {
        Ok(json!(input.partials.len()))
    }
}

fn request() -> JobRequest {
    let mut req = JobRequest::new("noop", "count", 0, BATCHES, 1);
    req.settings.stragglers.enabled = false;
    req
}

fn overhead(c: &mut Criterion) {
    println!("{}", burst::sim::default_table());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = LocalRuntime::builder()
        .worker("noop", Arc::new(Noop))
        .combiner("count", Arc::new(Count))
        .poll_interval(Duration::from_millis(1))
        .build()
        .unwrap();
    let events: Vec<WorkerEvent> = {
        let spec = burst::manager::describe_job(&request(), &Default::default(), "bench".into(), 0)
            .unwrap();
        (0..BATCHES).map(|b| spec.worker_event(b, 1)).collect()
    };
    let mut group = c.benchmark_group("burst_3000_batches");
    group.sample_size(10);
    group.bench_function("direct_loop", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut n = 0;
                for e in &events {
                    n += Noop.process(e).await.unwrap().nresults;
                }
                n
            })
        })
    });
    group.bench_function("local_runtime_end_to_end", |b| {
        b.iter(|| {
            let outcome = rt.block_on(runtime.run(request())).unwrap();
            assert_eq!(outcome.result, Some(json!(BATCHES)));
        })
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
