//! Libraries on S3 from the client's side: a directory planned for upload in
//! the layout of [`cdsearch::store::layout`] (targets found as a local search
//! finds them, with their derived images next to them), and the descriptor
//! of an uploaded library.

use std::path::Path;

use burst::{BackendError, ObjectStore};
use cdsearch::job::LibraryParameters;
use cdsearch::library::{derived_name, discover, find_derived, DerivedKind};
use cdsearch::store::describe_library;
use cdsearch::store::upload::LibraryPlan;

use crate::AwsError;

/// Size of a local file.
fn file_size(path: &Path) -> Result<u64, AwsError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| AwsError::Io {
            path: path.to_owned(),
            source,
        })
}

/// Plans the upload of the library in directory `dir` to `prefix`, spread
/// over `item_prefixes` numbered prefixes: its targets, found and named as
/// `cdsearch search` finds them, each with the derived images (gradient,
/// z-gap) found for it, stored at [`derived_name`] of the target's key.
pub fn plan_library_upload(
    dir: &Path,
    prefix: &str,
    item_prefixes: u64,
) -> Result<LibraryPlan, AwsError> {
    if !dir.is_dir() {
        return Err(AwsError::Invalid(format!(
            "library {} is not a directory (expected the folder of the library's images)",
            dir.display()
        )));
    }
    if prefix.trim_matches('/').is_empty() || prefix.starts_with('/') {
        return Err(AwsError::Invalid(format!(
            "library prefix {prefix:?} (expected a folder of the bucket such as \
             JRC2018_Unisex/my_library, without a leading '/')"
        )));
    }
    let mut plan = LibraryPlan::new(prefix).with_item_prefixes(item_prefixes);
    for entry in discover(&[dir.to_path_buf()])? {
        let size = file_size(&entry.path)?;
        let key = plan.add_item(&entry.name, entry.path.clone(), size);
        for kind in DerivedKind::ALL {
            if let Some(path) = find_derived(&entry.path, kind) {
                let size = file_size(&path)?;
                plan.add_companion(derived_name(&key, kind), path, size);
            }
        }
    }
    Ok(plan)
}

/// The descriptor of the library at `prefix` of `bucket` (named by its
/// prefix), in either form ([`describe_library`]); a missing library is an
/// [`AwsError::Invalid`] saying where it was looked for.
pub async fn library_parameters(
    store: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
) -> Result<LibraryParameters, AwsError> {
    let name = prefix.trim_end_matches('/');
    describe_library(store, bucket, prefix, name)
        .await
        .map_err(|e| match e {
            BackendError::NotFound(what) => AwsError::Invalid(format!("not found: {what}")),
            e => AwsError::Backend(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_plans_check_their_arguments() {
        let err = plan_library_upload(Path::new("/no/such/dir"), "lib", 100).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = plan_library_upload(dir.path(), "/", 100).unwrap_err();
        assert!(err.to_string().contains("prefix"), "{err}");
    }
}
