//! `cdsearch jobs failures JOB_ID` against moto (SQS): a stack's failure queue holding Lambda's
//! destination records of several jobs (shaped as Lambda writes them) and a message that is not
//! one; the command prints the job's failures and leaves every message in the queue.

#[path = "../../burst-aws/tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use aws_sdk_sqs::types::QueueAttributeName;
use common::Moto;
use serde_json::{json, Value};

/// A destination record of a failed asynchronous invocation, as Lambda sends it to the queue.
fn record(function: &str, condition: &str, payload: Value, response: Option<Value>) -> Value {
    let mut record = json!({
        "version": "1.0",
        "timestamp": "2026-12-07T00:00:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4f5e-8880-a18cdf61200e",
            "functionArn": format!("arn:aws:lambda:us-east-1:123456789012:function:{function}:$LATEST"),
            "condition": condition,
            "approximateInvokeCount": if condition == "EventAgeExceeded" { 0 } else { 2 }
        },
        "requestPayload": payload,
    });
    if let Some(response) = response {
        record["responseContext"] =
            json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"});
        record["responsePayload"] = response;
    }
    record
}

fn worker_event(job: &str, batch: u64) -> Value {
    json!({"tasksTableName": "tasks", "jobId": job, "batchId": batch, "startIndex": batch * 50,
           "endIndex": batch * 50 + 50, "jobParameters": {}, "attempt": 1})
}

fn cdsearch(moto: &Moto, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .args(args)
        .args(["--endpoint", &moto.endpoint])
        .env_remove("AWS_ACCESS_KEY_ID")
        .output()
        .expect("cdsearch runs")
}

#[tokio::test]
async fn a_job_s_failures_are_listed_and_left_in_the_queue() {
    let moto = Moto::start().await;
    let clients = moto.clients().await;
    let sqs = burst_alerts::aws::sqs_client(&clients);
    let url = sqs
        .create_queue()
        .queue_name("cds-failures")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let throttled =
        json!({"errorType": "Burst.Throttled", "errorMessage": "S3 GetObject: SlowDown"});
    let messages = [
        record(
            "cds-worker",
            "RetriesExhausted",
            worker_event("job-a", 7),
            Some(throttled.clone()),
        ),
        record(
            "cds-worker",
            "RetriesExhausted",
            worker_event("job-b", 1),
            Some(throttled),
        ),
        record(
            "cds-manager",
            "EventAgeExceeded",
            json!({"jobId": "job-a", "level": 1, "startIndex": 0}),
            None,
        ),
        json!({"something": "else"}),
    ];
    for message in &messages {
        sqs.send_message()
            .queue_url(&url)
            .message_body(message.to_string())
            .send()
            .await
            .unwrap();
    }

    let output = cdsearch(
        &moto,
        &[
            "jobs", "failures", "job-a", "--stack", "cds", "--format", "json",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let failures: Value = serde_json::from_slice(&output.stdout).unwrap();
    let failures = failures.as_array().unwrap();
    assert_eq!(failures.len(), 2, "{failures:?}");
    let worker = failures
        .iter()
        .find(|f| f["function"] == "cds-worker")
        .unwrap();
    assert_eq!(worker["batchId"], 7);
    assert_eq!(worker["condition"], "RetriesExhausted");
    assert_eq!(worker["attempts"], 2);
    assert_eq!(worker["error"], "Burst.Throttled: S3 GetObject: SlowDown");
    let manager = failures
        .iter()
        .find(|f| f["function"] == "cds-manager")
        .unwrap();
    assert_eq!(
        (manager["level"].as_u64(), manager["error"].as_str()),
        (Some(1), Some("EventAgeExceeded"))
    );
    assert!(
        stderr.contains("2 failed invocation(s) of job job-a among 4 message(s)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 message(s) are not Lambda destination records"),
        "{stderr}"
    );

    // The table, read again: the messages are still there.
    let output = cdsearch(
        &moto,
        &["jobs", "failures", "job-b", "--queue", "cds-failures"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows[0].starts_with("time")
            && rows[1].contains("cds-worker")
            && rows[1].contains("batch 1"),
        "{table}"
    );
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let visible = &attributes.attributes.unwrap()[&QueueAttributeName::ApproximateNumberOfMessages];
    assert_eq!(visible, "4", "every message is visible again");

    let missing = cdsearch(&moto, &["jobs", "failures", "job-a", "--stack", "nostack"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("finding the failure queue nostack-failures"),
        "{stderr}"
    );
}
