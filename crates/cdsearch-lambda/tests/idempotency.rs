//! The search API's AWS platform on moto's S3: concurrent first uses of one `Idempotency-Key`
//! start exactly one search (the key is taken with a conditional `PutObject`), every one of
//! them answers that search, a different request with the key is refused, and the losers'
//! objects are deleted.

#[path = "../../burst-aws/tests/common/mod.rs"]
mod aws_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_common::Moto;
use burst::local::{MemoryObjectStore, MemoryTaskTable};
use burst::{collect_pages, BackendError, Backends, Invoker, ObjectStore, StateMachineStarter};
use burst_aws::S3ObjectStore;
use cdsearch_service::error::ApiError;
use cdsearch_service::platform::aws::{AwsLibrary, AwsPlatform};
use cdsearch_service::request::{validate, Known};
use cdsearch_service::searches::Submission;
use cdsearch_service::store::MaskData;
use cdsearch_service::SearchPlatform;
use serde_json::Value;

const BUCKET: &str = "search";
const MANAGER: &str = "manager";
const CONCURRENT: usize = 8;

/// Records the job ids of the manager invocations (each one starts a search).
#[derive(Default)]
struct Started(Mutex<Vec<String>>);

#[async_trait]
impl Invoker for Started {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<(), BackendError> {
        assert_eq!(function_name, MANAGER);
        let job_id = payload["jobId"].as_str().unwrap_or_default().to_owned();
        self.0.lock().unwrap().push(job_id);
        Ok(())
    }
}

struct NoStateMachine;

#[async_trait]
impl StateMachineStarter for NoStateMachine {
    async fn start_execution(&self, name: &str, _: Value) -> Result<String, BackendError> {
        Err(BackendError::Invalid(format!(
            "unexpected execution {name}"
        )))
    }
}

async fn keys_under(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    collect_pages(|token| async move { store.list(prefix, token.as_deref()).await })
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_uses_of_one_key_start_exactly_one_search() {
    let moto = Moto::start().await;
    let clients = moto.clients().await;
    aws_common::create_bucket(&clients, BUCKET).await;
    let s3 = S3ObjectStore::new(&clients, BUCKET);
    let store: Arc<dyn ObjectStore> = Arc::new(s3);
    let started = Arc::new(Started::default());
    let libs: Arc<dyn ObjectStore> = Arc::new(MemoryObjectStore::default());
    let platform = Arc::new(AwsPlatform::new(
        Backends {
            tasks: Arc::new(MemoryTaskTable::default()),
            store: store.clone(),
            invoker: started.clone(),
            starter: Arc::new(NoStateMachine),
        },
        MANAGER.into(),
        BUCKET.into(),
        vec![AwsLibrary {
            name: "lib".into(),
            bucket: "libs".into(),
            folder: "lib".into(),
            lsize: 100,
        }],
        Box::new(move |_: &str| libs.clone()),
        Duration::from_secs(60),
    ));
    let libraries = ["lib".to_owned()];
    let known = Known {
        libraries: &libraries,
        masks: &[],
        max_masks: 10,
        shape_stage_unavailable: None,
    };
    let params = validate(&serde_json::json!({"libraries": ["lib"]}), 1, known)
        .unwrap()
        .params;
    let submission = move |fingerprint: &str| Submission {
        owner: "sub-alice".into(),
        idempotency_key: Some("retry-1".into()),
        fingerprint: fingerprint.into(),
        params: params.clone(),
        masks: vec![("mask.png".into(), MaskData::Bytes(vec![7; 4096]))],
    };

    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let (platform, sub) = (platform.clone(), submission("same request"));
            tokio::spawn(async move { platform.submit(sub).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        let (record, created) = task.await.unwrap().unwrap();
        answers.push((record.id, created));
    }
    let id = answers[0].0.clone();
    assert!(answers.iter().all(|(a, _)| *a == id), "{answers:?}");
    assert_eq!(
        answers.iter().filter(|(_, created)| *created).count(),
        1,
        "exactly one submission created the search: {answers:?}"
    );
    assert_eq!(
        *started.0.lock().unwrap(),
        std::slice::from_ref(&id),
        "exactly one search started"
    );

    let reused = platform.submit(submission("another request")).await;
    assert!(matches!(reused, Err(ApiError::KeyReused(_))), "{reused:?}");
    let (again, created) = platform.submit(submission("same request")).await.unwrap();
    assert_eq!((again.id.as_str(), created), (id.as_str(), false));
    assert_eq!(started.0.lock().unwrap().len(), 1);

    let listed = platform.list("sub-alice").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    let prefix = format!("api/searches/{id}/");
    let mut kept = keys_under(&store, "api/searches/").await;
    kept.sort();
    assert_eq!(
        kept,
        [
            format!("{prefix}mask-0.png"),
            format!("{prefix}search.json")
        ],
        "the losers deleted their masks and records"
    );
}
