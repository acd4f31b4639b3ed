//! Color depth search as a job on the burst framework: NeuronBridge's job
//! parameters, the worker that scores one batch of targets, and the combiner
//! that merges the batches' hits per mask.
//!
//! Items of a job are numbered across its libraries in order (library `i`
//! holds the global indexes from the sum of the `lsize`s before it). A worker
//! maps its index range onto (library, local range) pieces, reads the targets
//! of each piece through a [`LibraryResolver`] (local files and indexes, or an
//! object store in NeuronBridge's layout), and scores them with
//! [`crate::search::search`], the same code as a direct search. Its partial
//! result, and the combiner's result, are a [`SearchReport`] in JSON.
//!
//! With `shape: true` in the job parameters ([`ShapeJobParameters`]), the
//! [`ShapeSearchCombiner`] runs the shape stage ([`crate::shape_stage`]) on
//! the merged hits: it fetches the best `shapeTop` targets of each mask and
//! their derived images through the resolver, scores them, and re-ranks.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use burst::traits::{CombineInput, Combiner, ObjectStore, PartialResult, Worker};
use burst::{TaskError, WorkerEvent};
use cds::pixel_match::{CodedTarget, MatchParams, PreparedMask};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::results::{rank, Hit, MaskResults, SearchReport};
use crate::search::{search, Mask, SearchOptions, TargetError, TargetNeed, TargetSource};
use crate::shape_stage::{
    prepare_query, rerank_mask, score_fetched, ShapeBytes, ShapeImageSource, DEFAULT_SHAPE_TOP,
};

/// Function name under which the color depth search worker is registered.
pub const WORKER_NAME: &str = "cds-worker";
/// Function name under which the color depth search combiner is registered.
pub const COMBINER_NAME: &str = "cds-combiner";
/// Hits kept per mask when the job does not say (NeuronBridge custom searches).
pub const DEFAULT_MAX_RESULTS_PER_MASK: usize = 500;
/// Shuffled copies of a library's key list in NeuronBridge's S3 layout.
pub const KEY_LIST_COPIES: u32 = 100;

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
    /// Other NeuronBridge fields (store, alignmentSpace, thumbnails bucket,
    /// published name prefix...), kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
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

/// Merges search reports of the same masks (batches, or libraries) into one:
/// hits per mask ranked and cut to `top`, counts added, unreadable targets
/// listed by name.
pub fn merge_reports(reports: impl IntoIterator<Item = SearchReport>, top: usize) -> SearchReport {
    let mut masks: Vec<MaskResults> = Vec::new();
    let (mut targets, mut searched, mut unreadable) = (0, 0, Vec::new());
    for report in reports {
        targets += report.targets;
        searched += report.searched;
        unreadable.extend(report.unreadable);
        for (index, mask) in report.masks.into_iter().enumerate() {
            match masks.get_mut(index) {
                Some(merged) => merged.results.extend(mask.results),
                None => masks.push(mask),
            }
        }
    }
    for mask in &mut masks {
        mask.results = rank(std::mem::take(&mut mask.results), top);
    }
    unreadable.sort_by(|a, b| a.image_name.cmp(&b.image_name));
    SearchReport {
        masks,
        targets,
        searched,
        unreadable,
    }
}

/// Where a worker finds masks and libraries.
#[async_trait]
pub trait LibraryResolver: Send + Sync {
    /// The bytes of a mask image.
    async fn mask_bytes(&self, bucket: &str, key: &str) -> Result<Vec<u8>, TaskError>;
    /// Targets `range` (local indexes) of a library, ready to search.
    async fn targets(
        &self,
        library: &LibraryParameters,
        range: Range<u64>,
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

/// The color depth search worker: scores one batch of targets against the
/// job's masks and returns the batch's hits per mask.
pub struct SearchWorker {
    resolver: Arc<dyn LibraryResolver>,
    /// Prepared mask sets by (bucket, keys, parameters), reused across
    /// batches: the most recently used last, at most [`MASK_SETS_KEPT`].
    masks: Mutex<Vec<(String, Arc<Vec<Mask>>)>>,
}

/// How many prepared mask sets a worker keeps: a Lambda worker serves one
/// job's batches, a long-running server many jobs, whose masks must not pile up.
pub const MASK_SETS_KEPT: usize = 8;

impl SearchWorker {
    /// A worker reading masks and libraries through `resolver`.
    pub fn new(resolver: Arc<dyn LibraryResolver>) -> Self {
        Self {
            resolver,
            masks: Mutex::new(Vec::new()),
        }
    }

    /// The job's masks, decoded and prepared once per worker.
    async fn masks(&self, params: &SearchJobParameters) -> Result<Arc<Vec<Mask>>, TaskError> {
        let match_params: Vec<MatchParams> = (0..params.mask_keys.len())
            .map(|i| params.match_params(i))
            .collect();
        let cache_key = format!(
            "{}\n{:?}\n{match_params:?}",
            params.search_bucket, params.mask_keys
        );
        if let Some(masks) = self.cached_masks(&cache_key) {
            return Ok(masks);
        }
        let mut masks = Vec::with_capacity(params.mask_keys.len());
        for (key, mask_params) in params.mask_keys.iter().zip(&match_params) {
            let bytes = self.resolver.mask_bytes(&params.search_bucket, key).await?;
            masks.push(prepare_mask(key, &bytes, mask_params)?);
        }
        let masks = Arc::new(masks);
        let mut cached = self.lock_masks();
        cached.retain(|(key, _)| *key != cache_key);
        if cached.len() >= MASK_SETS_KEPT {
            cached.remove(0);
        }
        cached.push((cache_key, masks.clone()));
        Ok(masks)
    }

    /// The cached mask set under `key`, marked as the most recently used.
    fn cached_masks(&self, key: &str) -> Option<Arc<Vec<Mask>>> {
        let mut cached = self.lock_masks();
        let at = cached.iter().position(|(k, _)| k == key)?;
        let entry = cached.remove(at);
        let masks = entry.1.clone();
        cached.push(entry);
        Some(masks)
    }

    /// How many prepared mask sets the worker holds.
    pub fn cached_mask_sets(&self) -> usize {
        self.lock_masks().len()
    }

    fn lock_masks(&self) -> std::sync::MutexGuard<'_, Vec<(String, Arc<Vec<Mask>>)>> {
        self.masks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Decodes and prepares a mask, naming it by its key.
pub fn prepare_mask(key: &str, bytes: &[u8], params: &MatchParams) -> Result<Mask, TaskError> {
    let image = cds::decode_rgb(bytes)
        .map_err(|e| TaskError::new(format!("cannot decode mask {key}: {e}")))?;
    let prepared = PreparedMask::new(&image, params)
        .map_err(|e| TaskError::new(format!("cannot prepare mask {key}: {e}")))?;
    Ok(Mask {
        name: key.to_owned(),
        prepared,
    })
}

#[async_trait]
impl Worker for SearchWorker {
    async fn process(&self, event: &WorkerEvent) -> Result<PartialResult, TaskError> {
        let params: SearchJobParameters = serde_json::from_value(event.job_parameters.clone())?;
        params.validate().map_err(|e| TaskError::from_error(&e))?;
        let shape = ShapeJobParameters::from_job(&event.job_parameters)
            .map_err(|e| TaskError::from_error(&e))?;
        let masks = self.masks(&params).await?;
        let kept = shape.hits_kept(params.max_results_per_mask);
        // Hit selection uses only the fields the masks share (all but the mask threshold).
        let options = SearchOptions {
            params: params.match_params(0),
            top: kept,
        };
        let mut reports = Vec::new();
        for (library, range) in params.locate(event.start_index..event.end_index) {
            let source = self
                .resolver
                .targets(&params.libraries[library], range)
                .await?;
            let (masks, options) = (masks.clone(), options.clone());
            let mut report =
                tokio::task::spawn_blocking(move || search(&masks, source.as_ref(), &options, &()))
                    .await
                    .map_err(|e| TaskError::new(format!("search task failed: {e}")))?;
            if shape.shape {
                tag_library(&mut report, &params.libraries[library].library_name);
            }
            reports.push(report);
        }
        let report = merge_reports(reports, kept);
        let hits = report.masks.iter().map(|m| m.results.len() as u64).sum();
        Ok(PartialResult::json(serde_json::to_value(&report)?).with_count(hits))
    }
}

/// Names the library of every hit of a report (for the shape stage, which
/// looks up each hit's derived images in its library).
fn tag_library(report: &mut SearchReport, library_name: &str) {
    for hit in report.masks.iter_mut().flat_map(|m| &mut m.results) {
        hit.library_name = Some(library_name.to_owned());
    }
}

/// The batches' reports of a combine input, merged per mask with `top` hits
/// kept per mask.
fn merge_partials(input: &CombineInput, top: usize) -> Result<SearchReport, TaskError> {
    let reports = input
        .partials
        .iter()
        .map(|batch| {
            let json = batch.result.as_json().ok_or_else(|| {
                TaskError::new(format!("batch {}: result is not JSON", batch.batch_id))
            })?;
            Ok(serde_json::from_value::<SearchReport>(json.clone())?)
        })
        .collect::<Result<Vec<_>, TaskError>>()?;
    Ok(merge_reports(reports, top))
}

/// The color depth search combiner without the shape stage: merges the
/// batches' reports per mask and keeps the best `maxResultsPerMask` hits of
/// each. A job asking for the shape stage gets its hits marked not
/// shape-scored (this combiner cannot read derived images; use
/// [`ShapeSearchCombiner`]).
pub struct SearchCombiner;

#[async_trait]
impl Combiner for SearchCombiner {
    async fn combine(&self, input: CombineInput) -> Result<Value, TaskError> {
        let params: SearchJobParameters = serde_json::from_value(input.job_parameters.clone())?;
        let shape = ShapeJobParameters::from_job(&input.job_parameters)
            .map_err(|e| TaskError::from_error(&e))?;
        let mut report = merge_partials(&input, params.max_results_per_mask)?;
        if shape.shape {
            for mask in &mut report.masks {
                rerank_mask(
                    mask,
                    Vec::new(),
                    params.max_results_per_mask,
                    &mut Vec::new(),
                );
            }
        }
        Ok(serde_json::to_value(report)?)
    }
}

/// The library of a hit: the one it names, or the job's only library.
fn hit_library(params: &SearchJobParameters, hit: &Hit) -> Result<LibraryParameters, String> {
    let found = match (&hit.library_name, params.libraries.as_slice()) {
        (Some(name), libraries) => libraries.iter().find(|l| &l.library_name == name),
        (None, [only]) => Some(only),
        (None, _) => None,
    };
    found.cloned().ok_or_else(|| {
        format!(
            "library {:?} of the hit is not one of the job's libraries",
            hit.library_name
        )
    })
}

/// Targets fetched at once by the shape stage of [`ShapeSearchCombiner`].
pub const SHAPE_FETCH_CONCURRENCY: usize = 16;

/// The color depth search combiner with the shape stage: merges the batches'
/// reports per mask and, when the job asks for it, shape-scores the best
/// `shapeTop` hits of each mask (images fetched through the resolver),
/// re-ranks them by normalized score, and keeps `maxResultsPerMask`.
pub struct ShapeSearchCombiner {
    resolver: Arc<dyn LibraryResolver>,
}

impl ShapeSearchCombiner {
    /// A combiner reading masks and derived images through `resolver`.
    pub fn new(resolver: Arc<dyn LibraryResolver>) -> Self {
        Self { resolver }
    }

    /// The images of the first `count` hits of `mask`, fetched concurrently.
    async fn fetch(
        &self,
        params: &SearchJobParameters,
        mask: &MaskResults,
        count: usize,
    ) -> Vec<Result<ShapeBytes, String>> {
        use futures::stream::{self, StreamExt};
        let requests: Vec<(Result<LibraryParameters, String>, String)> = mask.results[..count]
            .iter()
            .map(|hit| (hit_library(params, hit), hit.image_name.clone()))
            .collect();
        stream::iter(requests)
            .map(|(library, image_name)| {
                let resolver = self.resolver.clone();
                async move {
                    resolver
                        .shape_bytes(&library?, &image_name)
                        .await
                        .map_err(|e| e.to_string())
                }
            })
            .buffered(SHAPE_FETCH_CONCURRENCY)
            .collect()
            .await
    }

    /// Runs the shape stage on every mask of `report`.
    async fn shape_stage(
        &self,
        params: &SearchJobParameters,
        shape: &ShapeJobParameters,
        report: &mut SearchReport,
    ) -> Result<(), TaskError> {
        for (mask, key) in report.masks.iter_mut().zip(&params.mask_keys) {
            let mask_bytes = self.resolver.mask_bytes(&params.search_bucket, key).await?;
            let count = mask.results.len().min(shape.shape_top);
            let fetched = self.fetch(params, mask, count).await;
            let key = key.clone();
            let outcomes = tokio::task::spawn_blocking(move || {
                let image = cds::decode_rgb(&mask_bytes)
                    .map_err(|e| TaskError::new(format!("cannot decode mask {key}: {e}")))?;
                let query = prepare_query(&image).map_err(|e| {
                    TaskError::new(format!(
                        "cannot prepare mask {key} for the shape score: {e}"
                    ))
                })?;
                Ok::<_, TaskError>(score_fetched(&query, fetched))
            })
            .await
            .map_err(|e| TaskError::new(format!("shape stage task failed: {e}")))??;
            rerank_mask(
                mask,
                outcomes,
                params.max_results_per_mask,
                &mut report.unreadable,
            );
        }
        Ok(())
    }
}

#[async_trait]
impl Combiner for ShapeSearchCombiner {
    async fn combine(&self, input: CombineInput) -> Result<Value, TaskError> {
        let params: SearchJobParameters = serde_json::from_value(input.job_parameters.clone())?;
        let shape = ShapeJobParameters::from_job(&input.job_parameters)
            .map_err(|e| TaskError::from_error(&e))?;
        let mut report = merge_partials(&input, shape.hits_kept(params.max_results_per_mask))?;
        if shape.shape {
            self.shape_stage(&params, &shape, &mut report).await?;
        }
        Ok(serde_json::to_value(report)?)
    }
}

/// `range` clipped to `0..len`.
fn clip(range: Range<u64>, len: usize) -> Range<usize> {
    let start = usize::try_from(range.start).map_or(len, |s| s.min(len));
    let end = usize::try_from(range.end).map_or(len, |e| e.clamp(start, len));
    start..end
}

/// A contiguous part of a shared target source.
pub struct SubSource {
    inner: Arc<dyn TargetSource + Send + Sync>,
    range: Range<usize>,
}

impl SubSource {
    /// Targets `range` of `inner` (clipped to its length).
    pub fn new(inner: Arc<dyn TargetSource + Send + Sync>, range: Range<u64>) -> Self {
        let range = clip(range, inner.len());
        Self { inner, range }
    }
}

impl TargetSource for SubSource {
    fn len(&self) -> usize {
        self.range.len()
    }

    fn name(&self, index: usize) -> &str {
        self.inner.name(self.range.start + index)
    }

    fn load(&self, index: usize, need: &TargetNeed) -> Result<CodedTarget, TargetError> {
        self.inner.load(self.range.start + index, need)
    }

    fn load_into(
        &self,
        index: usize,
        need: &TargetNeed,
        out: &mut CodedTarget,
    ) -> Result<(), TargetError> {
        self.inner.load_into(self.range.start + index, need, out)
    }
}

/// Targets already fetched as bytes (e.g. from an object store), decoded on
/// demand.
pub struct FetchedTargets {
    targets: Vec<(String, Result<Vec<u8>, String>)>,
}

impl FetchedTargets {
    /// Targets as (name, bytes or why they could not be fetched).
    pub fn new(targets: Vec<(String, Result<Vec<u8>, String>)>) -> Self {
        Self { targets }
    }
}

impl TargetSource for FetchedTargets {
    fn len(&self) -> usize {
        self.targets.len()
    }

    fn name(&self, index: usize) -> &str {
        &self.targets[index].0
    }

    fn load(&self, index: usize, need: &TargetNeed) -> Result<CodedTarget, TargetError> {
        match &self.targets[index].1 {
            Ok(bytes) => Ok(need.code_bytes(bytes)?),
            Err(reason) => Err(TargetError::Source(reason.clone())),
        }
    }
}

/// Maps a bucket name to the object store holding it.
pub type BucketStores = dyn Fn(&str) -> Result<Arc<dyn ObjectStore>, TaskError> + Send + Sync;

/// Resolves libraries laid out as NeuronBridge does on S3: images in a
/// bucket, and [`KEY_LIST_COPIES`] shuffled copies of the key list at
/// `<folder>/KEYS/<n>/keys_denormalized.json`, of which a worker reads one at
/// random so that concurrent workers spread over the key space.
pub struct StoreResolver {
    stores: Box<BucketStores>,
    concurrency: usize,
}

impl StoreResolver {
    /// A resolver mapping bucket names to stores with `stores`, fetching up
    /// to `concurrency` objects at once.
    pub fn new(
        stores: impl Fn(&str) -> Result<Arc<dyn ObjectStore>, TaskError> + Send + Sync + 'static,
        concurrency: usize,
    ) -> Self {
        Self {
            stores: Box::new(stores),
            concurrency: concurrency.max(1),
        }
    }

    /// The key list of a library: a random copy, or copy 0 if that one is missing.
    async fn key_list(
        &self,
        store: &dyn ObjectStore,
        folder: &str,
    ) -> Result<Vec<String>, TaskError> {
        let copy = rand::random::<u32>() % KEY_LIST_COPIES;
        let bytes = match store.get(&key_list_key(folder, copy)).await {
            Ok(bytes) => bytes,
            Err(burst::BackendError::NotFound(_)) => store
                .get(&key_list_key(folder, 0))
                .await
                .map_err(|e| TaskError::new(format!("key list of {folder}: {e}")))?,
            Err(e) => return Err(TaskError::new(format!("key list of {folder}: {e}"))),
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            TaskError::new(format!(
                "key list of {folder} is not a JSON array of keys: {e}"
            ))
        })
    }
}

/// Key of copy `copy` of a library's key list.
pub fn key_list_key(folder: &str, copy: u32) -> String {
    let folder = folder.trim_end_matches('/');
    if folder.is_empty() {
        format!("KEYS/{copy}/keys_denormalized.json")
    } else {
        format!("{folder}/KEYS/{copy}/keys_denormalized.json")
    }
}

#[async_trait]
impl LibraryResolver for StoreResolver {
    async fn mask_bytes(&self, bucket: &str, key: &str) -> Result<Vec<u8>, TaskError> {
        let store = (self.stores)(bucket)?;
        store
            .get(key)
            .await
            .map_err(|e| TaskError::new(format!("mask {bucket}/{key}: {e}")))
    }

    async fn targets(
        &self,
        library: &LibraryParameters,
        range: Range<u64>,
    ) -> Result<Box<dyn TargetSource + Send>, TaskError> {
        use futures::stream::{self, StreamExt};
        let store = (self.stores)(&library.library_bucket)?;
        let keys = self
            .key_list(store.as_ref(), &library.searched_neurons_folder)
            .await?;
        let wanted = keys[clip(range, keys.len())].to_vec();
        let fetched = stream::iter(wanted)
            .map(|key| {
                let store = store.clone();
                async move {
                    let bytes = store.get(&key).await.map_err(|e| e.to_string());
                    (key, bytes)
                }
            })
            .buffered(self.concurrency)
            .collect::<Vec<_>>()
            .await;
        Ok(Box::new(FetchedTargets::new(fetched)))
    }

    /// The target's object and its derived images under
    /// [`crate::library::derived_name`] keys (missing ones not scored).
    async fn shape_bytes(
        &self,
        library: &LibraryParameters,
        image_name: &str,
    ) -> Result<ShapeBytes, TaskError> {
        use crate::library::{derived_name, DerivedKind};
        let store = (self.stores)(&library.library_bucket)?;
        let derived = |kind| {
            let (store, key) = (store.clone(), derived_name(image_name, kind));
            async move {
                match store.get(&key).await {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(burst::BackendError::NotFound(_)) => Ok(None),
                    Err(e) => Err(TaskError::new(format!("{key}: {e}"))),
                }
            }
        };
        let (gradient, zgap) =
            futures::try_join!(derived(DerivedKind::Gradient), derived(DerivedKind::Zgap))?;
        if gradient.is_none() || zgap.is_none() {
            return Ok(ShapeBytes::default());
        }
        let target = store
            .get(image_name)
            .await
            .map_err(|e| TaskError::new(format!("{image_name}: {e}")))?;
        Ok(ShapeBytes {
            target,
            gradient,
            zgap,
        })
    }
}

/// Resolves libraries held by this process (directories or index files opened
/// by the caller) by library name, and masks as files: the key is a path,
/// relative to the bucket when the bucket (a directory) is not empty.
pub struct LocalResolver {
    libraries: HashMap<String, Arc<dyn TargetSource + Send + Sync>>,
    shape_images: HashMap<String, Arc<dyn ShapeImageSource>>,
}

impl LocalResolver {
    /// A resolver over these libraries, by name.
    pub fn new(libraries: HashMap<String, Arc<dyn TargetSource + Send + Sync>>) -> Self {
        Self {
            libraries,
            shape_images: HashMap::new(),
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
    ) -> Result<Box<dyn TargetSource + Send>, TaskError> {
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

/// A job request for a search: items are the targets of all libraries.
pub fn search_request(
    params: &SearchJobParameters,
    batch_size: u64,
) -> Result<burst::JobRequest, JobError> {
    params.validate()?;
    let mut request = burst::JobRequest::new(
        WORKER_NAME,
        COMBINER_NAME,
        0,
        params.total_items(),
        batch_size.max(1),
    );
    request.job_parameters =
        serde_json::to_value(params).map_err(|e| JobError::Invalid(e.to_string()))?;
    Ok(request)
}

/// A batch size for `items` targets on this machine: a few batches per core,
/// so that progress moves and stragglers are short, and no batch too small to
/// amortize its overhead.
pub fn local_batch_size(items: u64) -> u64 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    items.div_ceil(cores * 8).clamp(1, 2_000)
}

/// A local runtime with the color depth search worker and combiner (with
/// the shape stage) registered, reading through `resolver`.
pub fn local_runtime(resolver: Arc<dyn LibraryResolver>) -> burst::local::LocalRuntimeBuilder {
    burst::local::LocalRuntime::builder()
        .worker(WORKER_NAME, Arc::new(SearchWorker::new(resolver.clone())))
        .combiner(COMBINER_NAME, Arc::new(ShapeSearchCombiner::new(resolver)))
}

/// The search report in a job outcome, or why there is none.
pub fn outcome_report(outcome: &burst::JobOutcome) -> Result<SearchReport, JobError> {
    let result = outcome.result.as_ref().ok_or_else(|| {
        JobError::Invalid(format!(
            "job {} ended without a result: {}",
            outcome.job_id,
            outcome.error.as_deref().unwrap_or("no error reported")
        ))
    })?;
    serde_json::from_value(result.clone())
        .map_err(|e| JobError::Invalid(format!("job {} result: {e}", outcome.job_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(name: &str, lsize: u64) -> LibraryParameters {
        LibraryParameters {
            library_name: name.into(),
            library_bucket: String::new(),
            searched_neurons_folder: String::new(),
            lsize,
            extra: Default::default(),
        }
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

    #[test]
    fn key_list_keys_follow_neuronbridge_layout() {
        assert_eq!(
            key_list_key("lib/x/", 7),
            "lib/x/KEYS/7/keys_denormalized.json"
        );
        assert_eq!(key_list_key("", 0), "KEYS/0/keys_denormalized.json");
    }

    #[test]
    fn clip_keeps_ranges_inside() {
        assert_eq!(clip(2..10, 5), 2..5);
        assert_eq!(clip(7..9, 5), 5..5);
        assert_eq!(clip(u64::MAX - 1..u64::MAX, 5), 5..5);
    }
}
