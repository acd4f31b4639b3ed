//! The monitor definition is well formed, and the interpreter follows ASL semantics.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use burst::asl::{
    substitute, AslError, Executor, StateKind, StateMachine, TaskFailure, TaskHandler,
    MONITOR_DEFINITION,
};
use serde_json::{json, Value};

fn monitor_machine() -> StateMachine {
    let text = substitute(
        MONITOR_DEFINITION,
        &[
            ("MonitorFunctionArn", "monitor"),
            ("CombinerFunctionArn", "combiner"),
        ],
    )
    .unwrap();
    StateMachine::from_json(&text).unwrap()
}

#[test]
fn monitor_definition_has_the_expected_shape() {
    let m = monitor_machine();
    assert_eq!(m.start_at, "Monitor");
    let names: Vec<_> = m.states.keys().cloned().collect();
    assert_eq!(
        names,
        [
            "CheckOutcome",
            "CheckProgress",
            "Combine",
            "JobFailed",
            "JobSucceeded",
            "Monitor",
            "ReportFailure",
            "WaitForBatches"
        ]
    );
    let StateKind::Task {
        resource,
        retry,
        catch,
    } = &m.states["Monitor"].kind
    else {
        panic!("Monitor is not a Task");
    };
    assert_eq!(resource, "monitor");
    assert!(retry[0]
        .error_equals
        .contains(&"Lambda.TooManyRequestsException".to_string()));
    assert_eq!(
        catch[0].next, "Combine",
        "the error path must still combine"
    );
    let StateKind::Wait { seconds, .. } = &m.states["WaitForBatches"].kind else {
        panic!("WaitForBatches is not a Wait");
    };
    assert_eq!(*seconds, Some(1.0));
    assert!(m
        .states
        .values()
        .any(|s| matches!(s.kind, StateKind::Succeed)));
    assert!(m
        .states
        .values()
        .any(|s| matches!(s.kind, StateKind::Fail { .. })));
}

#[test]
fn placeholders_must_all_be_substituted() {
    let err = substitute(MONITOR_DEFINITION, &[("MonitorFunctionArn", "m")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid state machine definition: placeholder ${CombinerFunctionArn} has no substitution"
    );
}

#[test]
fn validation_rejects_broken_definitions() {
    let cases = [
        (
            r#"{"StartAt":"X","States":{"A":{"Type":"Succeed"}}}"#,
            "StartAt \"X\" names no state",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}"#,
            "goes to \"B\", which does not exist",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Succeed"},"B":{"Type":"Succeed"}}}"#,
            "\"B\" is unreachable",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A"}}}"#,
            "no terminal state",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":[]}]}}}"#,
            "non-empty ErrorEquals",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Catch":[{"ErrorEquals":["States.ALL"],"Next":"A"},{"ErrorEquals":["X"],"Next":"A"}]}}}"#,
            "must be the last one",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"BackoffRate":0.5}]}}}"#,
            "BackoffRate must be at least 1.0",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Map","End":true}}}"#,
            "unsupported Type \"Map\"",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericEquals":"1","Next":"A"}]}}}"#,
            "wrong type",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B","End":true},"B":{"Type":"Succeed"}}}"#,
            "exactly one of Next",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"x","End":true}}}"#,
            "not a supported path",
        ),
    ];
    for (def, expected) in cases {
        let err = StateMachine::from_json(def).unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "{def}\n  gave: {err}\n  expected: {expected}"
        );
    }
}

struct Flaky {
    fail_first: u32,
    calls: AtomicU32,
    error: &'static str,
}

#[async_trait]
impl TaskHandler for Flaky {
    async fn call(&self, input: Value) -> Result<Value, TaskFailure> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.fail_first {
            return Err(TaskFailure {
                error: self.error.into(),
                cause: format!("call {n}"),
            });
        }
        Ok(json!({"seen": input, "calls": n + 1}))
    }
}

fn flaky(fail_first: u32, error: &'static str) -> Arc<Flaky> {
    Arc::new(Flaky {
        fail_first,
        calls: AtomicU32::new(0),
        error,
    })
}

const TASK_MACHINE: &str = r#"{
  "StartAt": "Prepare",
  "States": {
    "Prepare": {"Type": "Pass", "Result": {"limit": 2}, "ResultPath": "$.config", "Next": "Call"},
    "Call": {
      "Type": "Task", "Resource": "r",
      "InputPath": "$.payload",
      "Parameters": {"value.$": "$.v", "fixed": "k", "name.$": "$$.Execution.Name"},
      "ResultSelector": {"calls.$": "$.calls", "echo.$": "$.seen"},
      "ResultPath": "$.result",
      "Retry": [{"ErrorEquals": ["Throttled"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
      "Next": "Decide"
    },
    "Decide": {
      "Type": "Choice",
      "Choices": [
        {"And": [{"Variable": "$.result.calls", "NumericGreaterThan": 1}, {"Not": {"Variable": "$.config.limit", "NumericLessThan": 2}}], "Next": "Retried"},
        {"Variable": "$.result.echo.fixed", "StringEquals": "k", "Next": "Done"}
      ],
      "Default": "Failed"
    },
    "Retried": {"Type": "Succeed", "OutputPath": "$.result"},
    "Done": {"Type": "Pass", "OutputPath": "$.result.echo", "End": true},
    "Failed": {"Type": "Fail", "Error": "Custom.Failed", "Cause": "caught"}
  }
}"#;

async fn run_task_machine(handler: Arc<Flaky>) -> Result<Value, AslError> {
    let machine = StateMachine::from_json(TASK_MACHINE).unwrap();
    let exec = Executor::new(machine)
        .with_handler("r", handler)
        .with_time_scale(0.001);
    tokio::time::timeout(
        Duration::from_secs(10),
        exec.run("exec-1", json!({"payload": {"v": 7}})),
    )
    .await
    .expect("execution must not hang")
}

#[tokio::test]
async fn paths_parameters_and_selectors_shape_the_data() {
    let out = run_task_machine(flaky(0, "Throttled")).await.unwrap();
    assert_eq!(out, json!({"value": 7, "fixed": "k", "name": "exec-1"}));
}

#[tokio::test]
async fn retries_matching_errors_then_succeeds() {
    let handler = flaky(2, "Throttled");
    let out = run_task_machine(handler.clone()).await.unwrap();
    assert_eq!(out["calls"], 3);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn exhausted_retries_go_to_catch() {
    let handler = flaky(5, "Throttled");
    let err = run_task_machine(handler.clone()).await.unwrap_err();
    assert_eq!(
        err,
        AslError::Failed {
            error: "Custom.Failed".into(),
            cause: "caught".into()
        }
    );
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        3,
        "1 call + 2 retries"
    );
}

#[tokio::test]
async fn unmatched_errors_are_not_retried() {
    let handler = flaky(1, "Other");
    assert!(run_task_machine(handler.clone()).await.is_err());
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn uncaught_errors_fail_the_execution_and_waits_are_scaled() {
    let def = r#"{"StartAt":"W","States":{
        "W":{"Type":"Wait","SecondsPath":"$.secs","Next":"T"},
        "T":{"Type":"Task","Resource":"r","End":true}}}"#;
    let exec = Executor::new(StateMachine::from_json(def).unwrap())
        .with_handler("r", flaky(9, "Boom"))
        .with_time_scale(0.01);
    let start = std::time::Instant::now();
    let err = exec.run("e", json!({"secs": 30})).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        err,
        AslError::Failed {
            error: "Boom".into(),
            cause: "call 0".into()
        }
    );
}

#[tokio::test]
async fn unknown_resource_is_reported() {
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"nope","End":true}}}"#;
    let exec = Executor::new(StateMachine::from_json(def).unwrap());
    let err = exec.run("e", json!({})).await.unwrap_err();
    assert!(
        err.to_string().contains("no handler for resource \"nope\""),
        "{err}"
    );
}
