//! Parsing and validation of a state-machine definition (the supported ASL subset).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::error::AslError;
use super::path;

/// Where a state goes next.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The named state.
    Next(String),
    /// The execution ends successfully with this state's output.
    End,
}

/// A `Retry` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    /// Error names it applies to (`States.ALL` matches all).
    pub error_equals: Vec<String>,
    /// Delay before the first retry, seconds.
    pub interval_seconds: f64,
    /// Retries allowed.
    pub max_attempts: u32,
    /// Multiplier of the delay per retry.
    pub backoff_rate: f64,
}

/// A `Catch` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    /// Error names it applies to.
    pub error_equals: Vec<String>,
    /// Where the error output `{Error, Cause}` goes in the state input (`None`: discarded).
    pub result_path: Option<String>,
    /// State to go to.
    pub next: String,
}

/// The input/output filters shared by most states.
#[derive(Debug, Clone, PartialEq)]
pub struct Io {
    /// `InputPath` (`None`: the input is `{}`).
    pub input_path: Option<String>,
    /// `OutputPath` (`None`: the output is `{}`).
    pub output_path: Option<String>,
    /// `Parameters` template.
    pub parameters: Option<Value>,
    /// `ResultSelector` template.
    pub result_selector: Option<Value>,
    /// `ResultPath` (`None`: the result is discarded and the input passes through).
    pub result_path: Option<String>,
}

/// A comparison operator of a Choice rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `BooleanEquals`
    BooleanEquals,
    /// `NumericEquals`
    NumericEquals,
    /// `NumericLessThan`
    NumericLessThan,
    /// `NumericLessThanEquals`
    NumericLessThanEquals,
    /// `NumericGreaterThan`
    NumericGreaterThan,
    /// `NumericGreaterThanEquals`
    NumericGreaterThanEquals,
    /// `StringEquals`
    StringEquals,
    /// `IsPresent`
    IsPresent,
    /// `IsNull`
    IsNull,
}

const COMPARISONS: [(&str, Comparison); 9] = [
    ("BooleanEquals", Comparison::BooleanEquals),
    ("NumericEquals", Comparison::NumericEquals),
    ("NumericLessThan", Comparison::NumericLessThan),
    ("NumericLessThanEquals", Comparison::NumericLessThanEquals),
    ("NumericGreaterThan", Comparison::NumericGreaterThan),
    (
        "NumericGreaterThanEquals",
        Comparison::NumericGreaterThanEquals,
    ),
    ("StringEquals", Comparison::StringEquals),
    ("IsPresent", Comparison::IsPresent),
    ("IsNull", Comparison::IsNull),
];

/// A Choice condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// All must hold.
    And(Vec<Condition>),
    /// One must hold.
    Or(Vec<Condition>),
    /// Must not hold.
    Not(Box<Condition>),
    /// `Variable` compared with a literal.
    Compare {
        /// Path of the value tested.
        variable: String,
        /// Operator.
        op: Comparison,
        /// Literal operand.
        value: Value,
    },
}

/// The kinds of state.
#[derive(Debug, Clone, PartialEq)]
pub enum StateKind {
    /// Calls a resource.
    Task {
        /// Resource string (resolved to a handler by the executor).
        resource: String,
        /// Retry rules.
        retry: Vec<Retrier>,
        /// Catch rules.
        catch: Vec<Catcher>,
    },
    /// Branches on the input.
    Choice {
        /// Rules with their target states, tried in order.
        choices: Vec<(Condition, String)>,
        /// Target when no rule holds.
        default: Option<String>,
    },
    /// Sleeps.
    Wait {
        /// Fixed seconds.
        seconds: Option<f64>,
        /// Path to the seconds in the input.
        seconds_path: Option<String>,
    },
    /// Passes its input (or `Result`) on.
    Pass {
        /// Fixed result.
        result: Option<Value>,
    },
    /// Ends successfully.
    Succeed,
    /// Ends in failure.
    Fail {
        /// Error name.
        error: String,
        /// Cause.
        cause: String,
    },
}

/// One state.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Its kind and kind-specific fields.
    pub kind: StateKind,
    /// Filters.
    pub io: Io,
    /// Where it goes (Task, Wait, Pass); `End` for Succeed/Fail/Choice (unused there).
    pub transition: Transition,
}

/// A parsed and validated state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct StateMachine {
    /// First state.
    pub start_at: String,
    /// All states by name.
    pub states: BTreeMap<String, State>,
}

fn def_err(msg: impl Into<String>) -> AslError {
    AslError::Definition(msg.into())
}

fn opt_str(obj: &Value, key: &str, state: &str) -> Result<Option<String>, AslError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(def_err(format!(
            "state {state:?}: {key} must be a string, got {other}"
        ))),
    }
}

fn opt_f64(obj: &Value, key: &str, state: &str, default: f64) -> Result<f64, AslError> {
    match obj.get(key) {
        None => Ok(default),
        Some(v) => v.as_f64().filter(|x| *x >= 0.0).ok_or_else(|| {
            def_err(format!(
                "state {state:?}: {key} must be a non-negative number, got {v}"
            ))
        }),
    }
}

/// A path field that may be a path string, absent (default `$`), or null.
fn path_field(obj: &Value, key: &str, state: &str) -> Result<Option<String>, AslError> {
    let p = match obj.get(key) {
        None => Some("$".to_string()),
        Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(def_err(format!(
                "state {state:?}: {key} must be a path or null, got {other}"
            )))
        }
    };
    if let Some(p) = &p {
        if !path::is_valid(p) {
            return Err(def_err(format!(
                "state {state:?}: {key} {p:?} is not a supported path ($, $.a.b, $.a[0])"
            )));
        }
    }
    Ok(p)
}

fn error_names(obj: &Value, state: &str, what: &str) -> Result<Vec<String>, AslError> {
    let names: Vec<String> = obj
        .get("ErrorEquals")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        return Err(def_err(format!(
            "state {state:?}: every {what} needs a non-empty ErrorEquals list of strings"
        )));
    }
    if names.iter().any(|n| n == "States.ALL") && names.len() > 1 {
        return Err(def_err(format!(
            "state {state:?}: States.ALL must appear alone in a {what}'s ErrorEquals"
        )));
    }
    Ok(names)
}

/// Checks that `States.ALL` rules come last.
fn check_all_last(names: &[&Vec<String>], state: &str, what: &str) -> Result<(), AslError> {
    let all_at = names
        .iter()
        .position(|n| n.iter().any(|e| e == "States.ALL"));
    match all_at {
        Some(i) if i + 1 != names.len() => Err(def_err(format!(
            "state {state:?}: the States.ALL {what} must be the last one"
        ))),
        _ => Ok(()),
    }
}

fn parse_retry(obj: &Value, state: &str) -> Result<Vec<Retrier>, AslError> {
    let Some(list) = obj.get("Retry") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| def_err(format!("state {state:?}: Retry must be an array")))?;
    let retriers = list
        .iter()
        .map(|r| {
            let backoff_rate = opt_f64(r, "BackoffRate", state, 2.0)?;
            if backoff_rate < 1.0 {
                return Err(def_err(format!(
                    "state {state:?}: BackoffRate must be at least 1.0, got {backoff_rate}"
                )));
            }
            Ok(Retrier {
                error_equals: error_names(r, state, "Retry")?,
                interval_seconds: opt_f64(r, "IntervalSeconds", state, 1.0)?,
                max_attempts: opt_f64(r, "MaxAttempts", state, 3.0)? as u32,
                backoff_rate,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<_> = retriers.iter().map(|r| &r.error_equals).collect();
    check_all_last(&names, state, "Retry")?;
    Ok(retriers)
}

fn parse_catch(obj: &Value, state: &str) -> Result<Vec<Catcher>, AslError> {
    let Some(list) = obj.get("Catch") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| def_err(format!("state {state:?}: Catch must be an array")))?;
    let catchers = list
        .iter()
        .map(|c| {
            Ok(Catcher {
                error_equals: error_names(c, state, "Catch")?,
                result_path: path_field(c, "ResultPath", state)?,
                next: opt_str(c, "Next", state)?
                    .ok_or_else(|| def_err(format!("state {state:?}: a Catch lacks Next")))?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<_> = catchers.iter().map(|c| &c.error_equals).collect();
    check_all_last(&names, state, "Catch")?;
    Ok(catchers)
}

fn parse_condition(rule: &Value, state: &str) -> Result<Condition, AslError> {
    let list = |key: &str| -> Result<Vec<Condition>, AslError> {
        rule[key]
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| def_err(format!("state {state:?}: {key} needs a non-empty array")))?
            .iter()
            .map(|r| parse_condition(r, state))
            .collect()
    };
    if rule.get("And").is_some() {
        return Ok(Condition::And(list("And")?));
    }
    if rule.get("Or").is_some() {
        return Ok(Condition::Or(list("Or")?));
    }
    if let Some(inner) = rule.get("Not") {
        return Ok(Condition::Not(Box::new(parse_condition(inner, state)?)));
    }
    let variable = opt_str(rule, "Variable", state)?
        .filter(|v| path::is_valid(v))
        .ok_or_else(|| {
            def_err(format!(
                "state {state:?}: a choice rule needs a Variable path"
            ))
        })?;
    let (name, op) = COMPARISONS
        .iter()
        .find(|(name, _)| rule.get(*name).is_some())
        .ok_or_else(|| {
            let known: Vec<_> = COMPARISONS.iter().map(|(n, _)| *n).collect();
            def_err(format!(
                "state {state:?}: choice rule on {variable} has no supported operator ({})",
                known.join(", ")
            ))
        })?;
    let value = rule[*name].clone();
    let well_typed = match op {
        Comparison::BooleanEquals | Comparison::IsPresent | Comparison::IsNull => {
            value.is_boolean()
        }
        Comparison::StringEquals => value.is_string(),
        _ => value.is_number(),
    };
    if !well_typed {
        return Err(def_err(format!(
            "state {state:?}: {name} on {variable} has an operand of the wrong type: {value}"
        )));
    }
    Ok(Condition::Compare {
        variable,
        op: *op,
        value,
    })
}

fn parse_transition(obj: &Value, name: &str) -> Result<Transition, AslError> {
    match (opt_str(obj, "Next", name)?, obj.get("End")) {
        (Some(next), None) => Ok(Transition::Next(next)),
        (None, Some(Value::Bool(true))) => Ok(Transition::End),
        _ => Err(def_err(format!(
            "state {name:?} needs exactly one of Next or \"End\": true"
        ))),
    }
}

fn parse_state(name: &str, obj: &Value) -> Result<State, AslError> {
    let ty = opt_str(obj, "Type", name)?
        .ok_or_else(|| def_err(format!("state {name:?} has no Type")))?;
    let io = Io {
        input_path: path_field(obj, "InputPath", name)?,
        output_path: path_field(obj, "OutputPath", name)?,
        parameters: obj.get("Parameters").cloned(),
        result_selector: obj.get("ResultSelector").cloned(),
        result_path: path_field(obj, "ResultPath", name)?,
    };
    let (kind, transition) = match ty.as_str() {
        "Task" => {
            let resource = opt_str(obj, "Resource", name)?
                .ok_or_else(|| def_err(format!("Task state {name:?} has no Resource")))?;
            let kind = StateKind::Task {
                resource,
                retry: parse_retry(obj, name)?,
                catch: parse_catch(obj, name)?,
            };
            (kind, parse_transition(obj, name)?)
        }
        "Choice" => {
            let rules = obj["Choices"]
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| def_err(format!("Choice state {name:?} needs Choices")))?;
            let choices = rules
                .iter()
                .map(|rule| {
                    let next = opt_str(rule, "Next", name)?.ok_or_else(|| {
                        def_err(format!("state {name:?}: a choice rule lacks Next"))
                    })?;
                    Ok((parse_condition(rule, name)?, next))
                })
                .collect::<Result<Vec<_>, AslError>>()?;
            let default = opt_str(obj, "Default", name)?;
            (StateKind::Choice { choices, default }, Transition::End)
        }
        "Wait" => {
            let seconds = obj.get("Seconds").map(|_| opt_f64(obj, "Seconds", name, 0.0));
            let seconds_path = opt_str(obj, "SecondsPath", name)?;
            if seconds.is_some() == seconds_path.is_some() {
                return Err(def_err(format!(
                    "Wait state {name:?} needs exactly one of Seconds or SecondsPath"
                )));
            }
            let kind = StateKind::Wait {
                seconds: seconds.transpose()?,
                seconds_path,
            };
            (kind, parse_transition(obj, name)?)
        }
        "Pass" => {
            let kind = StateKind::Pass {
                result: obj.get("Result").cloned(),
            };
            (kind, parse_transition(obj, name)?)
        }
        "Succeed" => (StateKind::Succeed, Transition::End),
        "Fail" => {
            let kind = StateKind::Fail {
                error: opt_str(obj, "Error", name)?.unwrap_or_else(|| "States.Failed".into()),
                cause: opt_str(obj, "Cause", name)?.unwrap_or_default(),
            };
            (kind, Transition::End)
        }
        other => {
            return Err(def_err(format!(
                "state {name:?} has unsupported Type {other:?} (expected Task, Choice, Wait, Pass, Succeed or Fail)"
            )))
        }
    };
    Ok(State {
        kind,
        io,
        transition,
    })
}

impl State {
    /// Names of every state this one may go to.
    pub fn targets(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if let Transition::Next(n) = &self.transition {
            out.push(n.as_str());
        }
        match &self.kind {
            StateKind::Task { catch, .. } => out.extend(catch.iter().map(|c| c.next.as_str())),
            StateKind::Choice { choices, default } => {
                out.extend(choices.iter().map(|(_, n)| n.as_str()));
                out.extend(default.as_deref());
            }
            _ => {}
        }
        out
    }

    /// Whether the execution may end in this state.
    pub fn is_terminal(&self) -> bool {
        matches!(self.kind, StateKind::Succeed | StateKind::Fail { .. })
            || self.transition == Transition::End && !matches!(self.kind, StateKind::Choice { .. })
    }
}

impl StateMachine {
    /// Parses and validates a definition (after placeholder substitution).
    pub fn from_json(definition: &str) -> Result<StateMachine, AslError> {
        let root: Value = serde_json::from_str(definition)
            .map_err(|e| def_err(format!("not valid JSON: {e}")))?;
        let start_at = opt_str(&root, "StartAt", "(top level)")?
            .ok_or_else(|| def_err("StartAt is missing"))?;
        let states = root["States"]
            .as_object()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| def_err("States must be a non-empty object"))?
            .iter()
            .map(|(name, obj)| Ok((name.clone(), parse_state(name, obj)?)))
            .collect::<Result<BTreeMap<_, _>, AslError>>()?;
        let machine = StateMachine { start_at, states };
        machine.validate()?;
        Ok(machine)
    }

    /// Checks that StartAt and every target exist, every state is reachable, and a terminal
    /// state is reachable.
    pub fn validate(&self) -> Result<(), AslError> {
        if !self.states.contains_key(&self.start_at) {
            return Err(def_err(format!(
                "StartAt {:?} names no state",
                self.start_at
            )));
        }
        for (name, state) in &self.states {
            for target in state.targets() {
                if !self.states.contains_key(target) {
                    return Err(def_err(format!(
                        "state {name:?} goes to {target:?}, which does not exist"
                    )));
                }
            }
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![self.start_at.as_str()];
        while let Some(name) = stack.pop() {
            if seen.insert(name) {
                stack.extend(self.states[name].targets());
            }
        }
        if let Some(orphan) = self.states.keys().find(|k| !seen.contains(k.as_str())) {
            return Err(def_err(format!(
                "state {orphan:?} is unreachable from {:?}",
                self.start_at
            )));
        }
        if !self.states.values().any(State::is_terminal) {
            return Err(def_err("no terminal state (Succeed, Fail or End)"));
        }
        Ok(())
    }
}

/// Replaces `${Name}` placeholders (as SAM's DefinitionSubstitutions does); fails on any
/// placeholder left without a value.
pub fn substitute(definition: &str, values: &[(&str, &str)]) -> Result<String, AslError> {
    let mut out = definition.to_string();
    for (name, value) in values {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    match out.find("${") {
        Some(at) => {
            let rest = &out[at..];
            let end = rest.find('}').map_or(rest.len(), |e| e + 1);
            Err(def_err(format!(
                "placeholder {} has no substitution",
                &rest[..end]
            )))
        }
        None => Ok(out),
    }
}
