//! An interpreter for the subset of the Amazon States Language used by
//! `statemachine/monitor.asl.json`, so a local job walks the same state machine as on AWS.

mod error;

pub use error::AslError;
