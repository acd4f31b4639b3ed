//! An interpreter for the subset of the Amazon States Language used by
//! `statemachine/monitor.asl.json` (Task, Choice, Wait, Pass, Succeed, Fail, Retry, Catch,
//! InputPath/Parameters/ResultSelector/ResultPath/OutputPath with a small JSONPath subset),
//! so a local job walks the same state machine as on AWS.

mod definition;
mod error;
mod exec;
mod path;

pub use definition::{
    substitute, Catcher, Comparison, Condition, Io, Retrier, State, StateKind, StateMachine,
    Transition,
};
pub use error::AslError;
pub use exec::{Executor, TaskFailure, TaskHandler};

/// The monitor state machine shipped with the framework (`statemachine/monitor.asl.json`),
/// with `${MonitorFunctionArn}` and `${CombinerFunctionArn}` placeholders.
pub const MONITOR_DEFINITION: &str = include_str!("../../../../statemachine/monitor.asl.json");
