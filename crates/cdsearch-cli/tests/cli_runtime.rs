//! `cdsearch search` through the burst local runtime (the default) prints the
//! same report as the direct parallel loop.

use std::process::Command;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sample");

fn search_json(runtime: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .args(["search", "--format", "json", "--runtime", runtime])
        .args([
            "--mask",
            &format!("{SAMPLE}/masks/VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif"),
        ])
        .args(["--mask", &format!("{SAMPLE}/masks/12191_JRC2018U.tif")])
        .args(["--library", &format!("{SAMPLE}/library")])
        .args([
            "--mask-threshold",
            "20",
            "--data-threshold",
            "20",
            "--xy-shift",
            "2",
            "--mirror",
        ])
        .args(["--batch-size", "2"])
        .output()
        .expect("cdsearch runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

#[test]
fn local_runtime_and_direct_search_print_the_same_report() {
    let local = search_json("local");
    let direct = search_json("direct");
    assert_eq!(local, direct);
    // golden-scores.json, P2: VT016795 (61,768 mask pixels at threshold 20) against itself.
    let first = &local["masks"][0];
    assert_eq!(first["maskPixels"], 61768);
    assert_eq!(
        first["results"][0]["imageName"],
        "VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif"
    );
    assert_eq!(local["masks"][1]["results"][0]["matchingPixels"], 10299);
}
