//! Lambda function: the color depth search combiner (merges a job's hits per mask).

use cdsearch::job::SearchCombiner;
use cdsearch_lambda::{handlers, start};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let backends = &start().await?;
    run(service_fn(move |event: LambdaEvent<Value>| {
        handlers::combiner(backends, &SearchCombiner, event.payload)
    }))
    .await
}
