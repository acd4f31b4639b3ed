//! A Step Functions endpoint for the manager's `StartExecution`: each execution runs the monitor
//! state machine (`statemachine/monitor.asl.json`, the definition the local runtime runs) with
//! burst's interpreter, its Task states invoking the monitor and combiner Lambdas as Step
//! Functions does (`burst_aws::LambdaTask`, synchronous invocations).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use burst::asl::{substitute, Executor, StateMachine, MONITOR_DEFINITION};
use burst_aws::sfn::execution_arn;
use burst_aws::{AwsClients, LambdaTask};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How an execution ended: the output of its Succeed state, or its error.
pub type Ended = Result<Value, String>;

struct Shared {
    state_machine_arn: String,
    executor: Executor,
    executions: Mutex<HashMap<String, watch::Sender<Option<Ended>>>>,
    started: Mutex<Vec<String>>,
}

/// The running endpoint.
pub struct StepFunctions {
    /// Its base URL, to use as the Step Functions endpoint.
    pub endpoint: String,
    /// The ARN of the one state machine it runs.
    pub state_machine_arn: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for StepFunctions {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The ARN of Lambda function `name` in the emulated account.
pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")
}

impl Shared {
    fn execution(&self, name: &str) -> watch::Sender<Option<Ended>> {
        self.executions
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_insert_with(|| watch::channel(None).0)
            .clone()
    }
}

/// An AWS JSON 1.0 error answer.
fn error(status: StatusCode, kind: &str, message: String) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("x-amzn-ErrorType", kind.parse().unwrap());
    headers.insert(
        "content-type",
        "application/x-amz-json-1.0".parse().unwrap(),
    );
    let body = json!({ "__type": kind, "message": message }).to_string();
    (status, headers, body).into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target != "AWSStepFunctions.StartExecution" {
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("operation {target:?} (only StartExecution is emulated)"),
        );
    }
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let (arn, name) = (
        request["stateMachineArn"].as_str(),
        request["name"].as_str(),
    );
    if arn != Some(shared.state_machine_arn.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            "StateMachineDoesNotExist",
            format!(
                "state machine {arn:?} (expected {})",
                shared.state_machine_arn
            ),
        );
    }
    let Some(name) = name.map(str::to_owned) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidName",
            "StartExecution without a name".into(),
        );
    };
    let input: Value = request["input"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    {
        let mut started = shared.started.lock().unwrap();
        if started.contains(&name) {
            return error(
                StatusCode::BAD_REQUEST,
                "ExecutionAlreadyExists",
                format!("execution {name} was already started"),
            );
        }
        started.push(name.clone());
    }
    let ended = shared.execution(&name);
    let executor = shared.executor.clone();
    let execution = name.clone();
    tokio::spawn(async move {
        let result = executor
            .run(&execution, input)
            .await
            .map_err(|e| e.to_string());
        ended.send_replace(Some(result));
    });
    let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let body = json!({
        "executionArn": execution_arn(&shared.state_machine_arn, &name),
        "startDate": started.as_secs_f64(),
    });
    (
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

impl StepFunctions {
    /// Starts the endpoint on a free loopback port. Executions call `monitor` and `combiner`
    /// with `clients` (their Lambda endpoint) and wait `time_scale` times the definition's
    /// Wait and Retry intervals.
    pub async fn start(
        clients: &AwsClients,
        monitor: &str,
        combiner: &str,
        time_scale: f64,
    ) -> StepFunctions {
        let (monitor_arn, combiner_arn) = (function_arn(monitor), function_arn(combiner));
        let definition = substitute(
            MONITOR_DEFINITION,
            &[
                ("MonitorFunctionArn", &monitor_arn),
                ("CombinerFunctionArn", &combiner_arn),
            ],
        )
        .expect("the monitor definition has only the two placeholders");
        let machine = StateMachine::from_json(&definition).expect("the monitor definition");
        let executor = Executor::new(machine)
            .with_handler(&monitor_arn, Arc::new(LambdaTask::new(clients, monitor)))
            .with_handler(&combiner_arn, Arc::new(LambdaTask::new(clients, combiner)))
            .with_time_scale(time_scale);
        let state_machine_arn =
            "arn:aws:states:us-east-1:000000000000:stateMachine:burst-monitor".to_owned();
        let shared = Arc::new(Shared {
            state_machine_arn: state_machine_arn.clone(),
            executor,
            executions: Mutex::new(HashMap::new()),
            started: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Step Functions endpoint");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/", post(handle))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("Step Functions endpoint");
        });
        StepFunctions {
            endpoint,
            state_machine_arn,
            shared,
            task,
        }
    }

    /// Waits (at most `timeout`) for execution `name` to be started and to end.
    pub async fn wait_for(&self, name: &str, timeout: Duration) -> Option<Ended> {
        let mut ended = self.shared.execution(name).subscribe();
        let waited = tokio::time::timeout(timeout, ended.wait_for(Option::is_some)).await;
        let end = waited.ok().and_then(Result::ok).map(|end| end.clone());
        end.flatten()
    }

    /// Names of the executions started so far, in order.
    pub fn started(&self) -> Vec<String> {
        self.shared.started.lock().unwrap().clone()
    }
}
