//! What a search needs to know of a library in an object store, read once
//! by whoever starts the search (the CLI, the service), so that workers read
//! nothing but their targets.

use burst::{BackendError, ObjectStore};

use super::index_upload::read_manifest;
use super::layout::{key_list_key, read_key_list};
use super::shards::manifest_key;
use crate::job::LibraryParameters;

/// The descriptor of the library at `prefix` of `bucket`, named `name`: its
/// index manifest when it has one (the faster form, preferred when both are
/// there), else its size from its key list. A prefix holding neither is
/// [`BackendError::NotFound`], naming both.
pub async fn describe_library(
    store: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
    name: &str,
) -> Result<LibraryParameters, BackendError> {
    let prefix = prefix.trim_end_matches('/');
    if let Some(manifest) = read_manifest(store, prefix).await? {
        let mut library = LibraryParameters::in_store(name, bucket, prefix, manifest.targets);
        library.index = Some(manifest);
        return Ok(library);
    }
    let keys = read_key_list(store, prefix, 0).await.map_err(|e| match e {
        BackendError::NotFound(_) => BackendError::NotFound(format!(
            "library {prefix} in bucket {bucket} (expected its index manifest at {} or its key \
             list at {}; upload it with `cdsearch library upload`)",
            manifest_key(prefix),
            key_list_key(prefix, 0)
        )),
        e => e,
    })?;
    Ok(LibraryParameters::in_store(
        name,
        bucket,
        prefix,
        keys.len() as u64,
    ))
}
