//! The `jobParameters` of a color depth search job, with NeuronBridge's
//! field names and the reference service's defaults: masks, pixel-match
//! parameters, the libraries searched ([`LibraryParameters`]) and the shape
//! stage's settings ([`ShapeJobParameters`]).

use std::ops::Range;

use cds::pixel_match::MatchParams;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::shape_stage::DEFAULT_SHAPE_TOP;
use crate::store::layout::item_key_among;
use crate::store::shards::IndexManifest;

/// Hits kept per mask when the job does not say (NeuronBridge custom searches).
pub const DEFAULT_MAX_RESULTS_PER_MASK: usize = 500;

/// The `jobParameters` of a color depth search, with NeuronBridge's field
/// names and the reference service's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchJobParameters {
    /// Bucket (store) holding the masks.
    #[serde(default)]
    pub search_bucket: String,
    /// Keys of the mask images in the search bucket.
    pub mask_keys: Vec<String>,
    /// Mask threshold per mask (missing entries use 100).
    #[serde(default)]
    pub mask_thresholds: Vec<u8>,
    /// Target pixels count only above this value in some channel.
    #[serde(default = "default_threshold")]
    pub data_threshold: u8,
    /// Hue tolerance in percent (zTolerance = value / 100).
    #[serde(default = "default_fluctuation")]
    pub pix_color_fluctuation: f64,
    /// Maximum shift in pixels: 0, 2 or 4.
    #[serde(default)]
    pub xy_shift: u32,
    /// Also score the mirrored mask.
    #[serde(default)]
    pub mirror_mask: bool,
    /// A target is a hit when its ratio exceeds this percentage.
    #[serde(default = "default_min_ratio")]
    pub min_matching_pix_ratio: f64,
    /// Hits kept per mask in the final result.
    #[serde(default = "default_max_results")]
    pub max_results_per_mask: usize,
    /// The libraries searched, in item order.
    pub libraries: Vec<LibraryParameters>,
}

/// One library of a search (NeuronBridge's library descriptor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LibraryParameters {
    /// Name of the library (resolves local libraries; shown in results).
    pub library_name: String,
    /// Bucket (store) holding the images.
    #[serde(default)]
    pub library_bucket: String,
    /// Folder (key prefix) of the images and of the `KEYS/` lists.
    #[serde(default)]
    pub searched_neurons_folder: String,
    /// Number of images in the library.
    pub lsize: u64,
    /// The manifest of a library stored as index shards in the bucket
    /// (`cdsearch library upload --format index`); absent for NeuronBridge's
    /// layout of one object per image with key lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexManifest>,
    /// Other NeuronBridge fields (store, alignmentSpace, thumbnails bucket,
    /// published name prefix...), kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl LibraryParameters {
    /// A library the searching process holds, known by its name.
    pub fn local(name: impl Into<String>, lsize: u64) -> Self {
        Self::in_store(name, "", "", lsize)
    }

    /// A library in `bucket` under `folder`, in NeuronBridge's layout.
    pub fn in_store(
        name: impl Into<String>,
        bucket: impl Into<String>,
        folder: impl Into<String>,
        lsize: u64,
    ) -> Self {
        Self {
            library_name: name.into(),
            library_bucket: bucket.into(),
            searched_neurons_folder: folder.into(),
            lsize,
            index: None,
            extra: Default::default(),
        }
    }

    /// The object key of the image named `image_name` in results, when the
    /// library keeps its images: the name itself in NeuronBridge's layout
    /// (names are keys), its item key beside an index that keeps them, and
    /// `None` for an index without images.
    pub fn image_key(&self, image_name: &str) -> Option<String> {
        match &self.index {
            None => Some(image_name.to_owned()),
            Some(index) if index.images => Some(item_key_among(
                &self.searched_neurons_folder,
                image_name,
                index.item_prefixes,
            )),
            Some(_) => None,
        }
    }
}

/// The shape stage settings of a search, read from the same `jobParameters`
/// object as [`SearchJobParameters`] (`shape`, `shapeTop`; both optional,
/// the stage off by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeJobParameters {
    /// Run the shape stage and rank hits by normalized score.
    #[serde(default)]
    pub shape: bool,
    /// Hits per mask (best by pixel match) that get a shape score.
    #[serde(default = "default_shape_top")]
    pub shape_top: usize,
}

impl Default for ShapeJobParameters {
    fn default() -> Self {
        Self {
            shape: false,
            shape_top: DEFAULT_SHAPE_TOP,
        }
    }
}

impl ShapeJobParameters {
    /// The shape settings of a job's parameters (defaults where absent).
    pub fn from_job(job_parameters: &Value) -> Result<Self, JobError> {
        let shape: Self = serde_json::from_value(job_parameters.clone())
            .map_err(|e| JobError::Invalid(format!("shape/shapeTop: {e}")))?;
        if shape.shape && shape.shape_top == 0 {
            return Err(JobError::Invalid("shapeTop: must be at least 1".into()));
        }
        Ok(shape)
    }

    /// Adds `shape` and `shapeTop` to a `jobParameters` object.
    pub fn add_to(&self, job_parameters: &mut Value) {
        if let Value::Object(map) = job_parameters {
            map.insert("shape".into(), Value::Bool(self.shape));
            map.insert("shapeTop".into(), Value::from(self.shape_top));
        }
    }

    /// Hits a worker or merge keeps per mask before the final cut to
    /// `max_results`: enough for the stage's top K when it runs.
    pub fn hits_kept(&self, max_results: usize) -> usize {
        if self.shape {
            max_results.max(self.shape_top)
        } else {
            max_results
        }
    }
}

fn default_shape_top() -> usize {
    DEFAULT_SHAPE_TOP
}

fn default_threshold() -> u8 {
    MatchParams::default().data_threshold
}

fn default_fluctuation() -> f64 {
    MatchParams::default().pix_color_fluctuation
}

fn default_min_ratio() -> f64 {
    MatchParams::default().min_matching_pix_ratio
}

fn default_max_results() -> usize {
    DEFAULT_MAX_RESULTS_PER_MASK
}

/// Why a search job's parameters cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The parameters are not valid; the message names the field.
    #[error("invalid search parameters: {0}")]
    Invalid(String),
}

impl SearchJobParameters {
    /// Parameters of a search of the masks at `mask_keys` (in `search_bucket`)
    /// over `libraries` with the pixel-match parameters `params`, each mask
    /// with its own threshold from `mask_thresholds`, keeping
    /// `max_results_per_mask` hits per mask.
    pub fn new(
        search_bucket: impl Into<String>,
        mask_keys: Vec<String>,
        mask_thresholds: Vec<u8>,
        params: &MatchParams,
        max_results_per_mask: usize,
        libraries: Vec<LibraryParameters>,
    ) -> Self {
        Self {
            search_bucket: search_bucket.into(),
            mask_keys,
            mask_thresholds,
            data_threshold: params.data_threshold,
            pix_color_fluctuation: params.pix_color_fluctuation,
            xy_shift: params.xy_shift,
            mirror_mask: params.mirror_mask,
            min_matching_pix_ratio: params.min_matching_pix_ratio,
            max_results_per_mask,
            libraries,
        }
    }

    /// The pixel-match parameters of mask `mask`.
    pub fn match_params(&self, mask: usize) -> MatchParams {
        MatchParams {
            mask_threshold: self
                .mask_thresholds
                .get(mask)
                .copied()
                .unwrap_or(MatchParams::default().mask_threshold),
            data_threshold: self.data_threshold,
            pix_color_fluctuation: self.pix_color_fluctuation,
            xy_shift: self.xy_shift,
            mirror_mask: self.mirror_mask,
            min_matching_pix_ratio: self.min_matching_pix_ratio,
        }
    }

    /// Number of items (targets) of the job: the sum of the library sizes.
    pub fn total_items(&self) -> u64 {
        self.libraries.iter().map(|l| l.lsize).sum()
    }

    /// Checks the parameters, naming the first bad field.
    pub fn validate(&self) -> Result<(), JobError> {
        if self.mask_keys.is_empty() {
            return Err(JobError::Invalid(
                "maskKeys: at least one mask is needed".into(),
            ));
        }
        if self.mask_thresholds.len() > self.mask_keys.len() {
            return Err(JobError::Invalid(format!(
                "maskThresholds: {} thresholds for {} masks",
                self.mask_thresholds.len(),
                self.mask_keys.len()
            )));
        }
        if self.libraries.is_empty() {
            return Err(JobError::Invalid(
                "libraries: at least one library is needed".into(),
            ));
        }
        if self.max_results_per_mask == 0 {
            return Err(JobError::Invalid(
                "maxResultsPerMask: must be at least 1".into(),
            ));
        }
        for mask in 0..self.mask_keys.len() {
            self.match_params(mask)
                .validate()
                .map_err(|e| JobError::Invalid(e.to_string()))?;
        }
        Ok(())
    }

    /// Splits the global item range `items` into (library index, local range)
    /// pieces, in order.
    pub fn locate(&self, items: Range<u64>) -> Vec<(usize, Range<u64>)> {
        let mut pieces = Vec::new();
        let mut first = 0u64;
        for (index, library) in self.libraries.iter().enumerate() {
            let last = first + library.lsize;
            let (start, end) = (items.start.max(first), items.end.min(last));
            if start < end {
                pieces.push((index, start - first..end - first));
            }
            first = last;
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(name: &str, lsize: u64) -> LibraryParameters {
        LibraryParameters::local(name, lsize)
    }

    fn params(libraries: Vec<LibraryParameters>) -> SearchJobParameters {
        serde_json::from_value(serde_json::json!({
            "maskKeys": ["m.png"],
            "libraries": serde_json::to_value(libraries).unwrap(),
        }))
        .unwrap()
    }

    #[test]
    fn defaults_are_the_reference_service_s() {
        let p = params(vec![library("a", 3)]);
        assert_eq!(p.match_params(0), MatchParams::default());
        assert_eq!(p.max_results_per_mask, 500);
        p.validate().unwrap();
    }

    #[test]
    fn locate_splits_ranges_across_libraries() {
        let p = params(vec![library("a", 3), library("b", 0), library("c", 5)]);
        assert_eq!(p.total_items(), 8);
        assert_eq!(p.locate(0..8), vec![(0, 0..3), (2, 0..5)]);
        assert_eq!(p.locate(2..4), vec![(0, 2..3), (2, 0..1)]);
        assert_eq!(p.locate(5..7), vec![(2, 2..4)]);
        assert!(p.locate(8..9).is_empty());
    }

    #[test]
    fn validation_names_the_field() {
        let mut p = params(vec![library("a", 1)]);
        p.mask_thresholds = vec![10, 20];
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("maskThresholds"));
        p.mask_thresholds.clear();
        p.xy_shift = 3;
        assert!(p.validate().is_err());
        p.xy_shift = 0;
        p.libraries.clear();
        assert!(p.validate().unwrap_err().to_string().contains("libraries"));
    }

    #[test]
    fn shape_settings_are_optional_job_fields() {
        let mut json = serde_json::to_value(params(vec![library("a", 1)])).unwrap();
        let off = ShapeJobParameters::from_job(&json).unwrap();
        assert_eq!(off, ShapeJobParameters::default());
        assert_eq!((off.shape, off.shape_top), (false, 300));
        assert_eq!(off.hits_kept(500), 500);
        let on = ShapeJobParameters {
            shape: true,
            shape_top: 700,
        };
        on.add_to(&mut json);
        assert_eq!(json["shapeTop"], 700);
        assert_eq!(ShapeJobParameters::from_job(&json).unwrap(), on);
        assert_eq!(on.hits_kept(500), 700);
        json["shapeTop"] = 0.into();
        let err = ShapeJobParameters::from_job(&json).unwrap_err();
        assert!(err.to_string().contains("shapeTop"), "{err}");
    }
}
