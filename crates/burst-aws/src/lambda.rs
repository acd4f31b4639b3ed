//! [`Invoker`] over AWS Lambda's asynchronous (`Event`) invocations.

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use burst::asl::{TaskFailure, TaskHandler};
use burst::{BackendError, Invoker};
use serde_json::Value;

use crate::config::AwsClients;
use crate::retry::{with_retries, CallError, ErrorClass, RetryPolicy};

/// Largest payload of an asynchronous invocation (Lambda's limit).
pub const MAX_EVENT_PAYLOAD_BYTES: usize = 256 * 1024;

/// Queues Lambda invocations; retries throttling (`TooManyRequestsException`, EC2 throttling)
/// and 5xx answers with jittered backoff, never 4xx validation errors.
#[derive(Debug, Clone)]
pub struct LambdaInvoker {
    client: aws_sdk_lambda::Client,
    retry: RetryPolicy,
}

impl LambdaInvoker {
    /// An invoker using the shared clients.
    pub fn new(clients: &AwsClients) -> Self {
        LambdaInvoker {
            client: clients.lambda(),
            retry: clients.retry,
        }
    }
}

#[async_trait]
impl Invoker for LambdaInvoker {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<(), BackendError> {
        let what = format!("Lambda Invoke {function_name}");
        let bytes = serde_json::to_vec(&payload)
            .map_err(|e| BackendError::Invalid(format!("{what}: payload is not JSON: {e}")))?;
        if bytes.len() > MAX_EVENT_PAYLOAD_BYTES {
            return Err(BackendError::Invalid(format!(
                "{what}: payload is {} bytes, over the {MAX_EVENT_PAYLOAD_BYTES}-byte limit of asynchronous invocations",
                bytes.len()
            )));
        }
        let payload = Blob::new(bytes);
        let output = with_retries(&self.retry, "Lambda Invoke", || {
            self.client
                .invoke()
                .function_name(function_name)
                .invocation_type(InvocationType::Event)
                .payload(payload.clone())
                .send()
        })
        .await
        .map_err(|e| e.into_backend(&what))?;
        match output.function_error() {
            Some(error) => Err(BackendError::Other(format!(
                "{what}: function error {error}"
            ))),
            None => Ok(()),
        }
    }
}

/// A Task state resource of the monitor state machine run by burst's interpreter: a synchronous
/// (`RequestResponse`) invocation of one Lambda function, as Step Functions does it.
///
/// Function errors keep the `errorType` the function reported (our handlers report burst's error
/// names, e.g. `Burst.Throttled`), so the definition's Retry/Catch rules match as on AWS; failed
/// calls map to Step Functions' `Lambda.*` names.
#[derive(Debug, Clone)]
pub struct LambdaTask {
    client: aws_sdk_lambda::Client,
    function_name: String,
}

impl LambdaTask {
    /// A task that invokes `function_name`.
    pub fn new(clients: &AwsClients, function_name: impl Into<String>) -> Self {
        LambdaTask {
            client: clients.lambda(),
            function_name: function_name.into(),
        }
    }
}

/// The Step Functions error name of a failed Lambda call.
pub fn task_error_name(error: &CallError) -> String {
    match (error.class, error.code.as_deref()) {
        (_, Some("TooManyRequestsException")) => "Lambda.TooManyRequestsException".into(),
        (_, Some(code)) => format!("Lambda.{code}"),
        (ErrorClass::Transient, None) => "Lambda.SdkClientException".into(),
        _ => "Lambda.ServiceException".into(),
    }
}

/// The error name and cause of a function error payload (`{"errorType", "errorMessage"}`).
pub fn function_failure(payload: &[u8]) -> TaskFailure {
    let value: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    TaskFailure {
        error: field("errorType").unwrap_or_else(|| "Lambda.Unknown".into()),
        cause: field("errorMessage")
            .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned()),
    }
}

#[async_trait]
impl TaskHandler for LambdaTask {
    async fn call(&self, input: Value) -> Result<Value, TaskFailure> {
        let bytes = serde_json::to_vec(&input).map_err(|e| TaskFailure {
            error: "States.Runtime".into(),
            cause: format!("input of {} is not JSON: {e}", self.function_name),
        })?;
        let output = self
            .client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(bytes))
            .send()
            .await
            .map_err(|e| {
                let error = CallError::from_sdk(&e);
                TaskFailure {
                    error: task_error_name(&error),
                    cause: format!("Lambda Invoke {}: {}", self.function_name, error.message),
                }
            })?;
        let payload = output.payload().map(Blob::as_ref).unwrap_or_default();
        if output.function_error().is_some() {
            return Err(function_failure(payload));
        }
        if payload.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(payload).map_err(|e| TaskFailure {
            error: "States.Runtime".into(),
            cause: format!(
                "{} returned a result that is not JSON: {e}",
                self.function_name
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_errors_keep_their_type_for_retry_and_catch_rules() {
        let failure = function_failure(
            br#"{"errorType":"Burst.Throttled","errorMessage":"throttled: table"}"#,
        );
        assert_eq!(failure.error, "Burst.Throttled");
        assert_eq!(failure.cause, "throttled: table");
        let raw = function_failure(b"Task timed out after 3.00 seconds");
        assert_eq!(raw.error, "Lambda.Unknown");
        assert_eq!(raw.cause, "Task timed out after 3.00 seconds");
    }

    #[test]
    fn failed_calls_use_step_functions_error_names() {
        let error = |class, code: Option<&str>| CallError {
            class,
            code: code.map(str::to_owned),
            message: String::new(),
            attempts: 1,
        };
        let name = |class, code| task_error_name(&error(class, code));
        assert_eq!(
            name(ErrorClass::Throttled, Some("TooManyRequestsException")),
            "Lambda.TooManyRequestsException"
        );
        assert_eq!(
            name(ErrorClass::Transient, Some("ServiceException")),
            "Lambda.ServiceException"
        );
        assert_eq!(
            name(ErrorClass::Transient, None),
            "Lambda.SdkClientException"
        );
        assert_eq!(
            name(ErrorClass::NotFound, Some("ResourceNotFoundException")),
            "Lambda.ResourceNotFoundException"
        );
    }
}
