//! The checkpoint as one item of the deployment's task table, under a reserved key.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use burst_aws::dynamo::{PARTITION_KEY, SORT_KEY};
use burst_aws::retry::with_retries;
use burst_aws::{AwsClients, RetryPolicy};

use crate::checkpoint::Checkpoint;
use crate::error::AlertsError;
use crate::run::{CheckpointStore, Stored};

/// The partition key of the checkpoint item (sort key 0). Job items are `<job id>`,
/// `<job id>#status` and `<job id>#attempts`; no job id starts with `#`, so this key is the
/// alerts function's alone (its IAM policy allows only this key: `dynamodb:LeadingKeys`). The
/// item has no `ttl`, so it never expires.
pub const CHECKPOINT_KEY: &str = "#alerts";

/// The checkpoint in a DynamoDB table keyed like burst's task table.
#[derive(Debug, Clone)]
pub struct DynamoCheckpoint {
    client: aws_sdk_dynamodb::Client,
    table: String,
    retry: RetryPolicy,
}

impl DynamoCheckpoint {
    /// The checkpoint in `table`.
    pub fn new(clients: &AwsClients, table: impl Into<String>) -> Self {
        DynamoCheckpoint {
            client: clients.dynamodb(),
            table: table.into(),
            retry: clients.retry,
        }
    }

    fn key() -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                PARTITION_KEY.to_owned(),
                AttributeValue::S(CHECKPOINT_KEY.into()),
            ),
            (SORT_KEY.to_owned(), AttributeValue::N("0".into())),
        ])
    }

    fn error(&self, call: &str, detail: impl std::fmt::Display) -> AlertsError {
        AlertsError::Checkpoint(format!("DynamoDB {call} {}: {detail}", self.table))
    }
}

#[async_trait]
impl CheckpointStore for DynamoCheckpoint {
    async fn load(&self) -> Result<Option<Stored>, AlertsError> {
        let output = with_retries(&self.retry, "DynamoDB GetItem", || {
            self.client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(Self::key()))
                .consistent_read(true)
                .send()
        })
        .await
        .map_err(|e| self.error("GetItem", e.message))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let text = match item.get("checkpoint") {
            Some(AttributeValue::S(text)) => text,
            _ => return Err(self.error("GetItem", "the item has no string `checkpoint`")),
        };
        let version = match item.get("version") {
            Some(AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| self.error("GetItem", "the item has no numeric `version`"))?;
        let checkpoint = serde_json::from_str(text)
            .map_err(|e| self.error("GetItem", format!("`checkpoint` is not a checkpoint: {e}")))?;
        Ok(Some(Stored {
            checkpoint,
            version,
        }))
    }

    async fn save(&self, checkpoint: &Checkpoint, version: u64) -> Result<(), AlertsError> {
        let text = serde_json::to_string(checkpoint)
            .map_err(|e| self.error("PutItem", format!("cannot encode the checkpoint: {e}")))?;
        let mut item = Self::key();
        item.insert("checkpoint".into(), AttributeValue::S(text));
        item.insert("version".into(), AttributeValue::N(version.to_string()));
        let result = with_retries(&self.retry, "DynamoDB PutItem", || {
            let request = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()));
            if version <= 1 {
                request
                    .condition_expression("attribute_not_exists(#v)")
                    .expression_attribute_names("#v", "version")
            } else {
                request
                    .condition_expression("#v = :previous")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(
                        ":previous",
                        AttributeValue::N((version - 1).to_string()),
                    )
            }
            .send()
        })
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.has_code("ConditionalCheckFailedException") => {
                Err(AlertsError::CheckpointConflict(format!(
                    "version {} is no longer current",
                    version - 1
                )))
            }
            Err(e) => Err(self.error("PutItem", e.message)),
        }
    }
}
