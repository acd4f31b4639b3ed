//! AWS backends of the burst framework: the traits of `burst::traits` over the official SDKs —
//! [`S3ObjectStore`], [`DynamoTaskTable`], [`LambdaInvoker`], [`SfnStarter`] — built from one
//! shared configuration ([`AwsSettings`]: region, credentials, per-service endpoint overrides for
//! emulators) with one explicit retry policy ([`RetryPolicy`]: jittered exponential backoff on
//! throttling and 5xx, never on validation errors).
//!
//! Also: [`LambdaTask`], a synchronous Lambda invocation as a Task resource of burst's ASL
//! interpreter; [`stack`], a deployed stack as a client sees it; [`metrics`], CloudWatch
//! embedded-metric-format lines.
//!
//! This crate knows nothing about images or searches; it must not depend on `cds` or `cdsearch`.

pub mod config;
pub mod dynamo;
pub mod lambda;
pub mod metrics;
pub mod retry;
pub mod s3;
pub mod sfn;
pub mod stack;

pub use config::{AwsClients, AwsSettings, Endpoints, Service, StaticCredentials};
pub use dynamo::DynamoTaskTable;
pub use lambda::{LambdaInvoker, LambdaTask};
pub use retry::{CallError, ErrorClass, RetryPolicy};
pub use s3::S3ObjectStore;
pub use sfn::SfnStarter;
