//! One search, one X-Ray trace: inside a Lambda invocation (`AWS_LAMBDA_FUNCTION_NAME` and
//! `_X_AMZN_TRACE_ID` set, as lambda_runtime sets the latter per invocation), every fan-out
//! invoke carries the invocation's trace header, so the managers and workers it starts join the
//! caller's trace. Kept in its own test binary: it sets process-wide environment variables.

mod common;

use burst::Invoker;
use burst_aws::LambdaInvoker;
use common::{clients_for, Canned, Scripted};
use serde_json::json;

const TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

#[tokio::test]
async fn fan_out_invokes_carry_the_invocation_trace_header() {
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "cds-manager");
    std::env::set_var("_X_AMZN_TRACE_ID", TRACE);
    let server = Scripted::start(vec![], Canned::new(202, &[], "")).await;
    let invoker = LambdaInvoker::new(&clients_for(&server.endpoint).await);
    invoker
        .invoke("cds-worker", json!({"jobId": "j1", "batchId": 0}))
        .await
        .unwrap();
    let received = server.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let header = received[0]
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-amzn-trace-id"))
        .map(|(_, value)| value.as_str());
    assert_eq!(header, Some(TRACE));
}
