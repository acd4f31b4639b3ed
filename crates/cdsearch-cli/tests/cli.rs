//! End-to-end tests of the `cdsearch` binary over the sample data, checked
//! against the reference scores of fixtures/cdm/golden-scores.json.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const MASK_EM: &str = "sample/masks/12191_JRC2018U.tif";
const MASK_LM: &str = "sample/masks/VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif";

fn repo(rel: &str) -> PathBuf {
    Path::new(REPO).join(rel)
}

fn cdsearch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .current_dir(REPO)
        .args(args)
        .output()
        .expect("run cdsearch")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Runs a search expected to succeed and returns its JSON report.
fn search_json(args: &[&str]) -> Value {
    let mut all = vec!["search", "--format", "json"];
    all.extend_from_slice(args);
    let out = cdsearch(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("JSON report")
}

/// The command-line flags of a golden parameter set.
fn golden_flags(set: &Value) -> Vec<String> {
    let mut flags = vec![
        "--mask-threshold".into(),
        set["maskThreshold"].to_string(),
        "--data-threshold".into(),
        set["dataThreshold"].to_string(),
        "--pix-color-fluctuation".into(),
        set["pixColorFluctuation"].to_string(),
        "--xy-shift".into(),
        set["xyShift"].to_string(),
        "--min-ratio".into(),
        "0".into(),
        "--top".into(),
        "1000".into(),
    ];
    if set["mirrorMask"].as_bool().unwrap() {
        flags.push("--mirror".into());
    }
    flags
}

fn golden() -> Value {
    let text = std::fs::read_to_string(repo("fixtures/cdm/golden-scores.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The golden-file path of a sample file (matched by file name).
fn golden_path(golden: &Value, file_name: &str) -> String {
    golden["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .find(|p| p.rsplit('/').next() == Some(file_name))
        .unwrap_or_else(|| panic!("{file_name} not in golden-scores.json"))
        .to_owned()
}

#[test]
fn sample_search_reproduces_golden_scores() {
    let golden = golden();
    let library: Vec<String> = std::fs::read_dir(repo("sample/library"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for mask in [MASK_EM, MASK_LM] {
        let mask_golden = golden_path(&golden, mask.rsplit('/').next().unwrap());
        for set in ["P1", "P2", "P3"] {
            let flags = golden_flags(&golden["params"][set]);
            let mut args = vec!["--mask", mask, "--library", "sample/library"];
            args.extend(flags.iter().map(String::as_str));
            let report = search_json(&args);
            let hits = report["masks"][0]["results"].as_array().unwrap();
            let mut expected_hits = 0;
            for name in &library {
                let target = golden_path(&golden, name);
                let g = golden["scores"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| {
                        s["mask"] == mask_golden && s["target"] == target && s["params"] == set
                    })
                    .unwrap();
                let ratio = g["matchingPixRatio"].as_f64().unwrap();
                let hit = hits.iter().find(|h| h["imageName"] == name.as_str());
                if ratio == 0.0 {
                    assert!(hit.is_none(), "{mask} {set} {name}: unexpected hit");
                    continue;
                }
                expected_hits += 1;
                let hit = hit.unwrap_or_else(|| panic!("{mask} {set} {name}: missing"));
                assert_eq!(
                    hit["matchingPixels"], g["matchingPixels"],
                    "{mask} {set} {name}"
                );
                assert!((hit["matchingRatio"].as_f64().unwrap() - ratio).abs() < 1e-12);
                assert_eq!(
                    hit["mirrored"], g["bestScoreMirrored"],
                    "{mask} {set} {name}"
                );
            }
            assert_eq!(hits.len(), expected_hits, "{mask} {set}");
        }
    }
}

#[test]
fn table_ranks_the_mask_itself_first() {
    let out = cdsearch(&["search", "--mask", MASK_EM, "--library", "sample/library"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let first = text.lines().nth(2).expect("a first hit row");
    let cols: Vec<_> = first.split_whitespace().collect();
    // Service defaults (thresholds 100): the EM mask has 10299 pixels.
    assert_eq!(cols, ["1", "12191_JRC2018U.tif", "10299", "1.0000", "no"]);
    assert!(text.contains("(10299 mask pixels)"), "{text}");
}

#[test]
fn json_and_csv_give_the_same_ranking() {
    let args = [
        "--mask",
        MASK_EM,
        "--mask",
        MASK_LM,
        "--library",
        "sample/library",
    ];
    let report = search_json(&args);
    assert_eq!(report["targets"], 8);
    assert_eq!(report["searched"], 8);
    let mut csv_args = vec!["search", "--format", "csv"];
    csv_args.extend_from_slice(&args);
    let out = cdsearch(&csv_args);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "mask",
            "rank",
            "target",
            "matchingPixels",
            "matchingRatio",
            "mirrored"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let json_rows: Vec<(String, usize, String, i64)> = report["masks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| {
            m["results"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    (
                        m["maskId"].as_str().unwrap().to_owned(),
                        i + 1,
                        h["imageName"].as_str().unwrap().to_owned(),
                        h["matchingPixels"].as_i64().unwrap(),
                    )
                })
        })
        .collect();
    assert_eq!(rows.len(), json_rows.len());
    assert!(rows.len() >= 2);
    for (row, (mask, rank, target, pixels)) in rows.iter().zip(&json_rows) {
        assert_eq!(&row[0], mask);
        assert_eq!(row[1].parse::<usize>().unwrap(), *rank);
        assert_eq!(&row[2], target);
        assert_eq!(row[3].parse::<i64>().unwrap(), *pixels);
    }
    assert_eq!(json_rows[0].2, "12191_JRC2018U.tif");
}

#[test]
fn unreadable_targets_are_reported_and_the_rest_is_searched() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path();
    for name in ["12191_JRC2018U.tif", "testMIP.png"] {
        std::fs::copy(repo("sample/library").join(name), lib.join(name)).unwrap();
    }
    std::fs::write(lib.join("garbage.tif"), b"II*\0this is not a tiff").unwrap();
    std::fs::copy(
        repo("fixtures/cdm/imageprocessing/compressed_pack1.tif"),
        lib.join("small.tif"),
    )
    .unwrap();
    let out = cdsearch(&[
        "search",
        "--mask",
        MASK_EM,
        "--library",
        lib.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["targets"], 4);
    assert_eq!(report["searched"], 2);
    assert_eq!(
        report["masks"][0]["results"][0]["imageName"],
        "12191_JRC2018U.tif"
    );
    assert_eq!(report["masks"][0]["results"][0]["matchingPixels"], 10299);
    let err = stderr(&out);
    assert!(err.contains("2 target(s) could not be searched"), "{err}");
    assert!(err.contains("garbage.tif: cannot decode"), "{err}");
    assert!(
        err.contains(
            "small.tif: cannot decode: image claims 256\u{d7}256 pixels, expected 1210\u{d7}566"
        ),
        "{err}"
    );
}

#[test]
fn unreadable_mask_fails_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("mask.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nbroken").unwrap();
    let out = cdsearch(&[
        "search",
        "--mask",
        bad.to_str().unwrap(),
        "--library",
        "sample/library",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cannot decode mask") && err.contains("mask.png"),
        "{err}"
    );

    let out = cdsearch(&[
        "search",
        "--mask",
        "no/such/mask.tif",
        "--library",
        "sample/library",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read mask no/such/mask.tif"));
}

#[test]
fn bad_flags_give_clear_errors() {
    let out = cdsearch(&[
        "search",
        "--mask",
        MASK_EM,
        "--library",
        "sample/library",
        "--xy-shift",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("expected 0, 2 or 4"),
        "{}",
        stderr(&out)
    );

    let out = cdsearch(&["search", "--library", "sample/library"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--mask"), "{}", stderr(&out));

    let out = cdsearch(&[
        "search",
        "--mask",
        MASK_EM,
        "--library",
        "sample/library",
        "--min-ratio",
        "150",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("min_matching_pix_ratio 150"),
        "{}",
        stderr(&out)
    );

    let out = cdsearch(&["search", "--mask", MASK_EM, "--library", "no/such/dir"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no/such/dir does not exist"),
        "{}",
        stderr(&out)
    );

    let out = cdsearch(&["search", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for flag in [
        "--mask-threshold",
        "--data-threshold",
        "--pix-color-fluctuation",
        "--xy-shift",
        "--mirror",
        "--min-ratio",
        "--top",
        "--format",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

fn synth(dir: &Path, seed: &str, format: &str) -> Vec<PathBuf> {
    let out = cdsearch(&[
        "library",
        "synth",
        "--count",
        "3",
        "--out",
        dir.to_str().unwrap(),
        "--seed",
        seed,
        "--format",
        format,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (derived, mut files): (Vec<_>, Vec<_>) = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .partition(|p| cdsearch::library::is_derived_path(p));
    assert_eq!(
        derived.len(),
        2 * files.len(),
        "z-gap and gradient per image"
    );
    files.sort();
    files
}

#[test]
fn synth_writes_decodable_deterministic_images() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["png", "tif"] {
        let a = synth(&dir.path().join(format!("a-{format}")), "7", format);
        let b = synth(&dir.path().join(format!("b-{format}")), "7", format);
        let c = synth(&dir.path().join(format!("c-{format}")), "8", format);
        assert_eq!(a.len(), 3);
        for ((a, b), c) in a.iter().zip(&b).zip(&c) {
            assert!(a.extension().unwrap() == format);
            let bytes = std::fs::read(a).unwrap();
            assert_eq!(bytes, std::fs::read(b).unwrap(), "same seed, same image");
            assert_ne!(bytes, std::fs::read(c).unwrap(), "other seed, other image");
            let img = cds::decode_rgb(&bytes).unwrap();
            assert_eq!((img.width, img.height), (1210, 566));
        }
    }
}

#[test]
fn index_search_gives_the_same_results_as_raw_search() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("sample.cdsindex");
    let out = cdsearch(&[
        "library",
        "index",
        "sample/library",
        "--out",
        index.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("indexed 8 images"),
        "{}",
        stderr(&out)
    );
    let args = |lib: &str| -> Vec<String> {
        [
            "--mask",
            MASK_EM,
            "--mask",
            MASK_LM,
            "--library",
            lib,
            "--mask-threshold",
            "20",
            "--data-threshold",
            "20",
            "--xy-shift",
            "2",
            "--mirror",
            "--min-ratio",
            "0",
        ]
        .map(String::from)
        .to_vec()
    };
    let raw_args = args("sample/library");
    let raw = search_json(&raw_args.iter().map(String::as_str).collect::<Vec<_>>());
    let idx_args = args(index.to_str().unwrap());
    let indexed = search_json(&idx_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(raw["masks"], indexed["masks"]);
    assert!(raw["masks"][0]["results"].as_array().unwrap().len() >= 5);
}

#[test]
fn neuronbridge_format_lists_cds_matches_by_matching_pixels() {
    let out = cdsearch(&[
        "search",
        "--format",
        "neuronbridge",
        "--mirror",
        "--mask",
        MASK_EM,
        "--library",
        "sample/library",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let matches: Value = serde_json::from_str(&stdout(&out)).expect("NeuronBridge JSON");
    let masks = matches.as_array().expect("a list of per-mask results");
    assert_eq!(masks.len(), 1);
    assert_eq!(masks[0]["inputImage"]["id"], MASK_EM);
    assert_eq!(masks[0]["inputImage"]["files"]["ColorDepthMip"], MASK_EM);
    let rows: Vec<(&str, &str, i64, f64, bool)> = masks[0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["files"]["ColorDepthMipInput"], MASK_EM);
            assert_eq!(m["files"]["ColorDepthMipMatch"], m["image"]["id"]);
            assert_eq!(m["image"]["libraryName"], "library");
            (
                m["image"]["id"].as_str().unwrap(),
                m["image"]["publishedName"].as_str().unwrap(),
                m["matchingPixels"].as_i64().unwrap(),
                m["normalizedScore"].as_f64().unwrap(),
                m["mirrored"].as_bool().unwrap(),
            )
        })
        .collect();
    // The reference scores of the EM mask over the sample library (mirror on).
    let bjd = "BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM";
    let bjd_tif = format!("{bjd}.tif");
    assert_eq!(
        rows,
        [
            (
                "12191_JRC2018U.tif",
                "12191_JRC2018U",
                10299,
                10299.0,
                false
            ),
            (
                "12191_JRC2018U_FL.tif",
                "12191_JRC2018U_FL",
                8426,
                8426.0,
                false
            ),
            (
                "VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01.tif",
                "VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01",
                639,
                639.0,
                false
            ),
            (
                "VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif",
                "VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01",
                485,
                485.0,
                true
            ),
            (bjd_tif.as_str(), bjd, 365, 365.0, false),
        ]
    );
}
