//! Runs a [`StateMachine`] with Task resources resolved to in-process handlers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::definition::{
    Catcher, Comparison, Condition, Io, State, StateKind, StateMachine, Transition,
};
use super::error::AslError;
use super::path;

/// A failed Task: an error name (matched by Retry/Catch) and a cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// Error name, e.g. `Burst.Throttled`.
    pub error: String,
    /// Human-readable cause.
    pub cause: String,
}

/// What a Task state's resource does.
#[async_trait]
pub trait TaskHandler: Send + Sync {
    /// Runs the task on its effective input and returns its result.
    async fn call(&self, input: Value) -> Result<Value, TaskFailure>;
}

/// Runs executions of one state machine.
#[derive(Clone)]
pub struct Executor {
    machine: Arc<StateMachine>,
    handlers: HashMap<String, Arc<dyn TaskHandler>>,
    time_scale: f64,
}

fn path_err(state: &str, path: &str, message: String) -> AslError {
    AslError::Path {
        state: state.to_string(),
        path: path.to_string(),
        message,
    }
}

fn matches(names: &[String], error: &str) -> bool {
    names.iter().any(|n| {
        n == error || n == "States.ALL" || (n == "States.TaskFailed" && error != "States.Timeout")
    })
}

fn compare(op: Comparison, actual: Option<&Value>, operand: &Value) -> bool {
    let num = |v: Option<&Value>| v.and_then(Value::as_f64);
    let (a, b) = (num(actual), operand.as_f64());
    let ordered = |f: fn(f64, f64) -> bool| matches!((a, b), (Some(a), Some(b)) if f(a, b));
    match op {
        Comparison::BooleanEquals | Comparison::StringEquals => actual == Some(operand),
        Comparison::NumericEquals => ordered(|a, b| a == b),
        Comparison::NumericLessThan => ordered(|a, b| a < b),
        Comparison::NumericLessThanEquals => ordered(|a, b| a <= b),
        Comparison::NumericGreaterThan => ordered(|a, b| a > b),
        Comparison::NumericGreaterThanEquals => ordered(|a, b| a >= b),
        Comparison::IsPresent => actual.is_some() == (operand == &Value::Bool(true)),
        Comparison::IsNull => {
            matches!(actual, Some(Value::Null)) == (operand == &Value::Bool(true))
        }
    }
}

fn holds(cond: &Condition, input: &Value, context: &Value) -> bool {
    match cond {
        Condition::And(all) => all.iter().all(|c| holds(c, input, context)),
        Condition::Or(any) => any.iter().any(|c| holds(c, input, context)),
        Condition::Not(inner) => !holds(inner, input, context),
        Condition::Compare {
            variable,
            op,
            value,
        } => compare(*op, path::get(input, context, variable).ok(), value),
    }
}

/// Per-state path processing.
struct Step<'a> {
    name: &'a str,
    io: &'a Io,
    context: Value,
}

impl Step<'_> {
    fn select(&self, input: &Value, p: &Option<String>) -> Result<Value, AslError> {
        match p {
            None => Ok(json!({})),
            Some(p) => path::get(input, &self.context, p)
                .cloned()
                .map_err(|e| path_err(self.name, p, e)),
        }
    }

    fn template(&self, tpl: &Option<Value>, input: Value) -> Result<Value, AslError> {
        match tpl {
            None => Ok(input),
            Some(t) => path::apply_template(t, &input, &self.context)
                .map_err(|e| path_err(self.name, "Parameters", e)),
        }
    }

    fn effective_input(&self, raw: &Value) -> Result<Value, AslError> {
        let selected = self.select(raw, &self.io.input_path)?;
        self.template(&self.io.parameters, selected)
    }

    fn place_result(
        &self,
        raw: &Value,
        result_path: &Option<String>,
        result: Value,
    ) -> Result<Value, AslError> {
        match result_path {
            None => Ok(raw.clone()),
            Some(p) => {
                let mut out = raw.clone();
                path::set(&mut out, p, result).map_err(|e| path_err(self.name, p, e))?;
                Ok(out)
            }
        }
    }

    fn output(&self, raw: &Value, result: Value) -> Result<Value, AslError> {
        let result = self.template(&self.io.result_selector, result)?;
        let combined = self.place_result(raw, &self.io.result_path, result)?;
        self.select(&combined, &self.io.output_path)
    }
}

impl Executor {
    /// An executor for `machine`, with no handlers yet and real-time waits.
    pub fn new(machine: StateMachine) -> Self {
        Executor {
            machine: Arc::new(machine),
            handlers: HashMap::new(),
            time_scale: 1.0,
        }
    }

    /// Resolves the Task resource string `resource` to `handler`.
    pub fn with_handler(mut self, resource: &str, handler: Arc<dyn TaskHandler>) -> Self {
        self.handlers.insert(resource.to_string(), handler);
        self
    }

    /// Multiplies every Wait and Retry delay (1.0 in production; tests may poll faster).
    pub fn with_time_scale(mut self, scale: f64) -> Self {
        self.time_scale = scale.max(0.0);
        self
    }

    async fn sleep(&self, secs: f64) {
        let scaled = secs * self.time_scale;
        if scaled > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(scaled)).await;
        }
    }

    /// Runs one execution named `name` on `input`; returns the output of its Succeed/End state.
    pub async fn run(&self, name: &str, input: Value) -> Result<Value, AslError> {
        let mut current = self.machine.start_at.clone();
        let mut data = input.clone();
        loop {
            let state = &self.machine.states[&current];
            let step = Step {
                name: &current,
                io: &state.io,
                context: json!({
                    "Execution": {"Name": name, "Input": input},
                    "State": {"Name": current},
                }),
            };
            let (next, output) = self.run_state(&step, state, data).await?;
            match next {
                Some(n) => {
                    current = n;
                    data = output;
                }
                None => return Ok(output),
            }
        }
    }

    fn follow(state: &State, output: Value) -> (Option<String>, Value) {
        match &state.transition {
            Transition::Next(n) => (Some(n.clone()), output),
            Transition::End => (None, output),
        }
    }

    async fn run_state(
        &self,
        step: &Step<'_>,
        state: &State,
        raw: Value,
    ) -> Result<(Option<String>, Value), AslError> {
        match &state.kind {
            StateKind::Task {
                resource,
                retry,
                catch,
            } => {
                let input = step.effective_input(&raw)?;
                let handler =
                    self.handlers
                        .get(resource)
                        .ok_or_else(|| AslError::UnknownResource {
                            state: step.name.to_string(),
                            resource: resource.clone(),
                        })?;
                let mut retries_done = vec![0u32; retry.len()];
                loop {
                    let failure = match handler.call(input.clone()).await {
                        Ok(result) => return Ok(Self::follow(state, step.output(&raw, result)?)),
                        Err(f) => f,
                    };
                    let rule = retry
                        .iter()
                        .position(|r| matches(&r.error_equals, &failure.error));
                    if let Some(i) = rule.filter(|&i| retries_done[i] < retry[i].max_attempts) {
                        let r = &retry[i];
                        self.sleep(
                            r.interval_seconds * r.backoff_rate.powi(retries_done[i] as i32),
                        )
                        .await;
                        retries_done[i] += 1;
                        continue;
                    }
                    return self.catch(step, catch, &raw, failure);
                }
            }
            StateKind::Choice { choices, default } => {
                let input = step.effective_input(&raw)?;
                let target = choices
                    .iter()
                    .find(|(cond, _)| holds(cond, &input, &step.context))
                    .map(|(_, next)| next)
                    .or(default.as_ref())
                    .ok_or_else(|| AslError::Failed {
                        error: "States.NoChoiceMatched".into(),
                        cause: format!(
                            "no choice of state {:?} matched and it has no Default",
                            step.name
                        ),
                    })?;
                Ok((
                    Some(target.clone()),
                    step.select(&input, &state.io.output_path)?,
                ))
            }
            StateKind::Wait {
                seconds,
                seconds_path,
            } => {
                let input = step.select(&raw, &state.io.input_path)?;
                let secs = match (seconds, seconds_path) {
                    (Some(s), _) => *s,
                    (None, Some(p)) => path::get(&input, &step.context, p)
                        .ok()
                        .and_then(Value::as_f64)
                        .ok_or_else(|| {
                            path_err(step.name, p, "expected a number of seconds".into())
                        })?,
                    (None, None) => 0.0,
                };
                self.sleep(secs).await;
                Ok(Self::follow(
                    state,
                    step.select(&input, &state.io.output_path)?,
                ))
            }
            StateKind::Pass { result } => {
                let input = step.effective_input(&raw)?;
                let result = result.clone().unwrap_or(input);
                let combined = step.place_result(&raw, &state.io.result_path, result)?;
                Ok(Self::follow(
                    state,
                    step.select(&combined, &state.io.output_path)?,
                ))
            }
            StateKind::Succeed => {
                let input = step.select(&raw, &state.io.input_path)?;
                Ok((None, step.select(&input, &state.io.output_path)?))
            }
            StateKind::Fail { error, cause } => Err(AslError::Failed {
                error: error.clone(),
                cause: cause.clone(),
            }),
        }
    }

    fn catch(
        &self,
        step: &Step<'_>,
        catch: &[Catcher],
        raw: &Value,
        failure: TaskFailure,
    ) -> Result<(Option<String>, Value), AslError> {
        let Some(catcher) = catch
            .iter()
            .find(|c| matches(&c.error_equals, &failure.error))
        else {
            return Err(AslError::Failed {
                error: failure.error,
                cause: failure.cause,
            });
        };
        let error_output = json!({"Error": failure.error, "Cause": failure.cause});
        let output = step.place_result(raw, &catcher.result_path, error_output)?;
        Ok((Some(catcher.next.clone()), output))
    }
}
