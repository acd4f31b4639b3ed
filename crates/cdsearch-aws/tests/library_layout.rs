//! The S3 library layout and the bucket catalog against moto: upload, resume, a changed
//! library, and finding libraries at any depth.

#[path = "../../burst-aws/tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use burst::ObjectStore;
use cdsearch::store::layout::{key_list_key, read_key_list, KEY_LIST_COPIES};
use cdsearch::store::upload::{list_all, upload_library, LibraryPlan, UploadSummary};
use cdsearch_aws::catalog::{BucketCatalog, LibraryListing};
use common::{repo_root, Moto};

/// The files of a fixture folder, sorted by name, as (name, path, size).
fn fixture_files(folder: &str) -> Vec<(String, PathBuf, u64)> {
    let dir = repo_root().join("fixtures/cdm/cdsearch").join(folder);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let size = std::fs::metadata(&path).unwrap().len();
            (name, path, size)
        })
        .collect();
    files.sort();
    files
}

/// A plan of the `lms` fixture targets, each with its gradient image as a companion.
fn lms_plan(prefix: &str) -> LibraryPlan {
    let mut plan = LibraryPlan::new(prefix);
    let gradients = fixture_files("grad");
    for (name, path, size) in fixture_files("lms") {
        let key = plan.add_item(&name, path, size);
        let stem = name.trim_end_matches(".tif");
        let (_, grad, grad_size) = gradients
            .iter()
            .find(|(g, _, _)| g.trim_end_matches(".png") == stem)
            .unwrap();
        plan.add_companion(format!("{key}.grad.png"), grad.clone(), *grad_size);
    }
    plan
}

async fn upload(store: &Arc<dyn ObjectStore>, plan: &LibraryPlan) -> (UploadSummary, u64) {
    let last = Arc::new(AtomicU64::new(0));
    let seen = last.clone();
    let summary = upload_library(
        store.clone(),
        plan,
        3,
        Arc::new(move |done| {
            seen.fetch_max(done, Ordering::Relaxed);
        }),
    )
    .await
    .unwrap();
    (summary, last.load(Ordering::Relaxed))
}

#[tokio::test]
async fn libraries_upload_resume_and_are_found_in_the_bucket() {
    let moto = Moto::start().await;
    let clients = moto.clients().await;
    common::create_bucket(&clients, "libraries").await;
    let catalog = BucketCatalog::new(&clients, "libraries");
    let store: Arc<dyn ObjectStore> = Arc::new(catalog.store().clone());

    let plan = lms_plan("JRC2018/lm/searchable_neurons");
    assert_eq!((plan.files.len(), plan.items.len()), (6, 3));
    let (summary, progress) = upload(&store, &plan).await;
    assert_eq!(
        summary,
        UploadSummary {
            uploaded: 6,
            skipped: 0,
            key_lists: KEY_LIST_COPIES as u64
        }
    );
    assert_eq!(progress, plan.steps());
    let copy_0 = read_key_list(store.as_ref(), &plan.prefix, 0)
        .await
        .unwrap();
    assert_eq!(copy_0, plan.key_list());
    assert_eq!(
        read_key_list(store.as_ref(), &plan.prefix, 99)
            .await
            .unwrap(),
        copy_0
    );
    for file in &plan.files {
        assert_eq!(
            store.get(&file.key).await.unwrap(),
            std::fs::read(&file.path).unwrap(),
            "{}",
            file.key
        );
    }

    let (again, progress) = upload(&store, &plan).await;
    assert_eq!(
        again,
        UploadSummary {
            uploaded: 0,
            skipped: 6,
            key_lists: 0
        },
        "a second upload resumes and writes nothing"
    );
    assert_eq!(progress, plan.steps());

    let mut ems = LibraryPlan::new("JRC2018/em").with_item_prefixes(7);
    for (name, path, size) in fixture_files("ems").into_iter().take(1) {
        ems.add_item(&name, path, size);
    }
    upload(&store, &ems).await;
    let (name, path, size) = fixture_files("ems").pop().unwrap();
    ems.add_item(&name, path, size);
    assert!(ems
        .items
        .iter()
        .all(|k| k["JRC2018/em/".len()..][..2] < *"07"));
    let (grown, _) = upload(&store, &ems).await;
    assert_eq!(
        grown,
        UploadSummary {
            uploaded: 1,
            skipped: 1,
            key_lists: KEY_LIST_COPIES as u64
        },
        "a changed library gets new key lists"
    );
    store
        .put("JRC2018/notes/readme.txt", b"not a library".to_vec())
        .await
        .unwrap();

    let listing = |prefix: &str, images: u64, item_prefixes: u64| LibraryListing {
        prefix: prefix.into(),
        form: "images".into(),
        images,
        index_shards: 0,
        item_prefixes,
        key_list_copies: KEY_LIST_COPIES as u64,
    };
    let distinct = |plan: &LibraryPlan| {
        let start = plan.prefix.len() + 1;
        let mut numbers: Vec<&str> = plan.items.iter().map(|k| &k[start..start + 2]).collect();
        numbers.sort();
        numbers.dedup();
        numbers.len() as u64
    };
    let expected = vec![
        listing("JRC2018/em", 2, distinct(&ems)),
        listing("JRC2018/lm/searchable_neurons", 3, distinct(&plan)),
    ];
    assert_eq!(catalog.find_libraries("").await.unwrap(), expected);
    assert_eq!(catalog.find_libraries("JRC2018/").await.unwrap(), expected);
    assert_eq!(
        catalog
            .find_libraries("JRC2018/lm/searchable_neurons")
            .await
            .unwrap(),
        expected[1..]
    );
    assert!(catalog
        .find_libraries("JRC2018/notes")
        .await
        .unwrap()
        .is_empty());
    let objects = list_all(store.as_ref(), "JRC2018/lm/").await.unwrap();
    assert_eq!(objects.len(), 6 + KEY_LIST_COPIES);
    assert!(objects
        .iter()
        .any(|o| o.key == key_list_key("JRC2018/lm/searchable_neurons", 42)));
}
