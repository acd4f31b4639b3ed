//! A gateway in front of the Lambda emulator: forwards every Invoke request unchanged and records
//! it; it can answer the first invocations of chosen functions as AWS Lambda does when it
//! throttles (429, `x-amzn-ErrorType: TooManyRequestsException`), so the callers' retries are
//! tested against the SDK's real error path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Lambda's answer to an invocation over the function's concurrency limit.
const TOO_MANY_REQUESTS: &str = r#"{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}"#;
/// Largest request body forwarded (Lambda's synchronous payload limit).
const MAX_BODY: usize = 6 * 1024 * 1024;

/// One Invoke request that reached the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The function invoked.
    pub function: String,
    /// `Event` or `RequestResponse`.
    pub invocation_type: String,
    /// Whether the gateway answered it with a throttling error instead of forwarding it.
    pub throttled: bool,
    /// Status of the answer.
    pub status: u16,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    /// Invocations still to throttle, by function.
    throttle: Mutex<HashMap<String, usize>>,
    calls: Mutex<Vec<Call>>,
}

/// The running gateway.
pub struct Gateway {
    /// Its base URL, to use as the Lambda endpoint.
    pub endpoint: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The function named in an Invoke path, `/2015-03-31/functions/<name>/invocations`.
fn function_of(path: &str) -> Option<&str> {
    path.strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")
}

fn throttled() -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-amzn-ErrorType",
        "TooManyRequestsException".parse().unwrap(),
    );
    headers.insert("content-type", "application/json".parse().unwrap());
    (StatusCode::TOO_MANY_REQUESTS, headers, TOO_MANY_REQUESTS).into_response()
}

fn bad_gateway(message: String) -> Response {
    (StatusCode::BAD_GATEWAY, message).into_response()
}

impl Shared {
    /// Whether this call of `function` is to be throttled (and one fewer remain).
    fn take_throttle(&self, function: &str) -> bool {
        let mut throttle = self.throttle.lock().unwrap();
        match throttle.get_mut(function) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }

    async fn forward(&self, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let body = match to_bytes(body, MAX_BODY).await {
            Ok(body) => body,
            Err(e) => return bad_gateway(format!("cannot read the request body: {e}")),
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let sent = self
            .client
            .request(parts.method, format!("{}{path}", self.upstream))
            .headers(parts.headers)
            .body(body)
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => return bad_gateway(format!("the Lambda emulator is unreachable: {e}")),
        };
        let (status, mut headers) = (answer.status(), answer.headers().clone());
        // The body is passed on whole: hop-by-hop framing headers do not apply to it.
        headers.remove("transfer-encoding");
        headers.remove("connection");
        match answer.bytes().await {
            Ok(bytes) => (status, headers, Body::from(bytes)).into_response(),
            Err(e) => bad_gateway(format!("cannot read the emulator's answer: {e}")),
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let function = function_of(request.uri().path())
        .unwrap_or_default()
        .to_owned();
    let invocation_type = request
        .headers()
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_owned();
    let throttle = shared.take_throttle(&function);
    let response = if throttle {
        throttled()
    } else {
        shared.forward(request).await
    };
    shared.calls.lock().unwrap().push(Call {
        function,
        invocation_type,
        throttled: throttle,
        status: response.status().as_u16(),
    });
    response
}

impl Gateway {
    /// Starts a gateway to the emulator at `upstream` on a free loopback port, throttling the
    /// first `throttle[f]` invocations of each function `f`.
    pub async fn start(upstream: &str, throttle: &[(&str, usize)]) -> Gateway {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            throttle: Mutex::new(throttle.iter().map(|(f, n)| (f.to_string(), *n)).collect()),
            calls: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Lambda gateway");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("Lambda gateway");
        });
        Gateway {
            endpoint,
            shared,
            task,
        }
    }

    /// Every call so far, in the order they were answered.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// The calls of `function` so far.
    pub fn calls_of(&self, function: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.function == function)
            .collect()
    }
}
