//! The minimal Rust Lambda function: `lambda_runtime` with a handler that answers each event
//! with itself. It is the baseline of the init-time benchmark (`scripts/lambda-init.sh`, see
//! docs/lambda-init.md), built with the same `lambda` profile, in the same cargo invocation (so
//! with the same features), as the functions.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
