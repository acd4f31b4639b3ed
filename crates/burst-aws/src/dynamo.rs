//! [`TaskTable`] over one DynamoDB table.
//!
//! Item layout (partition key `jobId` S, sort key `batchId` N, as burst-compute's table):
//! - completion rows: `jobId` = the job id, `batchId` = the batch; attributes `ttl`, `results`,
//!   `resultsMimeType`, `nresults`, `attempt`, `startedAtMs`, `finishedAtMs`. Only these live under
//!   the job id itself, so the monitor's COUNT query counts completed batches and nothing else.
//! - attempt log: `jobId` = `<job id>#attempts`, `batchId` = `batch * 10000 + attempt * 10 + kind`
//!   (kind 0 failed, 1 retried, 2 speculative; attempts below 1000), attribute `record` (JSON).
//! - job status: `jobId` = `<job id>#status`, `batchId` = 0, attributes `status` (JSON), `state`.
//!
//! Every item carries `ttl` (epoch seconds) so DynamoDB's TTL deletes it. Results are stored as
//! the framework encoded them (`results` + `resultsMimeType`: JSON below 8192 characters, base64 of
//! gzip above, and for results over `burst::payload::OBJECT_AT` a pointer to an S3 object, so no
//! row nears DynamoDB's 400 KB item limit); this table neither re-encodes nor decodes them.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, Select, TimeToLiveSpecification,
};
use burst::{
    AttemptKind, AttemptRecord, BackendError, BatchRow, CompletedBatch, JobStatus, Page,
    PutOutcome, TaskTable,
};

use burst::cost::Usage;
use futures::{StreamExt, TryStreamExt};

use crate::config::AwsClients;
use crate::retry::{with_retries, RetryPolicy};

/// Most DeleteItem calls in flight while a job's items are deleted.
pub const DELETE_CONCURRENCY: usize = 16;

/// Name of the partition key attribute.
pub const PARTITION_KEY: &str = "jobId";
/// Name of the sort key attribute.
pub const SORT_KEY: &str = "batchId";
/// Name of the TTL attribute.
pub const TTL_ATTRIBUTE: &str = "ttl";
/// How long status records and attempt logs are kept when no row TTL applies: 7 days.
pub const STATUS_TTL_SECS: u64 = 7 * 24 * 3600;

type Item = HashMap<String, AttributeValue>;

/// The task table of burst jobs in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoTaskTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
    retry: RetryPolicy,
    page_size: Option<i32>,
}

impl DynamoTaskTable {
    /// The task table named `table`.
    pub fn new(clients: &AwsClients, table: impl Into<String>) -> Self {
        DynamoTaskTable {
            client: clients.dynamodb(),
            table: table.into(),
            retry: clients.retry,
            page_size: None,
        }
    }

    /// Limits the items per query page (DynamoDB's 1 MB pages otherwise); tests use small pages.
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = Some(page_size.max(1));
        self
    }

    /// The table name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand billing, TTL on `ttl`), as the SAM template does; for
    /// emulators and ad-hoc setups.
    pub async fn create_table(&self) -> Result<(), BackendError> {
        let what = format!("DynamoDB CreateTable {}", self.table);
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(|e| BackendError::Invalid(format!("{what}: {e}")))
        };
        let attr = |name: &str, t| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
                .map_err(|e| BackendError::Invalid(format!("{what}: {e}")))
        };
        let keys = [
            key(PARTITION_KEY, KeyType::Hash)?,
            key(SORT_KEY, KeyType::Range)?,
        ];
        let attrs = [
            attr(PARTITION_KEY, ScalarAttributeType::S)?,
            attr(SORT_KEY, ScalarAttributeType::N)?,
        ];
        with_retries(&self.retry, "DynamoDB CreateTable", || {
            self.client
                .create_table()
                .table_name(&self.table)
                .billing_mode(BillingMode::PayPerRequest)
                .set_key_schema(Some(keys.to_vec()))
                .set_attribute_definitions(Some(attrs.to_vec()))
                .send()
        })
        .await
        .map_err(|e| e.into_backend(&what))?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(|e| BackendError::Invalid(format!("{what}: {e}")))?;
        with_retries(&self.retry, "DynamoDB UpdateTimeToLive", || {
            self.client
                .update_time_to_live()
                .table_name(&self.table)
                .time_to_live_specification(ttl.clone())
                .send()
        })
        .await
        .map_err(|e| e.into_backend(&format!("DynamoDB UpdateTimeToLive {}", self.table)))?;
        Ok(())
    }

    /// Runs one query page over partition `partition`, starting after sort key `after`.
    async fn query_page(
        &self,
        partition: &str,
        after: Option<&str>,
        projection: Option<&str>,
    ) -> Result<(Vec<Item>, Option<String>), BackendError> {
        let what = format!("DynamoDB Query {} jobId={partition}", self.table);
        let start_key = after
            .map(|token| exclusive_start_key(partition, token))
            .transpose()
            .map_err(|e| BackendError::Invalid(format!("{what}: {e}")))?;
        let output = with_retries(&self.retry, "DynamoDB Query", || {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
                .consistent_read(true)
                .set_limit(self.page_size)
                .set_exclusive_start_key(start_key.clone());
            if let Some(projection) = projection {
                query = query.projection_expression(projection);
                for (placeholder, name) in PROJECTION_NAMES {
                    if projection.contains(placeholder) {
                        query = query.expression_attribute_names(*placeholder, *name);
                    }
                }
            }
            query.send()
        })
        .await
        .map_err(|e| e.into_backend(&what))?;
        let next = output
            .last_evaluated_key()
            .and_then(|key| key.get(SORT_KEY))
            .and_then(|v| v.as_n().ok())
            .cloned();
        Ok((output.items.unwrap_or_default(), next))
    }

    /// Deletes the items of `partition` with sort keys `sort_keys`, [`DELETE_CONCURRENCY`]
    /// DeleteItem calls at a time (DeleteItem, not BatchWriteItem: a role that may delete
    /// need not be able to write, and it links less SDK code into every function).
    async fn delete_items(&self, partition: &str, sort_keys: &[u64]) -> Result<(), BackendError> {
        // Collected first: a stream over a mapping closure trips the compiler's Send check
        // inside async_trait (rust-lang/rust#64552).
        let calls: Vec<_> = sort_keys
            .iter()
            .map(|&sort_key| self.delete_item(partition, sort_key))
            .collect();
        futures::stream::iter(calls)
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn delete_item(&self, partition: &str, sort_key: u64) -> Result<(), BackendError> {
        with_retries(&self.retry, "DynamoDB DeleteItem", || {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(PARTITION_KEY, s(partition))
                .key(SORT_KEY, n(sort_key))
                .send()
        })
        .await
        .map_err(|e| {
            e.into_backend(&format!(
                "DynamoDB DeleteItem {} jobId={partition} batchId={sort_key}",
                self.table
            ))
        })?;
        Ok(())
    }

    async fn put_item(&self, what: &str, item: Item) -> Result<(), BackendError> {
        with_retries(&self.retry, "DynamoDB PutItem", || {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .send()
        })
        .await
        .map_err(|e| e.into_backend(&format!("DynamoDB PutItem {} {what}", self.table)))?;
        Ok(())
    }
}

/// Placeholders usable in projections (some attribute names are DynamoDB reserved words).
const PROJECTION_NAMES: &[(&str, &str)] = &[
    ("#b", SORT_KEY),
    ("#s", "startedAtMs"),
    ("#f", "finishedAtMs"),
];

fn exclusive_start_key(partition: &str, token: &str) -> Result<Item, String> {
    token
        .parse::<u64>()
        .map_err(|_| format!("page token {token:?} is not a batch id (expected an integer)"))?;
    Ok(HashMap::from([
        (
            PARTITION_KEY.to_owned(),
            AttributeValue::S(partition.to_owned()),
        ),
        (SORT_KEY.to_owned(), AttributeValue::N(token.to_owned())),
    ]))
}

fn attempts_partition(job_id: &str) -> String {
    format!("{job_id}#attempts")
}

fn status_partition(job_id: &str) -> String {
    format!("{job_id}#status")
}

/// Sort key of an attempt record: batch, then attempt, then kind.
pub fn attempt_sort_key(record: &AttemptRecord) -> u64 {
    let kind = match record.kind {
        AttemptKind::Failed { .. } => 0,
        AttemptKind::Retried => 1,
        AttemptKind::Speculative => 2,
        AttemptKind::Recovered => 3,
    };
    record.batch_id * 10_000 + u64::from(record.attempt.min(999)) * 10 + kind
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn get_n(item: &Item, name: &str) -> Result<u64, String> {
    let value = item
        .get(name)
        .ok_or_else(|| format!("attribute {name} is missing"))?;
    let text = value
        .as_n()
        .map_err(|_| format!("attribute {name} is not a number"))?;
    text.parse()
        .map_err(|_| format!("attribute {name} = {text:?} is not an unsigned integer"))
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, String> {
    item.get(name)
        .ok_or_else(|| format!("attribute {name} is missing"))?
        .as_s()
        .map(String::as_str)
        .map_err(|_| format!("attribute {name} is not a string"))
}

/// The item of a completion row (`usage` as a JSON string, left out when empty).
pub fn row_to_item(row: &BatchRow) -> Item {
    let mut item = HashMap::from([
        (PARTITION_KEY.to_owned(), s(&row.job_id)),
        (SORT_KEY.to_owned(), n(row.batch_id)),
        (TTL_ATTRIBUTE.to_owned(), n(row.ttl)),
        ("results".to_owned(), s(&row.results)),
        ("resultsMimeType".to_owned(), s(&row.results_mime_type)),
        ("nresults".to_owned(), n(row.nresults)),
        ("attempt".to_owned(), n(u64::from(row.attempt))),
        ("startedAtMs".to_owned(), n(row.started_at_ms)),
        ("finishedAtMs".to_owned(), n(row.finished_at_ms)),
    ]);
    if row.usage != Usage::default() {
        if let Ok(usage) = serde_json::to_string(&row.usage) {
            item.insert("usage".to_owned(), s(&usage));
        }
    }
    item
}

/// The completion row stored in `item`; rows written by burst-compute workers (only `results`
/// and `ttl`) read with defaults for our extra attributes.
pub fn item_to_row(item: &Item) -> Result<BatchRow, String> {
    let optional_n = |name: &str| {
        if item.contains_key(name) {
            get_n(item, name)
        } else {
            Ok(0)
        }
    };
    let results = if item.contains_key("results") {
        get_s(item, "results")?.to_owned()
    } else {
        "[]".to_owned()
    };
    let results_mime_type = if item.contains_key("resultsMimeType") {
        get_s(item, "resultsMimeType")?.to_owned()
    } else {
        "application/json".to_owned()
    };
    Ok(BatchRow {
        job_id: get_s(item, PARTITION_KEY)?.to_owned(),
        batch_id: get_n(item, SORT_KEY)?,
        ttl: optional_n(TTL_ATTRIBUTE)?,
        results,
        results_mime_type,
        nresults: optional_n("nresults")?,
        attempt: u32::try_from(optional_n("attempt")?.max(1))
            .map_err(|_| "attribute attempt is out of range".to_owned())?,
        started_at_ms: optional_n("startedAtMs")?,
        finished_at_ms: optional_n("finishedAtMs")?,
        usage: if item.contains_key("usage") {
            serde_json::from_str(get_s(item, "usage")?)
                .map_err(|e| format!("attribute usage is not usage JSON: {e}"))?
        } else {
            Usage::default()
        },
    })
}

fn malformed(table: &str, what: &str, message: String) -> BackendError {
    BackendError::Other(format!(
        "malformed {what} in DynamoDB table {table}: {message}"
    ))
}

fn json_item(
    table: &str,
    what: &str,
    item: &Item,
    attribute: &str,
) -> Result<serde_json::Value, BackendError> {
    let text = get_s(item, attribute).map_err(|e| malformed(table, what, e))?;
    serde_json::from_str(text).map_err(|e| malformed(table, what, e.to_string()))
}

#[async_trait]
impl TaskTable for DynamoTaskTable {
    async fn put_row(&self, row: &BatchRow) -> Result<PutOutcome, BackendError> {
        let item = row_to_item(row);
        let result = with_retries(&self.retry, "DynamoDB PutItem", || {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(#b)")
                .expression_attribute_names("#b", SORT_KEY)
                .send()
        })
        .await;
        match result {
            Ok(_) => Ok(PutOutcome::Inserted),
            Err(e) if e.has_code("ConditionalCheckFailedException") => {
                Ok(PutOutcome::AlreadyPresent)
            }
            Err(e) => Err(e.into_backend(&format!(
                "DynamoDB PutItem {} jobId={} batchId={}",
                self.table, row.job_id, row.batch_id
            ))),
        }
    }

    async fn count_rows(&self, job_id: &str) -> Result<u64, BackendError> {
        let what = format!("DynamoDB Query COUNT {} jobId={job_id}", self.table);
        let mut total = 0u64;
        let mut start_key: Option<Item> = None;
        loop {
            let output = with_retries(&self.retry, "DynamoDB Query", || {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", PARTITION_KEY)
                    .expression_attribute_values(":pk", s(job_id))
                    .select(Select::Count)
                    .consistent_read(true)
                    .set_limit(self.page_size)
                    .set_exclusive_start_key(start_key.clone())
                    .send()
            })
            .await
            .map_err(|e| e.into_backend(&what))?;
            total += output.count().max(0) as u64;
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => return Ok(total),
            }
        }
    }

    async fn read_rows(
        &self,
        job_id: &str,
        page_token: Option<&str>,
    ) -> Result<Page<BatchRow>, BackendError> {
        let (items, next) = self.query_page(job_id, page_token, None).await?;
        let items = items
            .iter()
            .map(item_to_row)
            .collect::<Result<_, _>>()
            .map_err(|e| malformed(&self.table, "task row", e))?;
        Ok(Page { items, next })
    }

    async fn completed_batches(
        &self,
        job_id: &str,
        page_token: Option<&str>,
    ) -> Result<Page<CompletedBatch>, BackendError> {
        let (items, next) = self
            .query_page(job_id, page_token, Some("#b, #s, #f"))
            .await?;
        let items = items
            .iter()
            .map(|item| {
                let batch_id = get_n(item, SORT_KEY)?;
                let started = get_n(item, "startedAtMs").unwrap_or(0);
                let finished = get_n(item, "finishedAtMs").unwrap_or(started);
                Ok(CompletedBatch {
                    batch_id,
                    duration_secs: finished.saturating_sub(started) as f64 / 1000.0,
                })
            })
            .collect::<Result<_, String>>()
            .map_err(|e| malformed(&self.table, "task row", e))?;
        Ok(Page { items, next })
    }

    async fn record_attempt(&self, record: &AttemptRecord) -> Result<(), BackendError> {
        let json = serde_json::to_string(record)
            .map_err(|e| BackendError::Invalid(format!("attempt record: {e}")))?;
        let item = HashMap::from([
            (
                PARTITION_KEY.to_owned(),
                s(&attempts_partition(&record.job_id)),
            ),
            (SORT_KEY.to_owned(), n(attempt_sort_key(record))),
            (TTL_ATTRIBUTE.to_owned(), n(now_secs() + STATUS_TTL_SECS)),
            ("record".to_owned(), s(&json)),
        ]);
        let what = format!("attempt {} of batch {}", record.attempt, record.batch_id);
        self.put_item(&what, item).await
    }

    async fn read_attempts(
        &self,
        job_id: &str,
        page_token: Option<&str>,
    ) -> Result<Page<AttemptRecord>, BackendError> {
        let (items, next) = self
            .query_page(&attempts_partition(job_id), page_token, None)
            .await?;
        let items = items
            .iter()
            .map(|item| {
                let value = json_item(&self.table, "attempt record", item, "record")?;
                serde_json::from_value(value)
                    .map_err(|e| malformed(&self.table, "attempt record", e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn put_status(&self, status: &JobStatus) -> Result<(), BackendError> {
        let json = serde_json::to_string(status)
            .map_err(|e| BackendError::Invalid(format!("job status: {e}")))?;
        let state = serde_json::to_value(status.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let item = HashMap::from([
            (
                PARTITION_KEY.to_owned(),
                s(&status_partition(&status.job_id)),
            ),
            (SORT_KEY.to_owned(), n(0)),
            (TTL_ATTRIBUTE.to_owned(), n(now_secs() + STATUS_TTL_SECS)),
            ("status".to_owned(), s(&json)),
            ("state".to_owned(), s(&state)),
        ]);
        self.put_item(&format!("status of job {}", status.job_id), item)
            .await
    }

    /// Deletes the job's completion rows and attempt log, page by page (keys only), then its
    /// status record, so an interrupted delete leaves the status to be deleted again.
    async fn delete_job(&self, job_id: &str) -> Result<(), BackendError> {
        for partition in [job_id.to_owned(), attempts_partition(job_id)] {
            let mut after: Option<String> = None;
            loop {
                let (items, next) = self
                    .query_page(&partition, after.as_deref(), Some("#b"))
                    .await?;
                let sort_keys = items
                    .iter()
                    .map(|item| get_n(item, SORT_KEY))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| malformed(&self.table, "task-table key", e))?;
                self.delete_items(&partition, &sort_keys).await?;
                match next {
                    Some(token) => after = Some(token),
                    None => break,
                }
            }
        }
        self.delete_items(&status_partition(job_id), &[0]).await
    }

    async fn get_status(&self, job_id: &str) -> Result<Option<JobStatus>, BackendError> {
        let what = format!("DynamoDB GetItem {} status of job {job_id}", self.table);
        let output = with_retries(&self.retry, "DynamoDB GetItem", || {
            self.client
                .get_item()
                .table_name(&self.table)
                .key(PARTITION_KEY, s(&status_partition(job_id)))
                .key(SORT_KEY, n(0))
                .consistent_read(true)
                .send()
        })
        .await
        .map_err(|e| e.into_backend(&what))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let value = json_item(&self.table, "job status", &item, "status")?;
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| malformed(&self.table, "job status", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> BatchRow {
        BatchRow {
            job_id: "job-1".into(),
            batch_id: 7,
            ttl: 1_900_000_000,
            results: "[1,2]".into(),
            results_mime_type: "application/json".into(),
            nresults: 2,
            attempt: 2,
            started_at_ms: 1000,
            finished_at_ms: 2500,
            usage: Usage::default(),
        }
    }

    #[test]
    fn rows_round_trip_through_items() {
        let item = row_to_item(&row());
        assert_eq!(item["batchId"], AttributeValue::N("7".into()));
        assert_eq!(item["ttl"], AttributeValue::N("1900000000".into()));
        assert!(!item.contains_key("usage"), "empty usage is left out");
        assert_eq!(item_to_row(&item), Ok(row()));
        let mut measured = row();
        measured.usage = Usage::invocation("worker", std::time::Duration::from_millis(1500), 2048);
        measured.usage.s3_get_requests = 12;
        let item = row_to_item(&measured);
        assert!(item.contains_key("usage"));
        assert_eq!(item_to_row(&item), Ok(measured));
    }

    #[test]
    fn burst_compute_rows_read_with_defaults() {
        let item = HashMap::from([
            ("jobId".to_owned(), s("j")),
            ("batchId".to_owned(), n(3)),
            ("ttl".to_owned(), n(5)),
            ("results".to_owned(), s("[]")),
        ]);
        let row = item_to_row(&item).unwrap();
        assert_eq!((row.batch_id, row.attempt, row.nresults), (3, 1, 0));
        assert_eq!(row.results_mime_type, "application/json");
        let bad = HashMap::from([("jobId".to_owned(), s("j")), ("batchId".to_owned(), s("x"))]);
        assert_eq!(
            item_to_row(&bad),
            Err("attribute batchId is not a number".to_owned())
        );
    }

    #[test]
    fn attempt_keys_order_by_batch_then_attempt_then_kind() {
        let rec = |batch_id, attempt, kind| AttemptRecord {
            job_id: "j".into(),
            batch_id,
            attempt,
            at_ms: 0,
            kind,
        };
        let failed = AttemptKind::Failed { cause: "x".into() };
        assert_eq!(attempt_sort_key(&rec(3, 1, failed.clone())), 30_010);
        assert_eq!(attempt_sort_key(&rec(3, 2, AttemptKind::Retried)), 30_021);
        assert_eq!(
            attempt_sort_key(&rec(3, 2, AttemptKind::Speculative)),
            30_022
        );
        assert!(
            attempt_sort_key(&rec(2, 999, failed))
                < attempt_sort_key(&rec(3, 0, AttemptKind::Retried))
        );
    }

    #[test]
    fn page_tokens_must_be_batch_ids() {
        assert!(exclusive_start_key("j", "12").is_ok());
        assert_eq!(
            exclusive_start_key("j", "abc"),
            Err("page token \"abc\" is not a batch id (expected an integer)".to_owned())
        );
    }
}
