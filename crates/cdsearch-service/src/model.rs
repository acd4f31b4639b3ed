//! The records the service keeps per search and the shapes it answers with.

use crate::request::{FieldError, SearchParams};
use cdsearch::results::{Hit, ShapeResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a search is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted, waiting for its turn.
    Queued,
    /// Being searched.
    Running,
    /// Finished; results are available.
    Done,
    /// Stopped by an error (see `errors`).
    Failed,
    /// Stopped because it ran longer than the search time-out.
    TimedOut,
}

impl Status {
    /// Whether the search is over (it will not change any more).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::TimedOut)
    }
}

/// A mask of a search, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaskInfo {
    /// The mask's name: the uploaded file name, or the stored mask's name.
    pub name: String,
    /// The file under the search's directory holding the mask image.
    pub file: String,
}

/// Progress of a running search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Batches finished.
    pub batches_done: u64,
    /// Batches in the search (0 until it is planned).
    pub batches_total: u64,
}

/// Everything stored about one search (`search.json` in its directory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRecord {
    /// The search's id.
    pub id: String,
    /// The user who submitted it.
    pub owner: String,
    /// The client's `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
    /// A digest of the request (parameters and mask bytes), to tell a retry
    /// from a different request reusing a key.
    pub fingerprint: String,
    /// Validated parameters.
    pub params: SearchParams,
    /// The masks, uploads first then stored masks.
    pub masks: Vec<MaskInfo>,
    /// Current status.
    pub status: Status,
    /// Progress when last saved (live progress is kept in memory).
    pub progress: Progress,
    /// Submission time, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When the search started running.
    pub started_ms: Option<u64>,
    /// When it finished (any final status).
    pub finished_ms: Option<u64>,
    /// What went wrong, for failed or partly failed searches.
    pub errors: Vec<String>,
}

/// One hit of a mask, as served.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiHit {
    /// The library holding the target.
    pub library_name: String,
    /// The target's name in its library.
    pub image_name: String,
    /// Matching mask pixels.
    pub matching_pixels: i64,
    /// `matchingPixels` / mask pixels.
    pub matching_ratio: f64,
    /// Whether the best score came from the mirrored mask.
    pub mirrored: bool,
    /// The shape stage's values (`shapeScored`, `gradientAreaGap`,
    /// `highExpressionArea`, `shapeScore`, `shapeMirrored`,
    /// `normalizedScore`), present when the search ran it.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<ShapeResult>,
}

impl ApiHit {
    /// A hit of the search core, served as a hit of library `library_name`
    /// named `image_name`.
    pub fn from_hit(library_name: String, image_name: String, hit: Hit) -> Self {
        Self {
            library_name,
            image_name,
            matching_pixels: hit.matching_pixels,
            matching_ratio: hit.matching_ratio,
            mirrored: hit.mirrored,
            shape: hit.shape,
        }
    }

    /// Whether the shape stage scored this hit.
    pub fn shape_scored(&self) -> bool {
        self.shape.is_some_and(|s| s.shape_scored)
    }
}

/// The ranked hits of one mask, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaskOutcome {
    /// The mask's name.
    pub mask_name: String,
    /// Mask pixels above its threshold.
    pub mask_pixels: usize,
    /// Hits, best first.
    pub hits: Vec<ApiHit>,
}

/// A target that could not be searched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedTarget {
    /// Its library.
    pub library_name: String,
    /// Its name in the library.
    pub image_name: String,
    /// Why.
    pub reason: String,
}

/// The final result of a search (`results.json` in its directory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchOutcome {
    /// Per mask, in the search's mask order.
    pub masks: Vec<MaskOutcome>,
    /// Targets in the searched libraries.
    pub targets: usize,
    /// Targets scored against at least one mask.
    pub searched: usize,
    /// Targets that could not be scored.
    pub skipped: Vec<SkippedTarget>,
}

/// Links to a mask's images.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaskView {
    /// Position in the search.
    pub index: usize,
    /// The mask's name.
    pub name: String,
    /// Full-size PNG.
    #[serde(rename = "imageURL")]
    pub image_url: String,
    /// Thumbnail PNG.
    #[serde(rename = "thumbnailURL")]
    pub thumbnail_url: String,
}

/// The answer of `GET /searches/{id}` (and of `POST /searches`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchView {
    /// The search's id.
    pub id: String,
    /// Current status.
    pub status: Status,
    /// Progress in batches.
    pub progress: Progress,
    /// Seconds since the search started running (until it finished).
    pub elapsed_secs: f64,
    /// Submission time, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// What went wrong, if anything.
    pub errors: Vec<String>,
    /// The validated parameters.
    pub params: SearchParams,
    /// The masks.
    pub masks: Vec<MaskView>,
    /// Where the results are (once `done`).
    #[serde(rename = "resultsURL")]
    pub results_url: String,
}

/// A hit in a results page, with its rank and links.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HitView {
    /// 1-based rank within its mask.
    pub rank: usize,
    /// The hit.
    #[serde(flatten)]
    pub hit: ApiHit,
    /// Full-size PNG of the target.
    #[serde(rename = "imageURL")]
    pub image_url: String,
    /// Thumbnail PNG of the target.
    #[serde(rename = "thumbnailURL")]
    pub thumbnail_url: String,
}

/// One page of a mask's ranked hits.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaskPage {
    /// The mask and its images.
    pub mask: MaskView,
    /// Mask pixels above its threshold.
    pub mask_pixels: usize,
    /// Hits of this mask in all pages.
    pub total_hits: usize,
    /// The hits of this page, best first.
    pub results: Vec<HitView>,
}

/// The answer of `GET /searches/{id}/results` as JSON.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultsPage {
    /// The search's id.
    pub search_id: String,
    /// Page number, from 1.
    pub page: usize,
    /// Hits per mask per page.
    pub per_page: usize,
    /// Pages needed for the mask with the most hits.
    pub pages: usize,
    /// Targets in the searched libraries.
    pub targets: usize,
    /// Targets scored.
    pub searched: usize,
    /// Targets that could not be scored.
    pub skipped: Vec<SkippedTarget>,
    /// Per mask.
    pub masks: Vec<MaskPage>,
}

/// A library the service searches.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LibraryView {
    /// Its name, used in requests.
    pub name: String,
    /// Number of target images.
    pub image_count: usize,
}

/// A stored mask that searches can reference.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredMaskView {
    /// Its name, used in `maskRefs`.
    pub name: String,
    /// Full-size PNG.
    #[serde(rename = "imageURL")]
    pub image_url: String,
    /// Thumbnail PNG.
    #[serde(rename = "thumbnailURL")]
    pub thumbnail_url: String,
}

/// The body of every error answer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `invalid_request`, `unauthorized`, `not_found`,
    /// `payload_too_large`, `rate_limited`, `conflict`, `internal`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// The bad fields of an invalid request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}
