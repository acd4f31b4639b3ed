//! The color depth search combiners: merge the batches' hits per mask
//! ([`SearchCombiner`]) and, with the shape stage, shape-score the best hits
//! and re-rank them ([`ShapeSearchCombiner`]).

use std::sync::Arc;

use async_trait::async_trait;
use burst::traits::{CombineInput, Combiner};
use burst::TaskError;
use serde_json::Value;

use super::params::{LibraryParameters, SearchJobParameters, ShapeJobParameters};
use super::resolver::LibraryResolver;
use crate::results::{rank, Hit, MaskResults, ReadStats, SearchReport};
use crate::shape_stage::{prepare_query, rerank_mask, score_fetched, ShapeBytes};

/// Merges search reports of the same masks (batches, or libraries) into one:
/// hits per mask ranked and cut to `top`, counts added, unreadable targets
/// listed by name.
pub fn merge_reports(reports: impl IntoIterator<Item = SearchReport>, top: usize) -> SearchReport {
    let mut masks: Vec<MaskResults> = Vec::new();
    let (mut targets, mut searched, mut unreadable) = (0, 0, Vec::new());
    let mut reads = ReadStats::default();
    for report in reports {
        targets += report.targets;
        searched += report.searched;
        reads += report.reads;
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
        reads,
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
