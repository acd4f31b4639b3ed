//! The webhook: its URL read from a Secrets Manager secret at run time and cached for the
//! container's life (forgotten after a failed post, so a rotated URL is picked up), posted to
//! over HTTPS. The URL never reaches a log or an error message.

use async_trait::async_trait;
use burst_aws::config::Service;
use burst_aws::retry::with_retries;
use burst_aws::{AwsClients, RetryPolicy};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::error::AlertsError;
use crate::run::Webhook;
use crate::webhook::WebhookUrl;

/// The secret holding the webhook URL.
#[derive(Debug, Clone)]
pub struct SecretsManagerSecret {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    retry: RetryPolicy,
}

/// The Secrets Manager client of `clients` (with its endpoint override, if any).
pub fn secrets_client(clients: &AwsClients) -> aws_sdk_secretsmanager::Client {
    let mut config = aws_sdk_secretsmanager::config::Builder::from(clients.sdk_config());
    if let Some(url) = clients.endpoint(Service::SecretsManager) {
        config = config.endpoint_url(url);
    }
    aws_sdk_secretsmanager::Client::from_conf(config.build())
}

impl SecretsManagerSecret {
    /// The secret `arn` (or name).
    pub fn new(clients: &AwsClients, arn: impl Into<String>) -> Self {
        SecretsManagerSecret {
            client: secrets_client(clients),
            arn: arn.into(),
            retry: clients.retry,
        }
    }

    /// Reads the secret's current value as a webhook URL.
    pub async fn read(&self) -> Result<WebhookUrl, AlertsError> {
        let result = with_retries(&self.retry, "Secrets Manager GetSecretValue", || {
            self.client.get_secret_value().secret_id(&self.arn).send()
        })
        .await;
        let output = match result {
            Ok(output) => output,
            Err(e) if e.has_code("ResourceNotFoundException") => {
                return Err(AlertsError::SecretMissing {
                    secret: self.arn.clone(),
                    detail: e.message,
                })
            }
            Err(e) => {
                return Err(AlertsError::SecretUnreadable {
                    secret: self.arn.clone(),
                    detail: e.message,
                })
            }
        };
        let value = output
            .secret_string
            .ok_or_else(|| AlertsError::SecretMissing {
                secret: self.arn.clone(),
                detail: "it has no string value (SecretString)".into(),
            })?;
        WebhookUrl::parse(&value).map_err(|reason| AlertsError::SecretMalformed {
            secret: self.arn.clone(),
            reason,
        })
    }
}

/// Posts reports to the URL in a secret.
pub struct SecretWebhook {
    secret: SecretsManagerSecret,
    http: reqwest::Client,
    cached: Mutex<Option<WebhookUrl>>,
}

/// How long a post may take.
const POST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl SecretWebhook {
    /// The webhook whose URL is in `secret`.
    pub fn new(secret: SecretsManagerSecret) -> Result<Self, AlertsError> {
        // HTTPS through rustls with the ring provider burst-aws's SDK client links already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .build()
            .map_err(|e| AlertsError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(SecretWebhook {
            secret,
            http,
            cached: Mutex::new(None),
        })
    }

    async fn url(&self) -> Result<WebhookUrl, AlertsError> {
        let mut cached = self.cached.lock().await;
        if let Some(url) = cached.as_ref() {
            return Ok(url.clone());
        }
        let url = self.secret.read().await?;
        *cached = Some(url.clone());
        Ok(url)
    }
}

#[async_trait]
impl Webhook for SecretWebhook {
    async fn ready(&self) -> Result<(), AlertsError> {
        self.url().await.map(|_| ())
    }

    async fn post(&self, body: &Value) -> Result<(), AlertsError> {
        let url = self.url().await?;
        let result = self.http.post(url.expose()).json(body).send().await;
        let failure = match result {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                let text: String = response
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                format!("HTTP {status}: {text}")
            }
            // reqwest's error names the URL; keep only what went wrong.
            Err(e) => burst_aws::retry::describe_chain(&e.without_url()),
        };
        *self.cached.lock().await = None;
        Err(AlertsError::Post(failure))
    }
}
