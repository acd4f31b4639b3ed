//! Where a worker and a combiner find masks, targets and the shape stage's
//! images: the [`LibraryResolver`] trait, and [`LocalResolver`] over
//! libraries held by this process. Libraries in an object store are
//! resolved by [`crate::store::StoreResolver`].

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use burst::TaskError;

use super::params::LibraryParameters;
use super::sources::SubSource;
use crate::search::{TargetNeed, TargetSource};
use crate::shape_stage::{ShapeBytes, ShapeImageSource};

/// Where a worker finds masks and libraries.
#[async_trait]
pub trait LibraryResolver: Send + Sync {
    /// The bytes of a mask image.
    async fn mask_bytes(&self, bucket: &str, key: &str) -> Result<Vec<u8>, TaskError>;
    /// Targets `range` (local indexes) of a library, ready for a search
    /// that needs `need` of each.
    async fn targets(
        &self,
        library: &LibraryParameters,
        range: Range<u64>,
        need: &TargetNeed,
    ) -> Result<Box<dyn TargetSource + Send>, TaskError>;
    /// The images the shape stage reads for target `image_name` of
    /// `library`. By default a library has no derived images, so its hits
    /// stay not shape-scored.
    async fn shape_bytes(
        &self,
        _library: &LibraryParameters,
        _image_name: &str,
    ) -> Result<ShapeBytes, TaskError> {
        Ok(ShapeBytes::default())
    }
}

/// Resolves libraries held by this process (directories or index files opened
/// by the caller) by library name, and masks as files: the key is a path,
/// relative to the bucket when the bucket (a directory) is not empty.
/// Libraries it does not hold go to a remote resolver if it has one (e.g. a
/// [`crate::store::StoreResolver`] over S3: a laptop searching a bucket).
pub struct LocalResolver {
    libraries: HashMap<String, Arc<dyn TargetSource + Send + Sync>>,
    shape_images: HashMap<String, Arc<dyn ShapeImageSource>>,
    remote: Option<Arc<dyn LibraryResolver>>,
}

impl LocalResolver {
    /// A resolver over these libraries, by name.
    pub fn new(libraries: HashMap<String, Arc<dyn TargetSource + Send + Sync>>) -> Self {
        Self {
            libraries,
            shape_images: HashMap::new(),
            remote: None,
        }
    }

    /// Reads the libraries this resolver does not hold through `remote`.
    pub fn with_remote(mut self, remote: Arc<dyn LibraryResolver>) -> Self {
        self.remote = Some(remote);
        self
    }

    /// The remote resolver of `library`, when this process does not hold it.
    fn remote_for(&self, library: &LibraryParameters) -> Option<&Arc<dyn LibraryResolver>> {
        match self.libraries.contains_key(&library.library_name) {
            true => None,
            false => self.remote.as_ref(),
        }
    }

    /// Lets the shape stage read the images of library `name` from `images`
    /// (libraries without are not shape-scored).
    pub fn with_shape_images(mut self, name: &str, images: Arc<dyn ShapeImageSource>) -> Self {
        self.shape_images.insert(name.to_owned(), images);
        self
    }
}

#[async_trait]
impl LibraryResolver for LocalResolver {
    async fn mask_bytes(&self, bucket: &str, key: &str) -> Result<Vec<u8>, TaskError> {
        let path = std::path::Path::new(bucket).join(key);
        tokio::fs::read(&path)
            .await
            .map_err(|e| TaskError::new(format!("cannot read mask {}: {e}", path.display())))
    }

    async fn targets(
        &self,
        library: &LibraryParameters,
        range: Range<u64>,
        need: &TargetNeed,
    ) -> Result<Box<dyn TargetSource + Send>, TaskError> {
        if let Some(remote) = self.remote_for(library) {
            return remote.targets(library, range, need).await;
        }
        let source = self
            .libraries
            .get(&library.library_name)
            .ok_or_else(|| TaskError::new(format!("unknown library {:?}", library.library_name)))?;
        Ok(Box::new(SubSource::new(source.clone(), range)))
    }

    async fn shape_bytes(
        &self,
        library: &LibraryParameters,
        image_name: &str,
    ) -> Result<ShapeBytes, TaskError> {
        if let Some(remote) = self.remote_for(library) {
            return remote.shape_bytes(library, image_name).await;
        }
        let Some(images) = self.shape_images.get(&library.library_name).cloned() else {
            return Ok(ShapeBytes::default());
        };
        let name = image_name.to_owned();
        tokio::task::spawn_blocking(move || images.shape_bytes(&name))
            .await
            .map_err(|e| TaskError::new(format!("reading shape images failed: {e}")))?
            .map_err(|e| TaskError::new(format!("{image_name}: {e}")))
    }
}
