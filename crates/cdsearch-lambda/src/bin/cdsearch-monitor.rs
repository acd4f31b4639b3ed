//! Lambda function: the burst monitor (one poll of the task table per invocation).

use burst::MonitorRequest;
use cdsearch_lambda::{handlers, start, AwsBackends};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let backends = &start(AwsBackends::monitor).await?;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let event = handlers::parse(MonitorRequest::from_value, event.payload)?;
        handlers::monitor(backends, event).await
    }))
    .await
}
