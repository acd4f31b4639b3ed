//! The libraries in an S3 bucket, in either form `cdsearch library upload` writes (one object
//! per image with key lists, [`cdsearch::store::layout`]; index shards with a manifest,
//! [`cdsearch::store::shards`]): found by walking the bucket's folders (delimiter listings, so a
//! library's millions of items are never listed), each described by its key list, its manifest
//! and its folders.

use std::collections::VecDeque;

use burst::BackendError;
use burst_aws::{AwsClients, S3ObjectStore};
use cdsearch::store::index_upload::read_manifest;
use cdsearch::store::layout::{folder, key_list_key, read_key_list, KEY_LIST_FOLDER};

/// Folder of a library's index manifest.
const INDEX_FOLDER: &str = "INDEX";
use serde::Serialize;

/// Folder depth below the starting prefix at which the search for libraries stops.
pub const MAX_DEPTH: usize = 8;

/// One library found in a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LibraryListing {
    /// Its prefix (folder) in the bucket, without the trailing `/`.
    pub prefix: String,
    /// How it is stored: `images` (one object per image, key lists), `index` (index shards) or
    /// `index+images` (both).
    pub form: String,
    /// Number of targets: the length of its key list, or its manifest's count.
    pub images: u64,
    /// Number of index shards (0 without an index).
    pub index_shards: u64,
    /// Number of numbered item prefixes (`<prefix>/00/` ...) holding objects.
    pub item_prefixes: u64,
    /// Number of key-list copies (`<prefix>/KEYS/<n>/`).
    pub key_list_copies: u64,
}

/// The last segment of a folder (`a/b/` -> `b`).
fn segment(folder: &str) -> &str {
    folder
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// Whether `folder` is a numbered item prefix (`00/` ... `99/`, or any all-digit name).
fn is_item_prefix(folder: &str) -> bool {
    let name = segment(folder);
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// The libraries of one bucket.
#[derive(Debug, Clone)]
pub struct BucketCatalog {
    store: S3ObjectStore,
}

impl BucketCatalog {
    /// The catalog of `bucket`.
    pub fn new(clients: &AwsClients, bucket: impl Into<String>) -> Self {
        BucketCatalog {
            store: S3ObjectStore::new(clients, bucket),
        }
    }

    /// The bucket as an object store.
    pub fn store(&self) -> &S3ObjectStore {
        &self.store
    }

    /// The key-list copies of the library at `prefix` and its image count, if it has key lists.
    async fn key_lists(&self, prefix: &str) -> Result<Option<(u64, u64)>, BackendError> {
        let store = &self.store;
        let copies = store
            .list_folders(&format!("{}{KEY_LIST_FOLDER}/", folder(prefix)))
            .await?;
        if copies.is_empty() {
            return Ok(None);
        }
        let images = match read_key_list(store, prefix, 0).await {
            Ok(list) => list,
            Err(BackendError::NotFound(_)) => {
                let Some(copy) = copies.iter().find_map(|c| segment(c).parse().ok()) else {
                    return Err(BackendError::NotFound(format!(
                        "no key list under {} (expected {})",
                        folder(prefix),
                        key_list_key(prefix, 0)
                    )));
                };
                read_key_list(store, prefix, copy).await?
            }
            Err(e) => return Err(e),
        };
        Ok(Some((images.len() as u64, copies.len() as u64)))
    }

    /// Describes the library at `prefix` given its sub-folders.
    async fn describe(
        &self,
        prefix: &str,
        children: &[String],
    ) -> Result<LibraryListing, BackendError> {
        let lists = self.key_lists(prefix).await?;
        let manifest = match children.contains(&format!("{}{INDEX_FOLDER}/", folder(prefix))) {
            true => read_manifest(&self.store, prefix).await?,
            false => None,
        };
        let form = match (&manifest, lists) {
            (Some(_), Some(_)) => "index+images",
            (Some(_), None) => "index",
            _ => "images",
        };
        let (images, copies) = lists.unwrap_or_default();
        Ok(LibraryListing {
            prefix: prefix.trim_end_matches('/').to_owned(),
            form: form.into(),
            images: manifest.as_ref().map_or(images, |m| m.targets),
            index_shards: manifest.as_ref().map_or(0, |m| m.shards()),
            item_prefixes: children.iter().filter(|c| is_item_prefix(c)).count() as u64,
            key_list_copies: copies,
        })
    }

    /// The libraries at or under `prefix` (empty: the whole bucket), sorted by prefix. A folder
    /// holding a `KEYS/` or an `INDEX/` folder is a library; the walk does not go into libraries,
    /// nor deeper than [`MAX_DEPTH`] folders below `prefix`.
    pub async fn find_libraries(&self, prefix: &str) -> Result<Vec<LibraryListing>, BackendError> {
        let mut found = Vec::new();
        let mut pending = VecDeque::from([(folder(prefix), 0usize)]);
        while let Some((current, depth)) = pending.pop_front() {
            let children = self.store.list_folders(&current).await?;
            let is_library = [KEY_LIST_FOLDER, INDEX_FOLDER]
                .iter()
                .any(|f| children.contains(&format!("{current}{f}/")));
            if is_library {
                found.push(self.describe(&current, &children).await?);
            } else if depth < MAX_DEPTH {
                pending.extend(children.into_iter().map(|c| (c, depth + 1)));
            }
        }
        found.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names() {
        assert_eq!(segment("a/b/"), "b");
        assert_eq!(segment("KEYS/"), "KEYS");
        assert!(is_item_prefix("lib/07/"));
        assert!(is_item_prefix("lib/123/"));
        assert!(!is_item_prefix("lib/KEYS/"));
        assert!(!is_item_prefix("lib/0a/"));
    }
}
