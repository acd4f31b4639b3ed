//! [`ObjectStore`] over one S3 bucket.

use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use burst::{collect_pages, BackendError, ObjectInfo, ObjectStore, Page, PutOutcome};

use crate::config::AwsClients;
use crate::retry::{with_retries, CallError, RetryPolicy};

/// Keys per listing page (S3's maximum).
pub const LIST_PAGE_SIZE: i32 = 1000;

/// `prefix` as a folder: empty, or ending with one `/`.
fn folder_of(prefix: &str) -> String {
    match prefix.trim_end_matches('/') {
        "" => String::new(),
        prefix => format!("{prefix}/"),
    }
}

/// The token of a listing's next page: its continuation token, if it was cut.
fn next_page(truncated: Option<bool>, token: Option<&str>) -> Option<String> {
    token.filter(|_| truncated == Some(true)).map(str::to_owned)
}

/// The objects of one S3 bucket as a flat key → bytes store.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    retry: RetryPolicy,
    page_size: i32,
}

impl S3ObjectStore {
    /// A store over `bucket`.
    pub fn new(clients: &AwsClients, bucket: impl Into<String>) -> Self {
        S3ObjectStore {
            client: clients.s3(),
            bucket: bucket.into(),
            retry: clients.retry,
            page_size: LIST_PAGE_SIZE,
        }
    }

    /// Uses smaller listing pages (tests exercise pagination with a few keys).
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = page_size.clamp(1, LIST_PAGE_SIZE);
        self
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The SDK client (for calls the trait does not cover, e.g. creating the bucket).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// The sub-folders (common prefixes, each ending with `/`) directly under `prefix`.
    pub async fn list_folders(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        let prefix = folder_of(prefix);
        collect_pages(|token| {
            let prefix = prefix.clone();
            async move {
                let output = with_retries(&self.retry, "S3 ListObjectsV2", || {
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&prefix)
                        .delimiter("/")
                        .max_keys(self.page_size)
                        .set_continuation_token(token.clone())
                        .send()
                })
                .await
                .map_err(|e| {
                    e.into_backend(&format!(
                        "S3 ListObjectsV2 s3://{}/{prefix} (folders)",
                        self.bucket
                    ))
                })?;
                let items = output
                    .common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_owned))
                    .collect();
                let next = next_page(output.is_truncated(), output.next_continuation_token());
                Ok(Page { items, next })
            }
        })
        .await
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Reads an object, or the given `Range` header value of it.
    async fn read(&self, key: &str, range: Option<String>) -> Result<Vec<u8>, CallError> {
        let output = with_retries(&self.retry, "S3 GetObject", || {
            self.client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .set_range(range.clone())
                .send()
        })
        .await?;
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| CallError::transient(format!("reading the body failed: {e}")))?;
        Ok(body.into_bytes().to_vec())
    }
}

/// The HTTP `Range` header for `range` (end exclusive), or `None` when it is empty.
pub fn range_header(range: &Range<u64>) -> Option<String> {
    (range.end > range.start).then(|| format!("bytes={}-{}", range.start, range.end - 1))
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        self.read(key, None)
            .await
            .map_err(|e| e.into_backend(&format!("S3 GetObject {}", self.url(key))))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, BackendError> {
        let what = || format!("S3 GetObject {} bytes {range:?}", self.url(key));
        let Some(header) = range_header(&range) else {
            return Ok(Vec::new());
        };
        match self.read(key, Some(header)).await {
            Ok(bytes) => Ok(bytes),
            // A range starting at or past the end: clipped to nothing, as the trait specifies.
            Err(e) if e.has_code("InvalidRange") => Ok(Vec::new()),
            Err(e) => Err(e.into_backend(&what())),
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackendError> {
        with_retries(&self.retry, "S3 PutObject", || {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(bytes.clone()))
                .send()
        })
        .await
        .map_err(|e| e.into_backend(&format!("S3 PutObject {}", self.url(key))))?;
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<PutOutcome, BackendError> {
        let result = with_retries(&self.retry, "S3 PutObject If-None-Match", || {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .if_none_match("*")
                .body(ByteStream::from(bytes.clone()))
                .send()
        })
        .await;
        match result {
            Ok(_) => Ok(PutOutcome::Inserted),
            Err(e) if e.has_code("PreconditionFailed") => Ok(PutOutcome::AlreadyPresent),
            Err(e) => {
                Err(e.into_backend(&format!("S3 PutObject If-None-Match: * {}", self.url(key))))
            }
        }
    }

    async fn delete_object(&self, key: &str) -> Result<(), BackendError> {
        with_retries(&self.retry, "S3 DeleteObject", || {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
        })
        .await
        .map_err(|e| e.into_backend(&format!("S3 DeleteObject {}", self.url(key))))?;
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        page_token: Option<&str>,
    ) -> Result<Page<ObjectInfo>, BackendError> {
        let output = with_retries(&self.retry, "S3 ListObjectsV2", || {
            self.client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(self.page_size)
                .set_continuation_token(page_token.map(str::to_owned))
                .send()
        })
        .await
        .map_err(|e| e.into_backend(&format!("S3 ListObjectsV2 {}", self.url(prefix))))?;
        let items = output
            .contents()
            .iter()
            .filter_map(|object| {
                Some(ObjectInfo {
                    key: object.key()?.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                })
            })
            .collect();
        let next = next_page(output.is_truncated(), output.next_continuation_token());
        Ok(Page { items, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers_are_inclusive_and_empty_ranges_have_none() {
        assert_eq!(range_header(&(0..10)).as_deref(), Some("bytes=0-9"));
        assert_eq!(range_header(&(5..6)).as_deref(), Some("bytes=5-5"));
        assert_eq!(range_header(&(7..7)), None);
    }
}
