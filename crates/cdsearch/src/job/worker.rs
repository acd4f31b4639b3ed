//! The color depth search worker: scores one batch of a job's targets
//! against its masks, the same code as a direct search.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use burst::cost::Usage;
use burst::traits::{PartialResult, Worker};
use burst::{TaskError, WorkerEvent};
use cds::pixel_match::{MatchParams, PreparedMask};

use super::combiner::merge_reports;
use super::params::{SearchJobParameters, ShapeJobParameters};
use super::resolver::LibraryResolver;
use crate::results::SearchReport;
use crate::search::{search, Mask, SearchOptions, TargetNeed};

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
        let need = TargetNeed::of(&masks);
        let mut reports = Vec::new();
        for (library, range) in params.locate(event.start_index..event.end_index) {
            let source = self
                .resolver
                .targets(&params.libraries[library], range, &need)
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
        // The targets' reads (S3 requests, or file reads on the local runtime) are the
        // batch's cost drivers the framework cannot see.
        let usage = Usage {
            s3_get_requests: report.reads.requests,
            s3_bytes_read: report.reads.bytes,
            ..Usage::default()
        };
        Ok(PartialResult::json(serde_json::to_value(&report)?)
            .with_count(hits)
            .with_usage(usage))
    }
}

/// Names the library of every hit of a report (for the shape stage, which
/// looks up each hit's derived images in its library).
fn tag_library(report: &mut SearchReport, library_name: &str) {
    for hit in report.masks.iter_mut().flat_map(|m| &mut m.results) {
        hit.library_name = Some(library_name.to_owned());
    }
}
