//! `cdsearch search --shape` end to end on the small library of
//! `shape_common` (built from the fixtures): the shape values of its hits
//! equal the golden cases of `fixtures/cdm/golden-shape.json`, through both
//! the direct loop and the burst local runtime (worker + shape-stage
//! combiner).

mod shape_common;

use serde_json::Value;
use shape_common::*;
use std::path::Path;

/// The golden result of (query, target stem): the case whose z-gap matches
/// how the library holds it (the file for BJD, radius 10 otherwise).
fn golden(cases: &[Value], query: &str, stem: &str) -> Value {
    let zgap_file = (stem == BJD).then(|| format!("zgap/{BJD}.tif"));
    cases
        .iter()
        .find(|c| {
            c["query"] == query
                && c["target"] == format!("lms/{stem}.tif")
                && c["gradient"] == format!("grad/{stem}.png")
                && c["zgap"].as_str().map(str::to_owned) == zgap_file
        })
        .unwrap_or_else(|| panic!("no golden case for {query} vs {stem}"))["result"]
        .clone()
}

fn search_args<'a>(library: &'a str, masks: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "search",
        "--library",
        library,
        "--shape",
        "--min-ratio",
        "0",
    ];
    for mask in masks {
        args.extend(["--mask", mask.as_str()]);
    }
    args.extend(extra);
    args
}

#[test]
fn shape_stage_reproduces_the_golden_cases_and_reranks() {
    let golden_file: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("golden-shape.json")).unwrap(),
    )
    .unwrap();
    let cases = golden_file["cases"].as_array().unwrap();
    let dir = tempfile::tempdir().unwrap();
    build_library(dir.path());
    let library = dir.path().to_str().unwrap();
    let masks: Vec<String> = MASKS
        .iter()
        .map(|m| fixture(m).to_string_lossy().into_owned())
        .collect();

    let mut reports = Vec::new();
    for runtime in ["direct", "local"] {
        let args = search_args(library, &masks, &["--format", "json", "--runtime", runtime]);
        let report: Value = serde_json::from_slice(&cdsearch(&args).stdout).unwrap();
        for (query, mask) in MASKS.iter().zip(report["masks"].as_array().unwrap()) {
            let hits = mask["results"].as_array().unwrap();
            assert_eq!(hits.len(), 4, "{runtime} {query}: {hits:#?}");
            let max_pixels = hits
                .iter()
                .map(|h| h["matchingPixels"].as_i64().unwrap())
                .max()
                .unwrap();
            let mut max_shape = -1;
            for hit in &hits[..3] {
                let name = hit["imageName"].as_str().unwrap();
                let stem = name.trim_end_matches(".tif");
                let expected = golden(cases, query, stem);
                for field in ["gradientAreaGap", "highExpressionArea", "shapeScore"] {
                    assert_eq!(
                        hit[field], expected[field],
                        "{runtime} {query} vs {stem}: {field}"
                    );
                }
                assert_eq!(
                    hit["shapeMirrored"], expected["mirrored"],
                    "{query} vs {stem}"
                );
                assert_eq!(hit["shapeScored"], true);
                max_shape = max_shape.max(expected["shapeScore"].as_i64().unwrap());
            }
            let normalized: Vec<f64> = hits[..3]
                .iter()
                .map(|h| h["normalizedScore"].as_f64().unwrap())
                .collect();
            for (hit, &norm) in hits[..3].iter().zip(&normalized) {
                let expected = cds::shape::normalized_score(
                    hit["matchingPixels"].as_i64().unwrap(),
                    hit["shapeScore"].as_i64().unwrap(),
                    max_pixels,
                    max_shape,
                );
                assert_eq!(norm as f32, expected, "{query}: {hit}");
            }
            assert!(
                normalized.windows(2).all(|w| w[0] >= w[1]),
                "ranked by normalizedScore: {normalized:?}"
            );
            let last = &hits[3];
            assert_eq!(last["imageName"], UNSHAPED);
            assert_eq!(last["shapeScored"], false);
            assert_eq!(last["shapeScore"], -1);
            assert_eq!(
                last["normalizedScore"].as_f64(),
                last["matchingPixels"].as_f64()
            );
        }
        let mut masks = report["masks"].clone();
        for hit in masks
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .flat_map(|m| m["results"].as_array_mut().unwrap().iter_mut())
        {
            let library = hit.as_object_mut().unwrap().remove("libraryName");
            let expected = (runtime == "local").then(|| Value::from("library"));
            assert_eq!(library, expected, "{runtime}: libraryName");
        }
        reports.push(masks);
    }
    assert_eq!(reports[0], reports[1], "direct and local runtimes agree");

    let table = cdsearch(&search_args(library, &masks[..1], &["--runtime", "direct"]));
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("normalizedScore"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains(UNSHAPED) && l.contains("not shape-scored")),
        "{table}"
    );
    let csv = cdsearch(&search_args(library, &masks[..1], &["--format", "csv"]));
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("shapeScored,gradientAreaGap,highExpressionArea,shapeScore,normalizedScore"),
        "{csv}"
    );
}

#[test]
fn shape_top_limits_the_scored_hits() {
    let dir = tempfile::tempdir().unwrap();
    build_library(dir.path());
    let library = dir.path().to_str().unwrap();
    let masks = vec![fixture(MASKS[0]).to_string_lossy().into_owned()];
    let args = search_args(
        library,
        &masks,
        &[
            "--format",
            "json",
            "--runtime",
            "direct",
            "--shape-top",
            "2",
        ],
    );
    let report: Value = serde_json::from_slice(&cdsearch(&args).stdout).unwrap();
    let mut hits = report["masks"][0]["results"].as_array().unwrap().clone();
    let scored: Vec<Value> = hits
        .iter()
        .filter(|h| h["shapeScored"] == true)
        .cloned()
        .collect();
    hits.sort_by_key(|h| -h["matchingPixels"].as_i64().unwrap());
    let top2: Vec<&Value> = hits[..2]
        .iter()
        .filter(|h| h["imageName"] != UNSHAPED)
        .collect();
    assert_eq!(scored.len(), top2.len(), "{hits:#?}");
    assert!(scored
        .iter()
        .all(|s| top2.iter().any(|t| t["imageName"] == s["imageName"])));
}

/// The shape stage in the combiner over NeuronBridge's object-store layout:
/// derived images under the target's key with the suffix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combiner_reads_derived_images_from_an_object_store() {
    use burst::local::MemoryObjectStore;
    use burst::ObjectStore;
    use cdsearch::job::{
        local_runtime, outcome_report, search_request, SearchJobParameters, ShapeJobParameters,
    };
    use cdsearch::library::{derived_name, discover, find_derived, DerivedKind};
    use cdsearch::store::layout::key_list_key;
    use cdsearch::store::StoreResolver;
    use std::sync::Arc;

    let golden_file: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("golden-shape.json")).unwrap(),
    )
    .unwrap();
    let cases = golden_file["cases"].as_array().unwrap();
    let dir = tempfile::tempdir().unwrap();
    build_library(dir.path());
    let store = Arc::new(MemoryObjectStore::default());
    store
        .put("masks/m.tif", std::fs::read(fixture(MASKS[0])).unwrap())
        .await
        .unwrap();
    let mut keys = Vec::new();
    for entry in discover(&[dir.path().to_path_buf()]).unwrap() {
        let key = format!("lib/{}", entry.name);
        store
            .put(&key, std::fs::read(&entry.path).unwrap())
            .await
            .unwrap();
        for kind in DerivedKind::ALL {
            if let Some(path) = find_derived(&entry.path, kind) {
                let bytes = std::fs::read(path).unwrap();
                store.put(&derived_name(&key, kind), bytes).await.unwrap();
            }
        }
        keys.push(key);
    }
    let list = serde_json::to_vec(&keys).unwrap();
    store.put(&key_list_key("lib", 0), list).await.unwrap();
    let shared: Arc<dyn ObjectStore> = store;
    let resolver = StoreResolver::new(move |_bucket| Ok(shared.clone()), 4);
    let params: SearchJobParameters = serde_json::from_value(serde_json::json!({
        "searchBucket": "b",
        "maskKeys": ["masks/m.tif"],
        "minMatchingPixRatio": 0.0,
        "libraries": [{
            "libraryName": "lib",
            "libraryBucket": "b",
            "searchedNeuronsFolder": "lib",
            "lsize": keys.len(),
        }],
    }))
    .unwrap();
    let shape = ShapeJobParameters {
        shape: true,
        shape_top: 300,
    };
    let request = search_request(&params, &shape, 2).unwrap();
    let runtime = local_runtime(Arc::new(resolver))
        .poll_interval(std::time::Duration::from_millis(20))
        .build()
        .unwrap();
    let outcome = runtime.run(request).await.unwrap();
    let report = outcome_report(&outcome).unwrap();
    let hits = &report.masks[0].results;
    assert_eq!(hits.len(), 4, "{hits:#?}");
    for hit in &hits[..3] {
        let stem = hit
            .image_name
            .trim_start_matches("lib/")
            .trim_end_matches(".tif");
        let expected = golden(cases, MASKS[0], stem);
        let shape = hit.shape.expect("shape results");
        assert!(shape.shape_scored, "{hit:?}");
        assert_eq!(shape.shape_score, expected["shapeScore"], "{stem}");
        assert_eq!(
            shape.gradient_area_gap, expected["gradientAreaGap"],
            "{stem}"
        );
        assert_eq!(
            shape.high_expression_area, expected["highExpressionArea"],
            "{stem}"
        );
        assert_eq!(hit.library_name.as_deref(), Some("lib"));
    }
    assert_eq!(hits[3].image_name, format!("lib/{UNSHAPED}"));
    assert!(!hits[3].shape.expect("marked").shape_scored);
}

/// A search over an index (coded targets only) runs the shape stage on the
/// images of `--shape-images`, the directory the index was built from, and
/// ranks as the search over that directory; without it, hits stay unscored.
#[test]
fn an_index_search_reads_shape_images_from_the_given_directory() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("images");
    std::fs::create_dir(&library).unwrap();
    build_library(&library);
    let library = library.to_str().unwrap();
    let index = dir.path().join("library.cdsindex");
    let index = index.to_str().unwrap();
    cdsearch(&["library", "index", library, "--out", index]);
    let masks: Vec<String> = MASKS
        .iter()
        .map(|m| fixture(m).to_string_lossy().into_owned())
        .collect();
    let json = |library: &str, extra: &[&str]| -> Value {
        let mut args = search_args(library, &masks, &["--format", "json"]);
        args.extend(extra);
        serde_json::from_slice(&cdsearch(&args).stdout).unwrap()
    };
    let from_images = json(library, &["--runtime", "direct"]);
    let scored = |report: &Value| -> usize {
        report["masks"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["results"].as_array().unwrap())
            .filter(|h| h["shapeScored"] == true)
            .count()
    };
    assert_eq!(scored(&from_images), 6, "three per mask");
    for runtime in ["local", "direct"] {
        let expected = json(library, &["--runtime", runtime]);
        let from_index = json(index, &["--shape-images", library, "--runtime", runtime]);
        assert_eq!(from_index["masks"], expected["masks"], "{runtime}");
    }
    let unscored = json(index, &[]);
    assert_eq!(scored(&unscored), 0);
}
