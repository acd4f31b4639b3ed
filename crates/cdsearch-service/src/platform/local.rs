//! [`LocalPlatform`], the embedded platform: libraries and stored masks from
//! local directories, searches in the on-disk store, run by a background thread.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::{blocking, ImageData, SearchPlatform};
use crate::catalog::{Catalog, ServedLibrary};
use crate::error::ApiError;
use crate::model::{LibraryView, MaskInfo, SearchOutcome, SearchRecord};
use crate::runner::SHAPE_UNSUPPORTED;
use crate::searches::{Searches, Submission};

/// The embedded platform: libraries and stored masks from local
/// directories, searches in the on-disk store, run by a background thread.
pub struct LocalPlatform {
    catalog: Arc<Catalog>,
    searches: Arc<Searches>,
}

impl LocalPlatform {
    /// A platform over `catalog` and `searches`.
    pub fn new(catalog: Arc<Catalog>, searches: Arc<Searches>) -> Self {
        Self { catalog, searches }
    }
}

#[async_trait]
impl SearchPlatform for LocalPlatform {
    fn libraries(&self) -> Vec<LibraryView> {
        self.catalog
            .libraries
            .iter()
            .map(|l| LibraryView {
                name: l.name().to_owned(),
                image_count: l.len(),
            })
            .collect()
    }

    fn stored_masks(&self) -> Vec<String> {
        self.catalog.masks.names()
    }

    async fn library_image(&self, library: &str, image: &str) -> Result<ImageData, ApiError> {
        let lib = self
            .catalog
            .library(library)
            .ok_or_else(|| ApiError::NotFound(format!("no library {library:?}")))?;
        let missing = || ApiError::NotFound(format!("no image {image:?} in library {library:?}"));
        match lib {
            ServedLibrary::Files(files) => {
                let entry = files.get(image).ok_or_else(missing)?;
                Ok(ImageData::File(entry.path.clone()))
            }
            ServedLibrary::Store(store) => {
                let key = store.params.image_key(image).ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "library {library:?} is stored as an index without its images: no image \
                         to show (upload it with `--format both` to keep them)"
                    ))
                })?;
                let bytes = store.store.get(&key).await.map_err(|e| match e {
                    burst::BackendError::NotFound(_) => missing(),
                    e => ApiError::Internal(format!("library {library:?}: {e}")),
                })?;
                Ok(ImageData::Fetched {
                    name: image.into(),
                    bytes,
                })
            }
        }
    }

    async fn stored_mask(&self, name: &str) -> Result<ImageData, ApiError> {
        let entry = self
            .catalog
            .masks
            .get(name)
            .ok_or_else(|| ApiError::NotFound(format!("no stored mask {name:?}")))?;
        Ok(ImageData::File(entry.path.clone()))
    }

    async fn submit(&self, submission: Submission) -> Result<(SearchRecord, bool), ApiError> {
        let searches = Arc::clone(&self.searches);
        blocking(move || searches.submit(submission)).await
    }

    async fn get(&self, owner: &str, id: &str) -> Result<SearchRecord, ApiError> {
        self.searches.get(owner, id)
    }

    async fn list(&self, owner: &str) -> Result<Vec<SearchRecord>, ApiError> {
        Ok(self.searches.list(owner))
    }

    async fn results(&self, owner: &str, id: &str) -> Result<Arc<SearchOutcome>, ApiError> {
        let searches = Arc::clone(&self.searches);
        let (owner, id) = (owner.to_owned(), id.to_owned());
        blocking(move || searches.results(&owner, &id)).await
    }

    async fn delete(&self, owner: &str, id: &str) -> Result<(), ApiError> {
        let searches = Arc::clone(&self.searches);
        let (owner, id) = (owner.to_owned(), id.to_owned());
        blocking(move || searches.delete(&owner, &id)).await
    }

    async fn check_space(&self, incoming: u64) -> Result<(), ApiError> {
        let searches = Arc::clone(&self.searches);
        blocking(move || searches.check_space(incoming)).await
    }

    fn upload_dir(&self) -> Option<PathBuf> {
        Some(self.searches.store().uploads_dir())
    }

    async fn search_mask(&self, search_id: &str, mask: &MaskInfo) -> Result<ImageData, ApiError> {
        Ok(ImageData::File(
            self.searches.store().mask_path(search_id, &mask.file),
        ))
    }

    fn shape_stage_unavailable(&self) -> Option<&'static str> {
        (!self.searches.runs_shape_stage()).then_some(SHAPE_UNSUPPORTED)
    }

    fn thumbnail_cache(&self) -> Option<PathBuf> {
        Some(self.searches.store().cache_dir())
    }
}
