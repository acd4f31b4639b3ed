//! The failure-destination queue over SQS: its depth (alerts) and its messages, read without
//! removing them (`cdsearch jobs failures`).

use async_trait::async_trait;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, QueueAttributeName};
use burst_aws::config::Service;
use burst_aws::retry::with_retries;
use burst_aws::{AwsClients, RetryPolicy};

use crate::error::AlertsError;
use crate::run::FailureCount;

/// The SQS client of `clients` (with its endpoint override, if any).
pub fn sqs_client(clients: &AwsClients) -> aws_sdk_sqs::Client {
    let mut config = aws_sdk_sqs::config::Builder::from(clients.sdk_config());
    if let Some(url) = clients.endpoint(Service::Sqs) {
        config = config.endpoint_url(url);
    }
    aws_sdk_sqs::Client::from_conf(config.build())
}

/// The URL of queue `name` (a URL is returned as it is).
pub async fn queue_url(clients: &AwsClients, name: &str) -> Result<String, AlertsError> {
    if name.starts_with("https://") || name.starts_with("http://") {
        return Ok(name.to_owned());
    }
    let client = sqs_client(clients);
    let output = with_retries(&clients.retry, "SQS GetQueueUrl", || {
        client.get_queue_url().queue_name(name).send()
    })
    .await
    .map_err(|e| AlertsError::Queue {
        queue: name.to_owned(),
        detail: format!("GetQueueUrl: {}", e.message),
    })?;
    output.queue_url.ok_or_else(|| AlertsError::Queue {
        queue: name.to_owned(),
        detail: "GetQueueUrl returned no URL".into(),
    })
}

/// The failure queue.
#[derive(Debug, Clone)]
pub struct SqsFailureQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    retry: RetryPolicy,
    /// How long received messages stay hidden before they are made visible again.
    visibility_secs: i32,
}

/// Messages received per call (SQS's maximum).
const RECEIVE_BATCH: i32 = 10;

impl SqsFailureQueue {
    /// The queue at `url`.
    pub fn new(clients: &AwsClients, url: impl Into<String>) -> Self {
        SqsFailureQueue {
            client: sqs_client(clients),
            url: url.into(),
            retry: clients.retry,
            visibility_secs: 30,
        }
    }

    fn error(&self, call: &str, detail: impl std::fmt::Display) -> AlertsError {
        AlertsError::Queue {
            queue: self.url.clone(),
            detail: format!("{call}: {detail}"),
        }
    }

    /// The bodies of up to `limit` messages, left in the queue: each is received with a short
    /// visibility timeout (so one pass sees each message once) and made visible again at the
    /// end. Returns the bodies and whether the queue had more than `limit`.
    pub async fn peek(&self, limit: usize) -> Result<(Vec<String>, bool), AlertsError> {
        let mut bodies = Vec::new();
        let mut handles = Vec::new();
        let mut more = false;
        let result = async {
            loop {
                if bodies.len() >= limit {
                    more = true;
                    return Ok(());
                }
                let want = RECEIVE_BATCH.min((limit - bodies.len()) as i32);
                let output = with_retries(&self.retry, "SQS ReceiveMessage", || {
                    self.client
                        .receive_message()
                        .queue_url(&self.url)
                        .max_number_of_messages(want)
                        .visibility_timeout(self.visibility_secs)
                        .wait_time_seconds(1)
                        .send()
                })
                .await
                .map_err(|e| self.error("ReceiveMessage", e.message))?;
                let messages = output.messages.unwrap_or_default();
                if messages.is_empty() {
                    return Ok(());
                }
                for message in messages {
                    handles.extend(message.receipt_handle);
                    bodies.push(message.body.unwrap_or_default());
                }
            }
        }
        .await;
        let released = self.release(&handles).await;
        result?;
        released?;
        Ok((bodies, more))
    }

    /// Makes received messages visible again at once.
    async fn release(&self, handles: &[String]) -> Result<(), AlertsError> {
        for chunk in handles.chunks(RECEIVE_BATCH as usize) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, handle)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| self.error("ChangeMessageVisibilityBatch", e))
                })
                .collect::<Result<_, _>>()?;
            with_retries(&self.retry, "SQS ChangeMessageVisibilityBatch", || {
                self.client
                    .change_message_visibility_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries.clone()))
                    .send()
            })
            .await
            .map_err(|e| self.error("ChangeMessageVisibilityBatch", e.message))?;
        }
        Ok(())
    }
}

#[async_trait]
impl FailureCount for SqsFailureQueue {
    /// `ApproximateNumberOfMessages` plus `ApproximateNumberOfMessagesNotVisible` (messages
    /// being read by `cdsearch jobs failures` count too).
    async fn waiting(&self) -> Result<u64, AlertsError> {
        let names = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ];
        let output = with_retries(&self.retry, "SQS GetQueueAttributes", || {
            self.client
                .get_queue_attributes()
                .queue_url(&self.url)
                .set_attribute_names(Some(names.to_vec()))
                .send()
        })
        .await
        .map_err(|e| self.error("GetQueueAttributes", e.message))?;
        let attributes = output.attributes.unwrap_or_default();
        names.iter().try_fold(0u64, |sum, name| {
            let value = attributes.get(name).map(String::as_str).unwrap_or("0");
            let n: u64 = value
                .parse()
                .map_err(|_| self.error("GetQueueAttributes", format!("{name} is {value:?}")))?;
            Ok(sum + n)
        })
    }
}
