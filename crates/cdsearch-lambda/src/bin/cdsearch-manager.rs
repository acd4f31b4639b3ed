//! Lambda function: the burst manager (dispatch).

use burst::ManagerInput;
use cdsearch_lambda::{handlers, start, AwsBackends};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let backends = &start(AwsBackends::manager).await?;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let event = handlers::parse(ManagerInput::from_value, event.payload)?;
        handlers::manager(backends, event).await
    }))
    .await
}
