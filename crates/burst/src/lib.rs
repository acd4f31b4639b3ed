//! Burst-parallel compute: turn "process N items" into thousands of parallel worker
//! invocations started within seconds, and gather their partial results into one answer.
//!
//! A job is planned into batches and a spawn tree of managers ([`plan`]); managers invoke
//! workers, which write one row per batch to a task table; a monitor state machine
//! (`statemachine/monitor.asl.json`, interpreted locally by [`asl`]) polls the table, retries
//! failed batches, re-invokes stragglers, and finally runs the combiner. Everything talks to
//! the outside through the traits in [`traits`]; [`local`] implements them in-process.
//! This crate must not depend on any cloud SDK nor know anything about images.

pub mod asl;
pub mod attempts;
pub mod backends;
pub mod cleanup;
pub mod combine;
pub mod cost;
pub mod error;
pub mod job;
pub mod lenient;
pub mod local;
pub mod manager;
pub mod monitor;
pub mod outcome;
pub mod partials;
pub mod payload;
pub mod plan;
pub mod sim;
pub mod status;
pub mod time;
pub mod traits;
pub mod worker;

pub use backends::Backends;
pub use error::{BackendError, BurstError, PlanError, TaskError};
pub use job::*;
pub use local::{JobHandle, LocalRuntime, LocalRuntimeBuilder};
pub use status::JobReport;
pub use traits::*;
