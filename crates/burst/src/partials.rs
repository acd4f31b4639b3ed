//! Partial results too large for a task-table row ([`payload::OBJECT_AT`]) live in the object
//! store; the row keeps an [`ObjectPointer`] to them and stays the batch's completion marker.
//!
//! Layout: `partials/<jobId>/<batchId, 20 digits>/<attempt>-<uuid>` holding the gzip bytes of
//! the JSON result (or a byte result as is). The worker writes the object first, then the
//! conditional row: the first row written wins as for small results, and since every
//! invocation writes its own key (a duplicated delivery of one attempt too), a losing copy's
//! object never touches the winner's. A copy whose row lost deletes its object; what a crash
//! leaves behind expires: the prefix
//! [`PARTIALS_PREFIX`] is top-level so that one object-store lifecycle rule (S3 counts in days;
//! template.yaml expires it after 1 day, its shortest) ends them about with the rows' TTL.

use std::sync::Arc;

use tokio::task::JoinSet;

use crate::error::{BackendError, BurstError};
use crate::job::{BatchRow, WorkerEvent};
use crate::payload::{self, ObjectPointer, Stored, MIME_OBJECT};
use crate::traits::{BatchOutput, ObjectStore, PartialResult};

/// Key prefix of all stored partial results.
pub const PARTIALS_PREFIX: &str = "partials/";

/// How many result objects the combiner fetches at once.
pub const FETCH_CONCURRENCY: usize = 16;

/// Key prefix of the stored partial results of job `job_id`.
pub fn job_prefix(job_id: &str) -> String {
    format!("{PARTIALS_PREFIX}{job_id}/")
}

/// Key of the result object written by one invocation (`nonce` tells duplicates apart).
pub fn object_key(job_id: &str, batch_id: u64, attempt: u32, nonce: &str) -> String {
    format!("{}{batch_id:020}/{attempt}-{nonce}", job_prefix(job_id))
}

/// What a worker writes in its row for a result: the row's `results` and `resultsMimeType`,
/// and the key of the object it wrote, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowResults {
    /// The row's `results`: the encoded result, or an [`ObjectPointer`].
    pub results: String,
    /// The row's `resultsMimeType`.
    pub mime: &'static str,
    /// The result object written for this row (for pointers).
    pub object: Option<String>,
}

/// The row's results for `result` of `event`'s batch: inline when small, else after writing
/// the result object (a fresh key per call).
pub async fn store_result(
    store: &dyn ObjectStore,
    event: &WorkerEvent,
    result: &PartialResult,
) -> Result<RowResults, BackendError> {
    match payload::prepare(result) {
        Stored::Inline { results, mime } => Ok(RowResults {
            results,
            mime,
            object: None,
        }),
        Stored::Object { body, mime } => {
            let nonce = uuid::Uuid::new_v4().simple().to_string();
            let key = object_key(&event.job_id, event.batch_id, event.attempt, &nonce);
            let pointer = ObjectPointer {
                key: key.clone(),
                mime_type: mime.to_owned(),
                size: body.len() as u64,
            };
            store.put(&key, body).await?;
            tracing::debug!(
                jobId = %event.job_id,
                batchId = event.batch_id,
                key,
                bytes = pointer.size,
                "partial result stored as an object"
            );
            Ok(RowResults {
                results: pointer.to_text(),
                mime: MIME_OBJECT,
                object: Some(key),
            })
        }
    }
}

/// Deletes the result object of an invocation whose row lost to another one's (no row points
/// to it); a failure is only logged, the object then expiring with the prefix.
pub async fn discard_loser(store: &dyn ObjectStore, key: &str) {
    if let Err(e) = store.delete_object(key).await {
        tracing::debug!(key, error = %e, "the result object of a losing copy stays until it expires");
    }
}

/// The partial result of `row`, reading its object when the row holds a pointer.
pub async fn resolve(store: &dyn ObjectStore, row: &BatchRow) -> Result<PartialResult, BurstError> {
    let decode_error = |message| BurstError::Decode {
        batch_id: row.batch_id,
        message,
    };
    if row.results_mime_type != MIME_OBJECT {
        return payload::decode(&row.results, &row.results_mime_type, row.nresults)
            .map_err(decode_error);
    }
    let pointer = ObjectPointer::parse(&row.results).map_err(decode_error)?;
    let body = match store.get(&pointer.key).await {
        Ok(body) => body,
        Err(BackendError::NotFound(e)) => {
            return Err(decode_error(format!(
                "the result object {} is missing ({e})",
                pointer.key
            )))
        }
        Err(e) => return Err(e.into()),
    };
    payload::decode_object(&body, &pointer, row.nresults).map_err(decode_error)
}

/// The partial results of `rows`, in their order, reading up to [`FETCH_CONCURRENCY`] objects
/// at once.
pub async fn resolve_all(
    store: &Arc<dyn ObjectStore>,
    rows: Vec<BatchRow>,
) -> Result<Vec<BatchOutput>, BurstError> {
    let mut outputs: Vec<Option<BatchOutput>> = vec![None; rows.len()];
    let mut running = JoinSet::new();
    for (index, row) in rows.into_iter().enumerate() {
        if row.results_mime_type != MIME_OBJECT {
            outputs[index] = Some(BatchOutput {
                batch_id: row.batch_id,
                result: resolve(store.as_ref(), &row).await?,
            });
            continue;
        }
        if running.len() >= FETCH_CONCURRENCY {
            finish_one(&mut running, &mut outputs).await?;
        }
        let store = Arc::clone(store);
        running.spawn(async move {
            let result = resolve(store.as_ref(), &row).await;
            (index, row.batch_id, result)
        });
    }
    while !running.is_empty() {
        finish_one(&mut running, &mut outputs).await?;
    }
    Ok(outputs
        .into_iter()
        .map(|o| o.expect("every row was resolved"))
        .collect())
}

type Fetched = (usize, u64, Result<PartialResult, BurstError>);

async fn finish_one(
    running: &mut JoinSet<Fetched>,
    outputs: &mut [Option<BatchOutput>],
) -> Result<(), BurstError> {
    let Some(joined) = running.join_next().await else {
        return Ok(());
    };
    let (index, batch_id, result) = joined.map_err(|e| {
        BurstError::Backend(BackendError::Other(format!(
            "reading a result object failed: {e}"
        )))
    })?;
    outputs[index] = Some(BatchOutput {
        batch_id,
        result: result?,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::MemoryObjectStore;
    use crate::payload::{MIME_GZIP, OBJECT_AT};
    use serde_json::json;

    fn event(batch_id: u64, attempt: u32) -> WorkerEvent {
        WorkerEvent::from_value(json!({
            "tasksTableName": "t", "jobId": "job-7", "batchId": batch_id,
            "startIndex": 0, "endIndex": 10, "jobParameters": {}, "attempt": attempt
        }))
        .unwrap()
    }

    fn row(batch_id: u64, results: String, mime: &str, nresults: u64) -> BatchRow {
        BatchRow {
            job_id: "job-7".into(),
            batch_id,
            ttl: 0,
            results,
            results_mime_type: mime.into(),
            nresults,
            attempt: 1,
            started_at_ms: 0,
            finished_at_ms: 0,
            usage: Default::default(),
        }
    }

    /// `n` distinct strings that compress poorly (a linear congruential sequence in hex).
    fn noisy(n: usize) -> serde_json::Value {
        let mut x: u64 = 12345;
        let items: Vec<String> = (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                format!("{x:016x}")
            })
            .collect();
        json!(items)
    }

    #[test]
    fn keys_are_per_job_batch_and_invocation() {
        assert_eq!(job_prefix("j"), "partials/j/");
        assert_eq!(
            object_key("j", 42, 3, "ab"),
            "partials/j/00000000000000000042/3-ab"
        );
    }

    #[tokio::test]
    async fn large_results_go_to_objects_and_resolve_exactly() {
        let memory = Arc::new(MemoryObjectStore::default());
        let store: Arc<dyn ObjectStore> = memory.clone();
        let large = PartialResult::json(noisy(40_000));
        let small = PartialResult::json(json!([1, 2]));

        let stored = store_result(store.as_ref(), &event(5, 2), &large)
            .await
            .unwrap();
        assert_eq!(stored.mime, MIME_OBJECT);
        let text = stored.results;
        let pointer = ObjectPointer::parse(&text).unwrap();
        assert_eq!(stored.object.as_ref(), Some(&pointer.key));
        assert!(pointer
            .key
            .starts_with("partials/job-7/00000000000000000005/2-"));
        assert_eq!(pointer.mime_type, MIME_GZIP);
        assert!(
            pointer.size as usize > OBJECT_AT * 3 / 4,
            "{}",
            pointer.size
        );
        assert!(text.len() < 200, "the row holds only the pointer: {text}");

        let inline = store_result(store.as_ref(), &event(6, 1), &small)
            .await
            .unwrap();
        assert_eq!(
            inline,
            RowResults {
                results: "[1,2]".into(),
                mime: "application/json",
                object: None
            }
        );
        let objects = store.list("partials/", None).await.unwrap().items;
        assert_eq!(objects.len(), 1, "only the large result is an object");

        let rows = vec![
            row(5, text.clone(), MIME_OBJECT, 40_000),
            row(6, inline.results, inline.mime, 2),
        ];
        let outputs = resolve_all(&store, rows).await.unwrap();
        assert_eq!(outputs[0].batch_id, 5);
        assert_eq!(outputs[0].result, large);
        assert_eq!(outputs[1].result, small);

        // A second invocation of the same attempt writes its own object.
        let again = store_result(store.as_ref(), &event(5, 2), &large)
            .await
            .unwrap();
        let again = again.object.unwrap();
        assert_ne!(again, pointer.key);
        discard_loser(store.as_ref(), &again).await;
        assert_eq!(store.list("partials/", None).await.unwrap().items.len(), 1);

        // A missing or cut object is a decode error naming the batch and the key.
        let cut = memory.get(&pointer.key).await.unwrap()[..100].to_vec();
        memory.put(&pointer.key, cut).await.unwrap();
        let err = resolve(store.as_ref(), &row(5, text.clone(), MIME_OBJECT, 1))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, BurstError::Decode { batch_id: 5, message } if message.contains("has 100 bytes")),
            "{err}"
        );
        memory.delete(&pointer.key);
        let err = resolve(store.as_ref(), &row(5, text, MIME_OBJECT, 1))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(&pointer.key), "{err}");
        let err = resolve(store.as_ref(), &row(5, "{}".into(), MIME_OBJECT, 1))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("expected {key, mimeType, size}"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn large_byte_results_are_stored_raw() {
        let store: Arc<dyn ObjectStore> = Arc::new(MemoryObjectStore::default());
        let bytes: Vec<u8> = (0..OBJECT_AT as u32).map(|i| (i * 7 % 251) as u8).collect();
        let result = PartialResult::bytes(bytes.clone());
        let stored = store_result(store.as_ref(), &event(1, 1), &result)
            .await
            .unwrap();
        assert_eq!(stored.mime, MIME_OBJECT);
        let text = stored.results;
        let pointer = ObjectPointer::parse(&text).unwrap();
        assert_eq!(pointer.size, OBJECT_AT as u64, "no base64 in the object");
        assert_eq!(store.get(&pointer.key).await.unwrap(), bytes);
        let back = resolve(store.as_ref(), &row(1, text, MIME_OBJECT, 1))
            .await
            .unwrap();
        assert_eq!(back, result);
    }
}
