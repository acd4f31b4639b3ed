//! The search service on AWS: [`AwsPlatform`] keeps searches as objects in
//! the search bucket and runs each one as a burst job by invoking the
//! manager Lambda with the job request; status and progress come from the
//! task table, results from the combiner's outcome. The `api` Lambda
//! function (crate `cdsearch-lambda`) serves [`crate::router`] over it behind
//! API Gateway, the caller being the verified JWT's `sub`. It needs no cloud
//! SDK: the stores and the invoker come in as burst's traits.
//!
//! ```text
//! api/searches/<id>/search.json      the SearchRecord
//! api/searches/<id>/mask-<n>.<ext>   uploaded masks (the job's maskKeys)
//! api/searches/<id>/results.json     the SearchOutcome, once done
//! api/owners/<owner hash>/<id>       one empty object per search of a user
//! api/idempotency/<owner hash>/<key hash>   the search id of a key
//! ```
//!
//! A key's object is created once, conditionally (S3 `If-None-Match: *`), after the
//! search's record is stored and before the search is listed or started, so concurrent
//! first uses of one key start exactly one search (see [`AwsPlatform`]'s `submit`).
//!
//! A search's record is brought up to date when it is read: while its job
//! runs, progress is counted in the task table; once the job has an outcome,
//! the results are written and the record becomes final.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use burst::time::now_ms;
use burst::{BackendError, Backends, ObjectStore, PutOutcome};
use cdsearch::hash::fnv1a;
use cdsearch::job::sizing::{libraries_batch_size, WorkerRates};
use cdsearch::job::LibraryParameters;
use cdsearch::store::index_upload::read_manifest;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::model::{LibraryView, MaskInfo, Progress, SearchOutcome, SearchRecord, Status};
use crate::outcome::outcome_of_job;
use crate::platform::{ImageData, SearchPlatform};
use crate::runner::RunError;
use crate::searches::Submission;

/// Environment variable holding the libraries offered, as a JSON array of
/// [`AwsLibrary`].
pub const LIBRARIES_VAR: &str = "CDSEARCH_LIBRARIES";

/// A library in NeuronBridge's S3 layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsLibrary {
    /// Its name in requests and results.
    pub name: String,
    /// The bucket holding its images and key lists.
    pub bucket: String,
    /// Key prefix of its images and `KEYS/` lists.
    #[serde(default)]
    pub folder: String,
    /// Number of images.
    pub lsize: u64,
}

impl AwsLibrary {
    /// The folder as a key prefix (`folder/`, or nothing).
    fn prefix(&self) -> String {
        let folder = self.folder.trim_end_matches('/');
        if folder.is_empty() {
            String::new()
        } else {
            format!("{folder}/")
        }
    }
}

/// Why the API's configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ApiEnvError {
    /// [`LIBRARIES_VAR`] is missing or not a JSON array of libraries.
    #[error("{LIBRARIES_VAR}: expected a JSON array of {{name, bucket, folder, lsize}}: {0}")]
    Libraries(String),
}

/// Reads the libraries from [`LIBRARIES_VAR`].
pub fn libraries_from_env() -> Result<Vec<AwsLibrary>, ApiEnvError> {
    let text = std::env::var(LIBRARIES_VAR).map_err(|e| ApiEnvError::Libraries(e.to_string()))?;
    parse_libraries(&text)
}

/// Parses a JSON array of libraries.
pub fn parse_libraries(text: &str) -> Result<Vec<AwsLibrary>, ApiEnvError> {
    serde_json::from_str(text).map_err(|e| ApiEnvError::Libraries(e.to_string()))
}

/// Maps a bucket name to a store over it.
pub type Buckets = dyn Fn(&str) -> Arc<dyn ObjectStore> + Send + Sync;

/// Searches on AWS: records and masks in the search bucket (`backends.store`),
/// jobs started through the manager function, progress from the task table.
pub struct AwsPlatform {
    backends: Backends,
    manager_function: String,
    search_bucket: String,
    libraries: Vec<AwsLibrary>,
    buckets: Box<Buckets>,
    search_timeout: Duration,
}

fn key_of_search(id: &str, file: &str) -> String {
    format!("api/searches/{id}/{file}")
}

fn owner_prefix(owner: &str) -> String {
    format!("api/owners/{:016x}/", fnv1a(owner.as_bytes()))
}

fn idempotency_object(owner: &str, key: &str) -> String {
    format!(
        "api/idempotency/{:016x}/{:016x}",
        fnv1a(owner.as_bytes()),
        fnv1a(key.as_bytes())
    )
}

const RECORD: &str = "search.json";
const RESULTS: &str = "results.json";

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("{what}: {e}"))
}

impl AwsPlatform {
    /// A platform over `backends` (search bucket `search_bucket`), starting
    /// jobs with `manager_function`, offering `libraries` (read through
    /// `buckets`), each search timing out after `search_timeout`.
    pub fn new(
        backends: Backends,
        manager_function: String,
        search_bucket: String,
        libraries: Vec<AwsLibrary>,
        buckets: Box<Buckets>,
        search_timeout: Duration,
    ) -> Self {
        Self {
            backends,
            manager_function,
            search_bucket,
            libraries,
            buckets,
            search_timeout,
        }
    }

    fn library(&self, name: &str) -> Result<&AwsLibrary, ApiError> {
        self.libraries
            .iter()
            .find(|l| l.name == name)
            .ok_or_else(|| ApiError::NotFound(format!("no library {name:?}")))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T, ApiError> {
        let bytes = self.backends.store.get(key).await.map_err(|e| match e {
            BackendError::NotFound(_) => ApiError::NotFound(format!("no object {key}")),
            e => internal(key, e),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| internal(key, e))
    }

    async fn put_json(&self, key: &str, value: &impl Serialize) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(value).map_err(|e| internal(key, e))?;
        self.backends
            .store
            .put(key, bytes)
            .await
            .map_err(|e| internal(key, e))
    }

    async fn save(&self, record: &SearchRecord) -> Result<(), ApiError> {
        self.put_json(&key_of_search(&record.id, RECORD), record)
            .await
    }

    /// The stored record of `id`, if `owner` may see it.
    async fn load(&self, owner: &str, id: &str) -> Result<SearchRecord, ApiError> {
        let not_found = || ApiError::NotFound(format!("no search {id:?} of yours"));
        if id.contains('/') {
            return Err(not_found());
        }
        match self
            .get_json::<SearchRecord>(&key_of_search(id, RECORD))
            .await
        {
            Ok(record) if record.owner == owner => Ok(record),
            Ok(_) | Err(ApiError::NotFound(_)) => Err(not_found()),
            Err(e) => Err(e),
        }
    }

    /// The job's parameters of library `name`: as an index when its folder
    /// holds an index manifest (one small GET per search), else as
    /// NeuronBridge's layout with the configured size.
    async fn library_parameters(&self, name: &str) -> Result<LibraryParameters, String> {
        let l = self.library(name).map_err(|e| e.to_string())?;
        let store = (self.buckets)(&l.bucket);
        let manifest = read_manifest(store.as_ref(), &l.folder)
            .await
            .map_err(|e| format!("library {name}: {e}"))?;
        let lsize = manifest.as_ref().map_or(l.lsize, |m| m.targets);
        let mut library = LibraryParameters::in_store(&l.name, &l.bucket, &l.folder, lsize);
        library.index = manifest;
        Ok(library)
    }

    /// Starts the job of `record` by invoking the manager with its request.
    async fn start(&self, record: &SearchRecord) -> Result<(), String> {
        let mut libraries = Vec::with_capacity(record.params.libraries.len());
        for name in &record.params.libraries {
            libraries.push(self.library_parameters(name).await?);
        }
        let batch_size = libraries_batch_size(&libraries, &WorkerRates::default());
        let mask_keys = record
            .masks
            .iter()
            .map(|m| key_of_search(&record.id, &m.file))
            .collect();
        let mut request = record
            .params
            .job_request(&self.search_bucket, mask_keys, libraries, batch_size)
            .map_err(|e| e.to_string())?;
        request.job_id = Some(record.id.clone());
        request.search_timeout_secs = self.search_timeout.as_secs_f64();
        let event =
            burst::backends::to_event("job request", &request).map_err(|e| e.to_string())?;
        self.backends
            .invoker
            .invoke(&self.manager_function, event)
            .await
            .map_err(|e| format!("cannot start the search job: {e}"))
    }

    /// (library, image) of a target key of a search over `libraries`: the
    /// library whose folder prefixes the key (the longest), else the first.
    fn split_key(&self, libraries: &[String], key: &str) -> (String, String) {
        let candidates = libraries
            .iter()
            .filter_map(|name| self.libraries.iter().find(|l| &l.name == name));
        let best = candidates
            .filter(|l| key.starts_with(&l.prefix()))
            .max_by_key(|l| l.prefix().len());
        match best {
            Some(l) => (l.name.clone(), key[l.prefix().len()..].to_owned()),
            None => (
                libraries.first().cloned().unwrap_or_default(),
                key.to_owned(),
            ),
        }
    }

    /// The answer to a submission whose `Idempotency-Key` `key` names search `id`: that
    /// search (not new) when `fingerprint` is its request's, else the conflict.
    async fn answer_existing(
        &self,
        owner: &str,
        key: &str,
        fingerprint: &str,
        id: &str,
    ) -> Result<(SearchRecord, bool), ApiError> {
        let existing = self.load(owner, id).await?;
        if existing.fingerprint != fingerprint {
            return Err(ApiError::KeyReused(format!(
                "Idempotency-Key {key:?} was used for search {id} with a different request; use a new key"
            )));
        }
        Ok((self.refresh(existing).await?, false))
    }

    /// Takes `Idempotency-Key` `key` of `owner` for search `id` with a create-if-absent
    /// write; `Some(winner)` when another search holds it.
    async fn reserve_key(
        &self,
        owner: &str,
        key: &str,
        id: &str,
    ) -> Result<Option<String>, ApiError> {
        let object = idempotency_object(owner, key);
        let bytes = serde_json::to_vec(id).map_err(|e| internal(&object, e))?;
        match self.backends.store.put_if_absent(&object, bytes).await {
            Ok(PutOutcome::Inserted) => Ok(None),
            Ok(PutOutcome::AlreadyPresent) => {
                let holder: String = self.get_json(&object).await?;
                // Our own write, stored by a try whose answer was lost and then retried.
                Ok((holder != id).then_some(holder))
            }
            Err(e) => Err(internal(&object, e)),
        }
    }

    /// Deletes the objects of search `id`, which lost its key to another one and was neither
    /// listed nor started; what cannot be deleted is logged and left to the bucket's expiry.
    async fn discard(&self, id: &str, keys: &[String]) {
        for key in keys {
            if let Err(e) = self.backends.store.delete_object(key).await {
                tracing::warn!(search = id, key, error = %e, "cannot delete an object of a search that lost its Idempotency-Key");
            }
        }
    }

    /// Brings an unfinished search up to date from its job.
    async fn refresh(&self, mut record: SearchRecord) -> Result<SearchRecord, ApiError> {
        if record.status.is_final() {
            return Ok(record);
        }
        let report = match burst::status::report(&self.backends, &record.id).await {
            Ok(report) => report,
            Err(burst::BurstError::Backend(BackendError::NotFound(_))) => return Ok(record),
            Err(e) => return Err(internal("job status", e)),
        };
        record.status = Status::Running;
        record.started_ms.get_or_insert(record.created_ms);
        record.progress = Progress {
            batches_done: report.progress.completed + report.progress.failed,
            batches_total: report.progress.total,
        };
        let Some(outcome) = report.outcome else {
            return Ok(record);
        };
        let masks: Vec<String> = record.masks.iter().map(|m| m.name.clone()).collect();
        let libraries = record.params.libraries.clone();
        let result = outcome_of_job(
            &outcome,
            &masks,
            &libraries,
            |key| self.split_key(&libraries, key),
            record.params.max_results_per_mask,
        );
        record.finished_ms = Some(now_ms());
        match result {
            Ok(results) => {
                self.put_json(&key_of_search(&record.id, RESULTS), &results)
                    .await?;
                record.status = Status::Done;
            }
            Err(RunError::TimedOut) => {
                record.status = Status::TimedOut;
                record.errors.push(format!(
                    "the search ran longer than its time-out of {} s",
                    self.search_timeout.as_secs()
                ));
            }
            Err(e) => {
                record.status = Status::Failed;
                record.errors.push(e.to_string());
            }
        }
        self.save(&record).await?;
        Ok(record)
    }
}

#[async_trait]
impl SearchPlatform for AwsPlatform {
    fn libraries(&self) -> Vec<LibraryView> {
        self.libraries
            .iter()
            .map(|l| LibraryView {
                name: l.name.clone(),
                image_count: l.lsize as usize,
            })
            .collect()
    }

    fn stored_masks(&self) -> Vec<String> {
        Vec::new()
    }

    async fn library_image(&self, library: &str, image: &str) -> Result<ImageData, ApiError> {
        let l = self.library(library)?;
        let key = format!("{}{image}", l.prefix());
        let bytes = (self.buckets)(&l.bucket)
            .get(&key)
            .await
            .map_err(|e| match e {
                BackendError::NotFound(_) => {
                    ApiError::NotFound(format!("no image {image:?} in library {library:?}"))
                }
                e => internal(&key, e),
            })?;
        Ok(ImageData::Fetched {
            name: key.into(),
            bytes,
        })
    }

    async fn stored_mask(&self, name: &str) -> Result<ImageData, ApiError> {
        Err(ApiError::NotFound(format!(
            "no stored mask {name:?}: this deployment keeps no stored masks; upload the mask"
        )))
    }

    /// Stores a new search, or answers the one its `Idempotency-Key` names.
    ///
    /// The key is taken with a conditional write ([`ObjectStore::put_if_absent`]) after the
    /// search's masks and record are stored but before it is listed or started: of concurrent
    /// first uses of one key exactly one starts its search; the others read the winner's id,
    /// find its record complete, answer it (same request) or the conflict (different
    /// request), and delete what they stored.
    async fn submit(&self, sub: Submission) -> Result<(SearchRecord, bool), ApiError> {
        if let Some(key) = &sub.idempotency_key {
            match self
                .get_json::<String>(&idempotency_object(&sub.owner, key))
                .await
            {
                Ok(id) => {
                    return self
                        .answer_existing(&sub.owner, key, &sub.fingerprint, &id)
                        .await
                }
                Err(ApiError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (mut record, files) = sub.into_record(&id);
        let mut stored = Vec::with_capacity(files.len() + 1);
        for (file, data) in files {
            let key = key_of_search(&id, &file);
            let bytes = data.into_bytes().map_err(|e| internal(&key, e))?;
            self.backends
                .store
                .put(&key, bytes)
                .await
                .map_err(|e| internal(&key, e))?;
            stored.push(key);
        }
        self.save(&record).await?;
        stored.push(key_of_search(&id, RECORD));
        if let Some(key) = &record.idempotency_key {
            if let Some(winner) = self.reserve_key(&record.owner, key, &id).await? {
                self.discard(&id, &stored).await;
                return self
                    .answer_existing(&record.owner, key, &record.fingerprint, &winner)
                    .await;
            }
        }
        let marker = format!("{}{id}", owner_prefix(&record.owner));
        self.backends
            .store
            .put(&marker, Vec::new())
            .await
            .map_err(|e| internal(&marker, e))?;
        if let Err(e) = self.start(&record).await {
            record.status = Status::Failed;
            record.finished_ms = Some(now_ms());
            record.errors.push(e);
            self.save(&record).await?;
        }
        Ok((record, true))
    }

    async fn get(&self, owner: &str, id: &str) -> Result<SearchRecord, ApiError> {
        let record = self.load(owner, id).await?;
        self.refresh(record).await
    }

    async fn list(&self, owner: &str) -> Result<Vec<SearchRecord>, ApiError> {
        let prefix = &owner_prefix(owner);
        let store = &self.backends.store;
        let markers =
            burst::collect_pages(|token| async move { store.list(prefix, token.as_deref()).await })
                .await
                .map_err(|e| internal("search list", e))?;
        let mut records = Vec::with_capacity(markers.len());
        for marker in markers {
            let id = marker.key.rsplit('/').next().unwrap_or_default();
            match self.get(owner, id).await {
                Ok(record) => records.push(record),
                Err(ApiError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        records.sort_by(|a, b| {
            b.created_ms
                .cmp(&a.created_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(records)
    }

    /// Deletes the search's job state (`burst::cleanup::delete_job_state`:
    /// its outcome and large partial results, its task-table rows, attempt
    /// log and status), then its objects: its idempotency key's object (when
    /// it names this search), its owner marker (so it leaves the list), its
    /// masks and results, and its record last (so a failed delete can be
    /// retried). A search or job that still runs is refused (409).
    async fn delete(&self, owner: &str, id: &str) -> Result<(), ApiError> {
        let record = self.get(owner, id).await?;
        if !record.status.is_final() {
            return Err(ApiError::Conflict(format!(
                "search {id} is {:?}; delete it once it has ended",
                record.status
            )));
        }
        let store = &self.backends.store;
        // The job's state first (its outcome holds the results, its rows the partial
        // ones): a crash midway leaves a whole search that can be deleted again, never job
        // state no search refers to.
        match burst::cleanup::delete_job_state(&*self.backends.tasks, &**store, id).await {
            Ok(_) => {}
            Err(e @ burst::BurstError::JobNotEnded { .. }) => {
                return Err(ApiError::Conflict(format!(
                    "the job of search {id} is still ending ({e}); try again shortly"
                )))
            }
            Err(e) => {
                tracing::error!(error = %e, search = id, "cannot delete the job state");
                return Err(ApiError::Internal(format!(
                    "cannot delete the job state of search {id}"
                )));
            }
        }
        let delete = |key: String| async move {
            store
                .delete_object(&key)
                .await
                .map_err(|e| internal(&key, e))
        };
        if let Some(key) = &record.idempotency_key {
            let object = idempotency_object(owner, key);
            if self.get_json::<String>(&object).await.ok().as_deref() == Some(id) {
                delete(object).await?;
            }
        }
        delete(format!("{}{id}", owner_prefix(owner))).await?;
        let prefix = &key_of_search(id, "");
        let objects =
            burst::collect_pages(|token| async move { store.list(prefix, token.as_deref()).await })
                .await
                .map_err(|e| internal(prefix, e))?;
        let record_key = key_of_search(id, RECORD);
        for object in objects.into_iter().filter(|o| o.key != record_key) {
            delete(object.key).await?;
        }
        delete(record_key).await
    }

    async fn results(&self, owner: &str, id: &str) -> Result<Arc<SearchOutcome>, ApiError> {
        let record = self.get(owner, id).await?;
        if record.status != Status::Done {
            return Err(ApiError::Conflict(format!(
                "search {id} is {:?}, not done: no results",
                record.status
            )));
        }
        Ok(Arc::new(self.get_json(&key_of_search(id, RESULTS)).await?))
    }

    async fn search_mask(&self, search_id: &str, mask: &MaskInfo) -> Result<ImageData, ApiError> {
        let key = key_of_search(search_id, &mask.file);
        let bytes = self
            .backends
            .store
            .get(&key)
            .await
            .map_err(|e| internal(&key, e))?;
        Ok(ImageData::Fetched {
            name: key.into(),
            bytes,
        })
    }

    fn thumbnail_cache(&self) -> Option<std::path::PathBuf> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_parse_and_name_the_variable_when_bad() {
        let libs =
            parse_libraries(r#"[{"name":"a","bucket":"b","folder":"f/","lsize":3}]"#).unwrap();
        assert_eq!(libs[0].prefix(), "f/");
        let err = parse_libraries(r#"{"name":"a"}"#).unwrap_err().to_string();
        assert!(err.starts_with(LIBRARIES_VAR), "{err}");
    }
}
