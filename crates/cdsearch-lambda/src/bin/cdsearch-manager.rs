//! Lambda function: the burst manager (dispatch).

use cdsearch_lambda::{handlers, start};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let backends = &start().await?;
    run(service_fn(move |event: LambdaEvent<Value>| {
        handlers::manager(backends, event.payload)
    }))
    .await
}
