//! The searches of a server: submission (with idempotency keys), the queue
//! run by one background thread through a [`SearchRunner`], live progress,
//! and durable records in the [`Store`].

use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::limits::Limits;
use crate::model::{MaskInfo, Progress, SearchOutcome, SearchRecord, Status};
use crate::redact::Redactor;
use crate::request::SearchParams;
use crate::runner::{ForgetError, JobMask, RunError, SearchJob, SearchRunner};
use crate::store::{MaskData, Store};
use burst::time::now_ms;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// Progress of a running search, updated from worker threads without locks.
#[derive(Debug, Default)]
struct LiveProgress {
    done: AtomicU64,
    total: AtomicU64,
}

impl cdsearch::progress::Progress for LiveProgress {
    fn start(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
    fn finish(&self) {}
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<String, SearchRecord>,
    /// (owner, Idempotency-Key) → search id.
    keys: HashMap<(String, String), String>,
    /// (owner, Idempotency-Key) of submissions being stored.
    pending: HashSet<(String, String)>,
    live: HashMap<String, Arc<LiveProgress>>,
    results: HashMap<String, Arc<SearchOutcome>>,
}

/// A new search as submitted, validated.
#[derive(Debug)]
pub struct Submission {
    /// The submitting user.
    pub owner: String,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// Digest of the request.
    pub fingerprint: String,
    /// Validated parameters.
    pub params: SearchParams,
    /// The masks: name and image data, in order.
    pub masks: Vec<(String, MaskData)>,
}

impl Submission {
    /// The queued record of this submission as search `id`, and its masks
    /// as (file name, image data) under which a platform stores them.
    pub fn into_record(self, id: &str) -> (SearchRecord, Vec<(String, MaskData)>) {
        let (infos, files) = self
            .masks
            .into_iter()
            .enumerate()
            .map(|(index, (name, data))| {
                let file = mask_file(index, &name);
                (
                    MaskInfo {
                        name,
                        file: file.clone(),
                    },
                    (file, data),
                )
            })
            .unzip();
        let record = SearchRecord {
            id: id.to_owned(),
            owner: self.owner,
            idempotency_key: self.idempotency_key,
            fingerprint: self.fingerprint,
            params: self.params,
            masks: infos,
            status: Status::Queued,
            progress: Progress::default(),
            created_ms: now_ms(),
            started_ms: None,
            finished_ms: None,
            errors: Vec::new(),
        };
        (record, files)
    }
}

/// The searches of a server.
pub struct Searches {
    store: Store,
    state: Mutex<State>,
    queue: Mutex<Sender<Task>>,
    runner: Arc<dyn SearchRunner>,
    runs_shape_stage: bool,
    max_data_bytes: Option<u64>,
    retention: Option<Duration>,
    redactor: Redactor,
}

impl Searches {
    /// Opens the searches stored in `store` and starts the thread that runs
    /// them. Searches a previous server left queued run now; those it left
    /// running are handed to the runner to resume (which gets their results
    /// if their job ended meanwhile, or marks them interrupted). With a
    /// retention in `limits`, a thread deletes finished searches older than
    /// it, at start and every `limits.sweep_interval`. Messages of searches
    /// pass through `redactor` before they are stored.
    pub fn open(
        store: Store,
        catalog: Arc<Catalog>,
        runner: Arc<dyn SearchRunner>,
        limits: &Limits,
        redactor: Redactor,
    ) -> std::io::Result<Arc<Self>> {
        let timeout = limits.search_timeout;
        let (tx, rx) = channel();
        let runs_shape_stage = runner.runs_shape_stage();
        let mut state = State::default();
        for record in store.load_all()? {
            match record.status {
                Status::Queued => tx.send(Task::Run(record.id.clone())).ok(),
                Status::Running => tx.send(Task::Resume(record.id.clone())).ok(),
                _ => None,
            };
            if let Some(key) = &record.idempotency_key {
                state
                    .keys
                    .insert((record.owner.clone(), key.clone()), record.id.clone());
            }
            state.records.insert(record.id.clone(), record);
        }
        let searches = Arc::new(Self {
            store,
            state: Mutex::new(state),
            queue: Mutex::new(tx),
            runner: Arc::clone(&runner),
            runs_shape_stage,
            max_data_bytes: limits.max_data_bytes,
            retention: limits.retention,
            redactor,
        });
        if searches.retention.is_some() {
            let weak = Arc::downgrade(&searches);
            let interval = limits.sweep_interval;
            std::thread::Builder::new()
                .name("cdsearch-retention".into())
                .spawn(move || sweep_forever(&weak, interval))?;
        }
        let runner = Runner {
            searches: Arc::clone(&searches),
            catalog,
            runner,
            timeout,
        };
        std::thread::Builder::new()
            .name("cdsearch-runner".into())
            .spawn(move || runner.run(rx))?;
        Ok(searches)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The store holding the searches.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether the runner runs the shape stage.
    pub fn runs_shape_stage(&self) -> bool {
        self.runs_shape_stage
    }

    /// Stores and queues a new search, or returns the search an earlier
    /// submission with the same idempotency key created (`false`: not new).
    /// The state is not locked while the search is written to disk; a
    /// second submission with a key whose first one is still being stored
    /// gets 409. With a cap on the data directory, a submission that would
    /// pass it gets 507.
    pub fn submit(&self, sub: Submission) -> Result<(SearchRecord, bool), ApiError> {
        let key = sub
            .idempotency_key
            .as_ref()
            .map(|key| (sub.owner.clone(), key.clone()));
        if let Some(key) = &key {
            let mut state = self.lock();
            if let Some(id) = state.keys.get(key) {
                let existing = &state.records[id];
                if existing.fingerprint != sub.fingerprint {
                    return Err(ApiError::KeyReused(format!(
                        "Idempotency-Key {:?} was used for search {id} with a different request; use a new key",
                        key.1
                    )));
                }
                return Ok((self.with_live(&state, existing.clone()), false));
            }
            if !state.pending.insert(key.clone()) {
                return Err(ApiError::Conflict(format!(
                    "a submission with Idempotency-Key {:?} is being stored; retry to get its search",
                    key.1
                )));
            }
        }
        let stored = self.store_new(sub);
        let mut state = self.lock();
        if let Some(key) = &key {
            state.pending.remove(key);
        }
        let record = stored?;
        if let Some(key) = key {
            state.keys.insert(key, record.id.clone());
        }
        state.records.insert(record.id.clone(), record.clone());
        drop(state);
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Task::Run(record.id.clone()))
            .map_err(|_| ApiError::Internal("the search runner has stopped".into()))?;
        Ok((record, true))
    }

    /// Writes a new search to disk (durably), checking the cap first.
    /// Uploads already received into the data directory count once, as they
    /// are: moving them into the search adds nothing.
    fn store_new(&self, sub: Submission) -> Result<SearchRecord, ApiError> {
        let incoming = sub
            .masks
            .iter()
            .map(|(_, data)| data.added_bytes())
            .sum::<std::io::Result<u64>>()?;
        self.check_space(incoming)?;
        let id = uuid::Uuid::new_v4().to_string();
        let (record, files) = sub.into_record(&id);
        self.store.create(&record, files)?;
        Ok(record)
    }

    /// 507 when the data directory holds `incoming` bytes too few to stay
    /// under its cap.
    pub fn check_space(&self, incoming: u64) -> Result<(), ApiError> {
        let Some(cap) = self.max_data_bytes else {
            return Ok(());
        };
        let used = self.store.usage();
        if used.saturating_add(incoming) > cap {
            return Err(ApiError::InsufficientStorage(format!(
                "the server's storage for searches is full ({used} of {cap} bytes used, \
                 {incoming} more needed): delete searches you no longer need \
                 (DELETE /searches/{{id}}) or try again later"
            )));
        }
        Ok(())
    }

    /// Deletes search `id` of `owner`, what the runner keeps of it (its
    /// job's state) and its files. A running search is not deleted (409:
    /// delete it once it has ended); a queued one is deleted and never runs.
    ///
    /// The runner's state goes before the search's files: a search whose
    /// job state is gone is still whole (its results are its own files), so
    /// a crash in between leaves a search that can be deleted again, never
    /// job state that no search refers to. When the runner cannot delete,
    /// the search is kept (409 while its job is still ending, else 500).
    pub fn delete(&self, owner: &str, id: &str) -> Result<(), ApiError> {
        let mut state = self.lock();
        match state.records.get(id) {
            Some(r) if r.owner == owner => {
                if r.status == Status::Running {
                    return Err(ApiError::Conflict(format!(
                        "search {id} is running; delete it once it has ended"
                    )));
                }
            }
            _ => return Err(ApiError::NotFound(format!("no search {id:?} of yours"))),
        }
        let record = forget(&mut state, id);
        drop(state);
        if let Err(e) = self.runner.forget(id) {
            self.restore(record);
            return Err(match e {
                ForgetError::Busy(message) => ApiError::Conflict(message),
                ForgetError::Failed(message) => {
                    tracing::error!(search = id, error = %message, "cannot delete job state");
                    ApiError::Internal(format!(
                        "cannot delete the job state of search {id}; try again later"
                    ))
                }
            });
        }
        self.store.remove(id)?;
        tracing::info!(search = id, "search deleted");
        Ok(())
    }

    /// Deletes the finished searches that ended more than the retention ago
    /// (each as [`Searches::delete`] does; one whose job state cannot be
    /// deleted yet is kept for the next sweep).
    pub fn sweep(&self) {
        let Some(retention) = self.retention else {
            return;
        };
        let cutoff = now_ms().saturating_sub(retention.as_millis() as u64);
        let expired: Vec<SearchRecord> = {
            let mut state = self.lock();
            let ids: Vec<String> = state
                .records
                .values()
                .filter(|r| r.status.is_final())
                .filter(|r| r.finished_ms.unwrap_or(r.created_ms) < cutoff)
                .map(|r| r.id.clone())
                .collect();
            ids.iter().filter_map(|id| forget(&mut state, id)).collect()
        };
        for record in expired {
            let id = record.id.clone();
            if let Err(e) = self.runner.forget(&id) {
                tracing::warn!(search = %id, error = %e, "cannot delete job state; retrying at the next sweep");
                self.restore(Some(record));
                continue;
            }
            match self.store.remove(&id) {
                Ok(()) => tracing::info!(search = %id, "search past its retention deleted"),
                Err(e) => tracing::error!(search = %id, error = %e, "cannot delete search"),
            }
        }
    }

    /// Puts back a search that [`forget`] dropped but could not be deleted.
    fn restore(&self, record: Option<SearchRecord>) {
        let Some(record) = record else {
            return;
        };
        let mut state = self.lock();
        if let Some(key) = &record.idempotency_key {
            state
                .keys
                .insert((record.owner.clone(), key.clone()), record.id.clone());
        }
        state.records.insert(record.id.clone(), record);
    }

    /// The search `id` if `owner` may see it, with live progress.
    pub fn get(&self, owner: &str, id: &str) -> Result<SearchRecord, ApiError> {
        let state = self.lock();
        match state.records.get(id) {
            Some(r) if r.owner == owner => Ok(self.with_live(&state, r.clone())),
            _ => Err(ApiError::NotFound(format!("no search {id:?} of yours"))),
        }
    }

    /// The searches of `owner`, newest first.
    pub fn list(&self, owner: &str) -> Vec<SearchRecord> {
        let state = self.lock();
        let mut records: Vec<_> = state
            .records
            .values()
            .filter(|r| r.owner == owner)
            .map(|r| self.with_live(&state, r.clone()))
            .collect();
        records.sort_by(|a, b| {
            b.created_ms
                .cmp(&a.created_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        records
    }

    /// The results of a finished search of `owner`.
    pub fn results(&self, owner: &str, id: &str) -> Result<Arc<SearchOutcome>, ApiError> {
        let record = self.get(owner, id)?;
        if record.status != Status::Done {
            return Err(ApiError::Conflict(format!(
                "search {id} is {:?}, not done: no results",
                record.status
            )));
        }
        if let Some(outcome) = self.lock().results.get(id) {
            return Ok(Arc::clone(outcome));
        }
        let outcome = Arc::new(self.store.load_results(id)?);
        self.lock()
            .results
            .insert(id.to_owned(), Arc::clone(&outcome));
        Ok(outcome)
    }

    fn with_live(&self, state: &State, mut record: SearchRecord) -> SearchRecord {
        if let Some(live) = state.live.get(&record.id) {
            record.progress = Progress {
                batches_done: live.done.load(Ordering::Relaxed),
                batches_total: live.total.load(Ordering::Relaxed),
            };
        }
        record
    }

    /// Applies `change` to the record of `id` and stores it.
    fn update(&self, id: &str, change: impl FnOnce(&mut SearchRecord)) -> Option<SearchRecord> {
        let mut state = self.lock();
        let record = state.records.get_mut(id)?;
        change(record);
        let record = record.clone();
        if let Err(e) = self.store.save(&record) {
            tracing::error!(search = id, error = %e, "cannot save search record");
        }
        Some(record)
    }
}

/// Drops search `id` from the in-memory state; returns its record.
fn forget(state: &mut State, id: &str) -> Option<SearchRecord> {
    let record = state.records.remove(id);
    if let Some(record) = &record {
        if let Some(key) = &record.idempotency_key {
            state.keys.remove(&(record.owner.clone(), key.clone()));
        }
    }
    state.results.remove(id);
    state.live.remove(id);
    record
}

/// Sweeps now and every `interval` while the searches exist.
fn sweep_forever(searches: &Weak<Searches>, interval: Duration) {
    loop {
        match searches.upgrade() {
            Some(searches) => searches.sweep(),
            None => return,
        }
        std::thread::sleep(interval);
    }
}

/// The file name of mask `index`: its position and its extension if it is an
/// image one (names from clients are never used as paths).
pub fn mask_file(index: usize, name: &str) -> String {
    let ext = std::path::Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .filter(|e| cdsearch::library::IMAGE_EXTENSIONS.contains(&e.as_str()))
        .unwrap_or_else(|| "img".into());
    format!("mask-{index}.{ext}")
}

/// What the runner does with a search.
#[derive(Debug)]
enum Task {
    /// Run a queued search.
    Run(String),
    /// Pick up a search a previous server left running.
    Resume(String),
}

/// The background thread running queued searches one at a time (each one
/// uses every core).
struct Runner {
    searches: Arc<Searches>,
    catalog: Arc<Catalog>,
    runner: Arc<dyn SearchRunner>,
    timeout: Duration,
}

impl Runner {
    fn run(self, queue: Receiver<Task>) {
        while let Ok(task) = queue.recv() {
            match task {
                Task::Run(id) => self.run_one(&id, false),
                Task::Resume(id) => self.run_one(&id, true),
            }
        }
    }

    fn run_one(&self, id: &str, resume: bool) {
        let live = Arc::new(LiveProgress::default());
        self.searches
            .lock()
            .live
            .insert(id.to_owned(), Arc::clone(&live));
        let Some(record) = self.searches.update(id, |r| {
            r.status = Status::Running;
            r.started_ms.get_or_insert_with(now_ms);
        }) else {
            // Deleted while queued.
            self.searches.lock().live.remove(id);
            return;
        };
        let result = self.job(&record).and_then(|job| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if resume {
                    self.runner.resume(&job, live.as_ref())
                } else {
                    self.runner.run(&job, live.as_ref())
                }
            }))
            .unwrap_or_else(|_| Err(RunError::Failed("the search crashed".into())))
        });
        let redactor = self.redactor(&record);
        let (status, error) = match result {
            Ok(mut outcome) => {
                for skipped in &mut outcome.skipped {
                    skipped.reason = redactor.apply(&skipped.reason);
                }
                match self.searches.store.save_results(id, &outcome) {
                    Ok(()) => {
                        self.searches
                            .lock()
                            .results
                            .insert(id.to_owned(), Arc::new(outcome));
                        (Status::Done, None)
                    }
                    Err(e) => (Status::Failed, Some(format!("cannot store results: {e}"))),
                }
            }
            Err(RunError::TimedOut) => (
                Status::TimedOut,
                Some(format!(
                    "the search ran longer than its time-out of {} s",
                    self.timeout.as_secs()
                )),
            ),
            Err(e @ (RunError::Failed(_) | RunError::Interrupted)) => {
                (Status::Failed, Some(e.to_string()))
            }
        };
        let progress = Progress {
            batches_done: live.done.load(Ordering::Relaxed),
            batches_total: live.total.load(Ordering::Relaxed),
        };
        self.searches.update(id, |r| {
            r.status = status;
            r.progress = progress;
            r.finished_ms = Some(now_ms());
            r.errors.extend(error.map(|e| redactor.apply(&e)));
        });
        self.searches.lock().live.remove(id);
        tracing::info!(search = id, ?status, "search finished");
    }

    /// The server's redactor, also replacing the mask files of `record` by
    /// the masks' names.
    fn redactor(&self, record: &SearchRecord) -> Redactor {
        record
            .masks
            .iter()
            .fold(self.searches.redactor.clone(), |r, m| {
                r.with(
                    &self.searches.store.mask_path(&record.id, &m.file),
                    &format!("{:?}", m.name),
                )
            })
    }

    /// The job of a stored search: its mask files and libraries.
    fn job(&self, record: &SearchRecord) -> Result<SearchJob, RunError> {
        let libraries = record
            .params
            .libraries
            .iter()
            .map(|name| {
                self.catalog.library(name).cloned().ok_or_else(|| {
                    RunError::Failed(format!("library {name:?} is no longer served"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(SearchJob {
            id: record.id.clone(),
            masks: record
                .masks
                .iter()
                .map(|m| JobMask {
                    name: m.name.clone(),
                    path: self.searches.store.mask_path(&record.id, &m.file),
                })
                .collect(),
            params: record.params.clone(),
            libraries,
            deadline: Instant::now() + self.timeout,
        })
    }
}
