//! Word counts over the files of a directory, as a burst job: items are the directory's files
//! (sorted by name), a worker counts the words of its files, the combiner adds the counts and
//! keeps the most frequent words. It shows how to write a [`Worker`] and a [`Combiner`];
//! it knows nothing of where it runs (local runtime or cloud).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use burst::{CombineInput, Combiner, PartialResult, TaskError, Worker, WorkerEvent};
use serde_json::{json, Value};

/// Function name the worker is registered under.
pub const WORKER: &str = "wordcount-worker";
/// Function name the combiner is registered under.
pub const COMBINER: &str = "wordcount-combiner";

/// The regular files of `dir`, sorted by name: item `i` of a job is `files(dir)[i]`.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, TaskError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Counts lower-cased alphanumeric words.
pub fn count_words(text: &str, counts: &mut BTreeMap<String, u64>) {
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word.to_lowercase()).or_default() += 1;
    }
}

fn parameter<'a>(params: &'a Value, name: &str) -> Result<&'a Value, TaskError> {
    params
        .get(name)
        .ok_or_else(|| TaskError::new(format!("jobParameters.{name} is missing")))
}

/// Counts the words of the files `startIndex..endIndex` of `jobParameters.dir`.
pub struct WordCountWorker;

#[async_trait]
impl Worker for WordCountWorker {
    async fn process(&self, event: &WorkerEvent) -> Result<PartialResult, TaskError> {
        let dir = parameter(&event.job_parameters, "dir")?
            .as_str()
            .ok_or_else(|| TaskError::new("jobParameters.dir must be a string"))?;
        let files = files(Path::new(dir))?;
        let mut counts = BTreeMap::new();
        for path in files
            .iter()
            .take(event.end_index as usize)
            .skip(event.start_index as usize)
        {
            let text = std::fs::read_to_string(path)
                .map_err(|e| TaskError::new(format!("cannot read {}: {e}", path.display())))?;
            count_words(&text, &mut counts);
        }
        let distinct = counts.len() as u64;
        Ok(PartialResult::json(json!(counts)).with_count(distinct))
    }
}

/// Adds the per-batch counts and keeps the `jobParameters.top` most frequent words.
pub struct WordCountCombiner;

#[async_trait]
impl Combiner for WordCountCombiner {
    async fn combine(&self, input: CombineInput) -> Result<Value, TaskError> {
        let top = parameter(&input.job_parameters, "top")?
            .as_u64()
            .unwrap_or(10) as usize;
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        for partial in &input.partials {
            let counts = partial
                .result
                .as_json()
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    TaskError::new(format!(
                        "batch {} did not return a JSON object",
                        partial.batch_id
                    ))
                })?;
            for (word, n) in counts {
                *totals.entry(word.clone()).or_default() += n.as_u64().unwrap_or(0);
            }
        }
        let words: u64 = totals.values().sum();
        let mut ranked: Vec<(String, u64)> = totals.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(top);
        Ok(json!({
            "words": words,
            "top": ranked.into_iter().map(|(word, count)| json!({"word": word, "count": count})).collect::<Vec<_>>(),
            "missingBatches": input.missing_batches,
        }))
    }
}

/// A job request counting the words of `dir` in batches of `batch_size` files.
pub fn request(dir: &Path, batch_size: u64, top: u64) -> Result<burst::JobRequest, TaskError> {
    let n = files(dir)?.len() as u64;
    let mut request = burst::JobRequest::new(WORKER, COMBINER, 0, n, batch_size);
    request.job_parameters = json!({"dir": dir.to_string_lossy(), "top": top});
    Ok(request)
}
