//! Batched error alerts of a burst deployment, pulled rather than pushed: a scheduled run reads
//! the deployment's log groups for ERROR and WARN lines since a durable checkpoint
//! ([`checkpoint`]), groups them by function and job, caps the report with a count of what was
//! cut ([`report`]) and posts it to a Slack-compatible webhook; the checkpoint advances only
//! once the post succeeded ([`run`]), so a failed run is retried by the next one without loss
//! and no line is reported twice. Also reads the on-failure destination of the asynchronous
//! invocations ([`failures`]: Lambda's destination records, one per failed event).
//!
//! The logic (classifying lines, checkpoints, grouping, capping, formatting, destination
//! records) is pure; I/O sits behind the traits of [`run`], implemented over AWS in [`aws`]
//! (features `aws`, and `sqs` for the failure queue alone). Like `burst`, this crate knows
//! nothing of images or searches; it must not depend on `cds` or `cdsearch`.

pub mod checkpoint;
pub mod config;
pub mod error;
pub mod event;
pub mod failures;
pub mod report;
pub mod run;
pub mod webhook;

#[cfg(feature = "sqs")]
pub mod aws;

pub use checkpoint::{Checkpoint, Cursor};
pub use config::AlertsConfig;
pub use error::AlertsError;
pub use event::{classify, Alert, Level, LogEvent};
pub use failures::{parse_record, Failure};
pub use report::{build_report, Report, ReportContext, ReportLimits};
pub use run::{run_once, Parts, RunSummary};
pub use webhook::WebhookUrl;
