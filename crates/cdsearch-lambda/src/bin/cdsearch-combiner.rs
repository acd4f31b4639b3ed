//! Lambda function: the color depth search combiner (merges a job's hits per mask, then runs
//! the shape stage when the job asks for it).

use burst::MonitorState;
use cdsearch_lambda::{handlers, search_combiner, start, AwsBackends};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let backends = &start(AwsBackends::combiner).await?;
    let combiner = &search_combiner(backends);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let event = handlers::parse(MonitorState::from_value, event.payload)?;
        handlers::combiner(backends, combiner, event).await
    }))
    .await
}
