//! Lambda function: the color depth search worker (one batch of library images per invocation).

use burst::WorkerEvent;
use cdsearch_lambda::{handlers, search_worker, start, AwsBackends};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let backends = &start(AwsBackends::worker).await?;
    let worker = &search_worker(backends);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let event = handlers::parse(WorkerEvent::from_value, event.payload)?;
        handlers::worker(backends, worker, event).await
    }))
    .await
}
