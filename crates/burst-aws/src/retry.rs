//! Retries of AWS calls: which failures are worth retrying, and exponential backoff with full
//! jitter between attempts.
//!
//! The SDK clients are built with their own retries disabled (see [`crate::config`]) so that every
//! retry goes through [`with_retries`]: one policy, the same for S3 `SlowDown`, DynamoDB and
//! Lambda throttling and 5xx answers, visible in logs and testable against a local server.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use burst::BackendError;
use rand::Rng;

/// Error codes that mean "slow down, then try again", whatever their HTTP status.
const THROTTLING_CODES: &[&str] = &[
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "EC2ThrottledException",
];

/// Error codes of failures that may go away, whatever their HTTP status: S3 answers a
/// conditional write that raced another write of the same key with 409
/// `ConditionalRequestConflict` and asks for a retry.
const TRANSIENT_CODES: &[&str] = &["ConditionalRequestConflict"];

/// Error codes that mean the named thing does not exist.
const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchKey",
    "NoSuchBucket",
    "NotFound",
    "ResourceNotFoundException",
    "StateMachineDoesNotExist",
];

/// S3 `SlowDown` answers this process has received (each attempt counts, retried or not).
static SLOW_DOWNS: AtomicU64 = AtomicU64::new(0);

/// How many S3 `SlowDown` answers this process has received so far. A worker reports the
/// difference over its batch as a metric: S3 throttles per prefix, so these say that a library's
/// keys need more prefixes (or batches that spread wider).
pub fn slow_downs() -> u64 {
    SLOW_DOWNS.load(Ordering::Relaxed)
}

/// How a failed call is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The service asked us to slow down: retry after a pause.
    Throttled,
    /// A server-side or network failure that may go away: retry after a pause.
    Transient,
    /// The named thing does not exist: do not retry.
    NotFound,
    /// The request itself was rejected (4xx validation, conditional check, ...): do not retry.
    Rejected,
}

impl ErrorClass {
    /// Whether another attempt may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Throttled | ErrorClass::Transient)
    }

    /// Classifies a service answer by its error code and HTTP status.
    pub fn of_service_error(code: Option<&str>, status: u16) -> Self {
        match code {
            Some(c) if THROTTLING_CODES.contains(&c) => ErrorClass::Throttled,
            Some(c) if NOT_FOUND_CODES.contains(&c) => ErrorClass::NotFound,
            Some(c) if TRANSIENT_CODES.contains(&c) => ErrorClass::Transient,
            _ if status == 429 => ErrorClass::Throttled,
            _ if status >= 500 => ErrorClass::Transient,
            _ if status == 404 => ErrorClass::NotFound,
            _ => ErrorClass::Rejected,
        }
    }
}

/// A failed AWS call, after retries: its class, the service's error code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// How the failure was treated.
    pub class: ErrorClass,
    /// The service's error code (e.g. `ConditionalCheckFailedException`), when it sent one.
    pub code: Option<String>,
    /// What went wrong, as the SDK or the service described it.
    pub message: String,
    /// How many attempts were made.
    pub attempts: u32,
}

impl CallError {
    /// Converts an SDK error, classifying it.
    pub fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (class, code, message) = match err {
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status().as_u16();
                let code = ctx.err().code().map(str::to_owned);
                let message = format!(
                    "HTTP {status} {}: {}",
                    code.as_deref().unwrap_or("(no error code)"),
                    ctx.err().message().unwrap_or("(no message)")
                );
                (
                    ErrorClass::of_service_error(code.as_deref(), status),
                    code,
                    message,
                )
            }
            SdkError::ConstructionFailure(_) => (ErrorClass::Rejected, None, describe_chain(err)),
            _ => (ErrorClass::Transient, None, describe_chain(err)),
        };
        CallError {
            class,
            code,
            message,
            attempts: 1,
        }
    }

    /// A network or I/O failure outside the SDK's request (e.g. reading a response body).
    pub fn transient(message: impl Into<String>) -> Self {
        CallError {
            class: ErrorClass::Transient,
            code: None,
            message: message.into(),
            attempts: 1,
        }
    }

    /// Whether the service answered with this error code.
    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// The framework's error for this failure; `what` names the call and its target.
    pub fn into_backend(self, what: &str) -> BackendError {
        let text = format!(
            "{what}: {} (after {} attempt(s))",
            self.message, self.attempts
        );
        match self.class {
            ErrorClass::Throttled => BackendError::Throttled(text),
            ErrorClass::Transient => BackendError::Other(text),
            ErrorClass::NotFound => BackendError::NotFound(text),
            ErrorClass::Rejected => BackendError::Invalid(text),
        }
    }
}

/// An error and its sources on one line.
pub fn describe_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Exponential backoff with full jitter: the pause before retry `n` (1-based) is drawn uniformly
/// from `[0, min(max_delay, base_delay * 2^(n-1))]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first one included (1 = no retry).
    pub max_attempts: u32,
    /// Upper bound of the first pause.
    pub base_delay: Duration,
    /// Upper bound of any pause.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, pauses capped at 100 ms, 200 ms, ... 5 s: rides out a burst of Lambda or S3
    /// throttling (a few seconds) without holding a worker much longer.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The largest pause before retry `retry` (1-based).
    pub fn delay_cap(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The pause before retry `retry`, scaled by `jitter` in `[0, 1]`.
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        self.delay_cap(retry).mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// Runs `call` until it succeeds, fails with a non-retryable error, or `policy.max_attempts`
/// attempts have failed; pauses with jittered exponential backoff between attempts.
pub async fn with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    mut call: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(err) => {
                let mut error = CallError::from_sdk(&err);
                error.attempts = attempt;
                if error.has_code("SlowDown") {
                    SLOW_DOWNS.fetch_add(1, Ordering::Relaxed);
                }
                if !error.class.is_retryable() || attempt >= policy.max_attempts.max(1) {
                    return Err(error);
                }
                let pause = policy.delay(attempt, rand::thread_rng().gen::<f64>());
                tracing::warn!(
                    call = what,
                    attempt,
                    error = %error.message,
                    pause_ms = pause.as_millis() as u64,
                    "retrying AWS call"
                );
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_retried_but_validation_errors_are_not() {
        let of = ErrorClass::of_service_error;
        assert_eq!(
            of(Some("TooManyRequestsException"), 429),
            ErrorClass::Throttled
        );
        assert_eq!(of(Some("SlowDown"), 503), ErrorClass::Throttled);
        assert_eq!(
            of(Some("EC2ThrottledException"), 502),
            ErrorClass::Throttled
        );
        assert_eq!(of(Some("ServiceException"), 500), ErrorClass::Transient);
        assert_eq!(of(None, 503), ErrorClass::Transient);
        assert_eq!(of(None, 429), ErrorClass::Throttled);
        assert_eq!(of(Some("NoSuchKey"), 404), ErrorClass::NotFound);
        assert_eq!(
            of(Some("ResourceNotFoundException"), 404),
            ErrorClass::NotFound
        );
        assert_eq!(
            of(Some("InvalidRequestContentException"), 400),
            ErrorClass::Rejected
        );
        assert_eq!(
            of(Some("RequestTooLargeException"), 413),
            ErrorClass::Rejected
        );
        assert_eq!(
            of(Some("ConditionalCheckFailedException"), 400),
            ErrorClass::Rejected
        );
        assert_eq!(of(Some("PreconditionFailed"), 412), ErrorClass::Rejected);
        assert_eq!(
            of(Some("ConditionalRequestConflict"), 409),
            ErrorClass::Transient
        );
        assert!(!ErrorClass::Rejected.is_retryable());
        assert!(ErrorClass::Throttled.is_retryable());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_scales_it() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        let caps: Vec<u128> = (1..=6).map(|n| policy.delay_cap(n).as_millis()).collect();
        assert_eq!(caps, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.delay(3, 0.5), Duration::from_millis(200));
        assert_eq!(policy.delay(3, 0.0), Duration::ZERO);
        assert_eq!(policy.delay(3, 7.0), Duration::from_millis(400));
        assert_eq!(policy.delay_cap(60), Duration::from_millis(1000));
    }

    #[test]
    fn final_errors_map_to_backend_errors_naming_the_call() {
        let err = CallError {
            class: ErrorClass::Throttled,
            code: Some("TooManyRequestsException".into()),
            message: "HTTP 429 TooManyRequestsException: Rate exceeded".into(),
            attempts: 8,
        };
        assert!(err.has_code("TooManyRequestsException"));
        assert_eq!(
            err.into_backend("Lambda Invoke burst-worker"),
            BackendError::Throttled(
                "Lambda Invoke burst-worker: HTTP 429 TooManyRequestsException: Rate exceeded (after 8 attempt(s))"
                    .into()
            )
        );
    }
}
