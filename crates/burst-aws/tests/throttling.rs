//! Retries against a scripted local server: throttling and 5xx answers are retried with
//! backoff until they stop, validation errors fail at once.

mod common;

use burst::{BackendError, Invoker, ObjectStore};
use burst_aws::{LambdaInvoker, S3ObjectStore};
use common::{clients_for, fast_retries, Canned, Scripted};
use serde_json::json;

const TOO_MANY_REQUESTS: &str = r#"{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}"#;

fn lambda_error(status: u16, error_type: &str, body: &str) -> Canned {
    Canned::new(
        status,
        &[
            ("x-amzn-ErrorType", error_type),
            ("Content-Type", "application/json"),
        ],
        body,
    )
}

fn throttled() -> Canned {
    lambda_error(429, "TooManyRequestsException", TOO_MANY_REQUESTS)
}

fn accepted() -> Canned {
    Canned::new(202, &[], "")
}

#[tokio::test]
async fn invoker_retries_too_many_requests_until_accepted() {
    let server = Scripted::start(vec![throttled(), throttled(), throttled()], accepted()).await;
    let invoker = LambdaInvoker::new(&clients_for(&server.endpoint).await);
    let payload = json!({"jobId": "j1", "batchId": 4, "startIndex": 8, "endIndex": 10});
    invoker
        .invoke("burst-worker", payload.clone())
        .await
        .unwrap();

    let received = server.received.lock().unwrap().clone();
    assert_eq!(received.len(), 4, "3 throttled calls then the accepted one");
    for request in &received {
        assert!(
            request
                .line
                .starts_with("POST /2015-03-31/functions/burst-worker/invocations "),
            "unexpected request line {}",
            request.line
        );
        let invocation_type = request
            .headers
            .iter()
            .find(|(k, _)| k == "x-amz-invocation-type")
            .map(|(_, v)| v.as_str());
        assert_eq!(invocation_type, Some("Event"));
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body, payload);
    }
}

#[tokio::test]
async fn invoker_gives_up_as_throttled_after_the_last_attempt() {
    let server = Scripted::start(vec![], throttled()).await;
    let invoker = LambdaInvoker::new(&clients_for(&server.endpoint).await);
    let err = invoker.invoke("burst-worker", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Throttled(m) if m.contains("burst-worker") && m.contains("after 6 attempt(s)")),
        "{err}"
    );
    assert_eq!(server.calls(), fast_retries().max_attempts as usize);
}

#[tokio::test]
async fn invoker_retries_server_errors_and_ec2_throttling() {
    let server = Scripted::start(
        vec![
            lambda_error(500, "ServiceException", r#"{"message":"internal"}"#),
            lambda_error(502, "EC2ThrottledException", r#"{"message":"ec2"}"#),
        ],
        accepted(),
    )
    .await;
    let invoker = LambdaInvoker::new(&clients_for(&server.endpoint).await);
    invoker
        .invoke("burst-worker", json!({"a": 1}))
        .await
        .unwrap();
    assert_eq!(server.calls(), 3);
}

#[tokio::test]
async fn invoker_never_retries_validation_errors() {
    let server = Scripted::start(
        vec![],
        lambda_error(
            400,
            "InvalidRequestContentException",
            r#"{"message":"Could not parse request body into json"}"#,
        ),
    )
    .await;
    let invoker = LambdaInvoker::new(&clients_for(&server.endpoint).await);
    let err = invoker.invoke("burst-worker", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid(m) if m.contains("InvalidRequestContentException")),
        "{err}"
    );
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn s3_slow_down_is_retried_with_backoff() {
    let slow_down = Canned::new(
        503,
        &[("Content-Type", "application/xml")],
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
    );
    let server = Scripted::start(
        vec![slow_down.clone(), slow_down],
        Canned::new(
            200,
            &[("Content-Type", "application/octet-stream")],
            "library bytes",
        ),
    )
    .await;
    let store = S3ObjectStore::new(&clients_for(&server.endpoint).await, "lib");
    let slow_downs_before = burst_aws::retry::slow_downs();
    assert_eq!(
        store.get("KEYS/3/keys_denormalized.json").await.unwrap(),
        b"library bytes"
    );
    // No other test of this binary is answered SlowDown: the count is exactly this test's.
    assert_eq!(burst_aws::retry::slow_downs() - slow_downs_before, 2);
    let received = server.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    assert!(
        received[2]
            .line
            .starts_with("GET /lib/KEYS/3/keys_denormalized.json"),
        "{}",
        received[2].line
    );
}
