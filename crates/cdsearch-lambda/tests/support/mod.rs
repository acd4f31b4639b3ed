//! A whole deployment without AWS, for the emulator tests: moto (S3, DynamoDB), `cargo lambda
//! watch` (the Lambda Invoke API) with this crate's four binaries as its function instances, a
//! gateway in front of it (records every invocation, can answer the first ones with Lambda's
//! throttling error), and a Step Functions endpoint that runs `statemachine/monitor.asl.json`
//! with burst's interpreter, its Task states calling the monitor and combiner through the
//! gateway.
// Each test binary uses part of this module.
#![allow(dead_code, unused_imports)]

#[path = "../../../burst-aws/tests/common/mod.rs"]
mod aws_common;
mod emulator;
mod gateway;
pub mod stack;
mod stepfunctions;
mod tools;

pub use aws_common::{create_bucket, free_port, repo_root, KillOnDrop, Moto};
pub use emulator::LambdaEmulator;
pub use gateway::{Call, Gateway};
pub use stack::{Stack, StackOptions, COMBINER, MANAGER, MONITOR, WORKER};
pub use stepfunctions::StepFunctions;
pub use tools::Tools;
