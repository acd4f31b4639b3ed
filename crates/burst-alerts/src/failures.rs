//! The on-failure destination records of asynchronous invocations, as Lambda writes them (one
//! JSON document per event that failed all its attempts or grew too old in the queue):
//!
//! ```json
//! {"version": "1.0", "timestamp": "2026-12-07T00:00:05.568Z",
//!  "requestContext": {"requestId": "...", "functionArn": "arn:aws:lambda:...:function:cds-worker:$LATEST",
//!                     "condition": "RetriesExhausted", "approximateInvokeCount": 1},
//!  "requestPayload": {"jobId": "...", "batchId": 12, ...},
//!  "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
//!  "responsePayload": {"errorType": "Burst.Throttled", "errorMessage": "..."}}
//! ```
//!
//! The request payload is the burst event (manager or worker), so it names the job.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One failed asynchronous invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// When Lambda gave up on it (ISO 8601).
    pub timestamp: String,
    /// The function (name, from the ARN).
    pub function: String,
    /// Why: `RetriesExhausted` (its attempts failed) or `EventAgeExceeded` (it waited in the
    /// queue too long, e.g. throttled).
    pub condition: String,
    /// Attempts made.
    pub attempts: u64,
    /// The invocation's request id (as in the function's log lines).
    pub request_id: String,
    /// The job of the event (none for a start request without a chosen job id).
    pub job_id: Option<String>,
    /// The batch of a worker event.
    pub batch_id: Option<u64>,
    /// The spawn-tree level of a manager event.
    pub level: Option<u64>,
    /// The function's error (`errorType: errorMessage`), or what Lambda says instead.
    pub error: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(default)]
    timestamp: String,
    request_context: RequestContext,
    #[serde(default)]
    request_payload: Value,
    #[serde(default)]
    response_context: Option<ResponseContext>,
    #[serde(default)]
    response_payload: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext {
    #[serde(default)]
    request_id: String,
    function_arn: String,
    condition: String,
    #[serde(default)]
    approximate_invoke_count: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseContext {
    #[serde(default)]
    function_error: Option<String>,
}

/// Parses one destination record; the error says why it is not one.
pub fn parse_record(body: &str) -> Result<Failure, String> {
    let record: Record =
        serde_json::from_str(body).map_err(|e| format!("not a Lambda destination record: {e}"))?;
    let payload = match &record.request_payload {
        // Lambda passes a payload that is not a JSON object as a string.
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    };
    let number = |name: &str| match payload.get(name) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let context = record.request_context;
    Ok(Failure {
        timestamp: record.timestamp,
        function: function_of_arn(&context.function_arn).to_owned(),
        condition: context.condition.clone(),
        attempts: context.approximate_invoke_count,
        request_id: context.request_id,
        job_id: payload
            .get("jobId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
        batch_id: number("batchId"),
        level: number("level"),
        error: error_text(
            &record.response_payload,
            record.response_context.and_then(|c| c.function_error),
            &context.condition,
        ),
    })
}

/// `errorType: errorMessage` of the response, else its text, else Lambda's function error or
/// the condition.
fn error_text(response: &Value, function_error: Option<String>, condition: &str) -> String {
    let field = |name: &str| response.get(name).and_then(Value::as_str);
    match (field("errorType"), field("errorMessage")) {
        (Some(kind), Some(message)) => format!("{kind}: {message}"),
        (None, Some(message)) => message.to_owned(),
        (Some(kind), None) => kind.to_owned(),
        (None, None) => match response {
            Value::String(text) if !text.is_empty() => text.clone(),
            Value::Null => function_error.unwrap_or_else(|| condition.to_owned()),
            other => other.to_string(),
        },
    }
}

/// The function name in a function ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`).
fn function_of_arn(arn: &str) -> &str {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        [_, _, _, _, _, "function", name, ..] => name,
        _ => arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_worker_record_names_its_job_batch_and_error() {
        let record = json!({
            "version": "1.0",
            "timestamp": "2026-12-07T00:00:05.568Z",
            "requestContext": {
                "requestId": "e4b46cbf-b738-4f5e-8880-a18cdf61200e",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:cds-worker:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1
            },
            "requestPayload": {"tasksTableName": "t", "jobId": "j1", "batchId": "7",
                               "startIndex": 0, "endIndex": 5, "jobParameters": {}},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                "functionError": "Unhandled"},
            "responsePayload": {"errorType": "Burst.Throttled", "errorMessage": "S3 SlowDown"}
        });
        let failure = parse_record(&record.to_string()).unwrap();
        assert_eq!(failure.function, "cds-worker");
        assert_eq!(failure.job_id.as_deref(), Some("j1"));
        assert_eq!((failure.batch_id, failure.level), (Some(7), None));
        assert_eq!(failure.attempts, 1);
        assert_eq!(failure.error, "Burst.Throttled: S3 SlowDown");
    }

    #[test]
    fn an_expired_event_has_no_response_and_says_so() {
        let record = json!({
            "version": "1.0",
            "timestamp": "2026-12-07T00:15:00.000Z",
            "requestContext": {
                "requestId": "r2",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:cds-manager",
                "condition": "EventAgeExceeded",
                "approximateInvokeCount": 0
            },
            "requestPayload": {"jobId": "j2", "level": 1}
        });
        let failure = parse_record(&record.to_string()).unwrap();
        assert_eq!(
            (failure.function.as_str(), failure.level),
            ("cds-manager", Some(1))
        );
        assert_eq!(failure.error, "EventAgeExceeded");
        let crashed = json!({
            "requestContext": {"functionArn": "f", "condition": "RetriesExhausted"},
            "requestPayload": "{\"jobId\": \"j3\"}",
            "responseContext": {"functionError": "Unhandled"}
        });
        let failure = parse_record(&crashed.to_string()).unwrap();
        assert_eq!(
            (failure.job_id.as_deref(), failure.error.as_str()),
            (Some("j3"), "Unhandled")
        );
    }

    #[test]
    fn other_messages_are_named_errors() {
        let err = parse_record("{\"hello\": 1}").unwrap_err();
        assert!(
            err.contains("not a Lambda destination record") && err.contains("requestContext"),
            "{err}"
        );
        assert!(parse_record("not json").is_err());
    }
}
