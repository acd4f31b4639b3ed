//! The alerts function's parts over AWS, built once per container from its configuration.

use burst_aws::AwsClients;

use super::{
    CloudWatchLogs, DynamoCheckpoint, SecretWebhook, SecretsManagerSecret, SqsFailureQueue,
};
use crate::config::AlertsConfig;
use crate::error::AlertsError;
use crate::run::{run_once, FailureCount, Parts, RunSummary};

/// Everything an alerts run talks to.
pub struct AwsAlerts {
    /// The settings.
    pub config: AlertsConfig,
    logs: CloudWatchLogs,
    checkpoints: DynamoCheckpoint,
    failures: Option<SqsFailureQueue>,
    webhook: SecretWebhook,
}

impl AwsAlerts {
    /// Builds the clients of `config` (no call is made until a run).
    pub fn new(config: AlertsConfig, clients: &AwsClients) -> Result<Self, AlertsError> {
        Ok(AwsAlerts {
            logs: CloudWatchLogs::new(clients),
            checkpoints: DynamoCheckpoint::new(clients, &config.checkpoint_table),
            failures: config
                .failure_queue
                .as_ref()
                .map(|url| SqsFailureQueue::new(clients, url)),
            webhook: SecretWebhook::new(SecretsManagerSecret::new(
                clients,
                &config.webhook_secret,
            ))?,
            config,
        })
    }

    /// One run at `now_ms` (see [`run_once`]).
    pub async fn run(&self, now_ms: i64) -> Result<RunSummary, AlertsError> {
        let parts = Parts {
            logs: &self.logs,
            checkpoints: &self.checkpoints,
            failures: self.failures.as_ref().map(|q| q as &dyn FailureCount),
            webhook: &self.webhook,
        };
        run_once(&self.config, &parts, now_ms).await
    }
}
