//! The traits of [`crate::run`] over AWS: CloudWatch Logs ([`CloudWatchLogs`]), a DynamoDB
//! item ([`DynamoCheckpoint`]), the SQS failure queue ([`SqsFailureQueue`], feature `sqs`),
//! and the webhook whose URL is a Secrets Manager secret ([`SecretWebhook`]). Clients share
//! burst-aws's configuration (region, credentials, endpoint overrides such as
//! `BURST_AWS_ENDPOINT_LOGS`) and its retry policy.

mod queue;

pub use queue::{queue_url, sqs_client, SqsFailureQueue};

#[cfg(feature = "aws")]
mod checkpoint;
#[cfg(feature = "aws")]
mod function;
#[cfg(feature = "aws")]
mod logs;
#[cfg(feature = "aws")]
mod webhook;

#[cfg(feature = "aws")]
pub use checkpoint::{DynamoCheckpoint, CHECKPOINT_KEY};
#[cfg(feature = "aws")]
pub use function::AwsAlerts;
#[cfg(feature = "aws")]
pub use logs::{logs_client, CloudWatchLogs};
#[cfg(feature = "aws")]
pub use webhook::{secrets_client, SecretWebhook, SecretsManagerSecret};
