//! Lambda function: the color depth search worker (one batch of library images per invocation).

use cdsearch_lambda::{handlers, search_worker, start};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let backends = &start().await?;
    let worker = &search_worker(backends);
    run(service_fn(move |event: LambdaEvent<Value>| {
        handlers::worker(backends, worker, event.payload)
    }))
    .await
}
