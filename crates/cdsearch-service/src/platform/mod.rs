//! The seam between the HTTP routes and where searches live and run: a
//! [`SearchPlatform`] offers the libraries and stored masks, keeps the
//! searches and their results, and starts their jobs. [`LocalPlatform`] is
//! the embedded one (local files, the on-disk [`crate::store::Store`], a
//! background runner); [`AwsPlatform`] keeps searches in a bucket and runs
//! them as burst jobs of a deployed stack. The router is the same for both.

pub mod aws;
mod local;

pub use aws::AwsPlatform;
pub use local::LocalPlatform;

use crate::error::ApiError;
use crate::model::{LibraryView, MaskInfo, SearchOutcome, SearchRecord};
use crate::searches::Submission;
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;

/// An image to serve or read: a local file, or bytes fetched from a store.
#[derive(Clone, Debug)]
pub enum ImageData {
    /// A file on this machine.
    File(PathBuf),
    /// Bytes fetched from elsewhere, with a name for error messages.
    Fetched {
        /// The image's name (e.g. its object key).
        name: PathBuf,
        /// The image file's bytes (PNG or TIFF).
        bytes: Vec<u8>,
    },
}

impl ImageData {
    /// The bytes of the image file.
    pub fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        match self {
            Self::File(path) => std::fs::read(path),
            Self::Fetched { bytes, .. } => Ok(bytes),
        }
    }
}

/// Runs blocking work (disk, decoding) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("background task failed: {e}")))?
}

/// Where the service's images and searches are. Every method that takes an
/// owner answers only that user's searches (others are not found).
#[async_trait]
pub trait SearchPlatform: Send + Sync {
    /// The libraries that can be searched, with their image counts.
    fn libraries(&self) -> Vec<LibraryView>;
    /// Names of the stored masks searches may reference.
    fn stored_masks(&self) -> Vec<String>;
    /// An image of a library, by its name in results.
    async fn library_image(&self, library: &str, image: &str) -> Result<ImageData, ApiError>;
    /// A stored mask, by name.
    async fn stored_mask(&self, name: &str) -> Result<ImageData, ApiError>;
    /// Stores and starts a new search, or returns the one an earlier
    /// submission with the same idempotency key created (`false`: not new).
    async fn submit(&self, submission: Submission) -> Result<(SearchRecord, bool), ApiError>;
    /// The search `id` of `owner`, with current progress.
    async fn get(&self, owner: &str, id: &str) -> Result<SearchRecord, ApiError>;
    /// The searches of `owner`, newest first.
    async fn list(&self, owner: &str) -> Result<Vec<SearchRecord>, ApiError>;
    /// Deletes search `id` of `owner` and everything stored for it (404 for
    /// others' searches, 409 while it runs).
    async fn delete(&self, owner: &str, id: &str) -> Result<(), ApiError>;
    /// 507 when storing `incoming` more bytes would pass the platform's cap
    /// on stored data.
    async fn check_space(&self, _incoming: u64) -> Result<(), ApiError> {
        Ok(())
    }
    /// A directory where uploads are received (streamed to disk) before
    /// their search is stored; `None`: uploads are kept in memory.
    fn upload_dir(&self) -> Option<PathBuf> {
        None
    }
    /// The results of a finished search of `owner` (409 if not done).
    async fn results(&self, owner: &str, id: &str) -> Result<Arc<SearchOutcome>, ApiError>;
    /// Mask `index` of a search.
    async fn search_mask(&self, search_id: &str, mask: &MaskInfo) -> Result<ImageData, ApiError>;
    /// A directory where thumbnails of local files may be cached.
    fn thumbnail_cache(&self) -> Option<PathBuf>;
    /// Why searches with the shape stage cannot run here, if they cannot.
    fn shape_stage_unavailable(&self) -> Option<&'static str> {
        None
    }
}
