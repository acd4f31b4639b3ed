//! `cdsearch shape-score` on golden cases of `fixtures/cdm/golden-shape.json`.

use std::process::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/cdm/cdsearch");
const BJD: &str = "BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM";
const VT: &str = "VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01";

/// Runs `cdsearch shape-score --format json` with `args` and parses stdout.
fn shape_score(args: &[String]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .arg("shape-score")
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("cdsearch runs");
    assert!(
        out.status.success(),
        "cdsearch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// The arguments for a query (path under the fixtures) and an `lms/` target
/// with its gradient.
fn pair(query: &str, target: &str) -> Vec<String> {
    vec![
        "--mask".into(),
        format!("{FIXTURES}/{query}"),
        "--target".into(),
        format!("{FIXTURES}/lms/{target}.tif"),
        "--gradient".into(),
        format!("{FIXTURES}/grad/{target}.png"),
    ]
}

#[test]
fn derived_zgap_at_radius_10_gives_the_java_test_value() {
    let mut args = pair("ems/12191_JRC2018U.tif", VT);
    args.extend(["--zgap-radius".into(), "10".into()]);
    let v = shape_score(&args);
    assert_eq!(v["gradientAreaGap"], 21365);
    assert_eq!(v["highExpressionArea"], 731);
    assert_eq!(v["shapeScore"], 21608);
    assert_eq!(v["mirrored"], false);
    assert_eq!(v["zgap"]["source"], "derived");
    assert_eq!(v["zgap"]["radius"], 10);
}

#[test]
fn zgap_file_gives_the_java_test_value() {
    let mut args = pair("ems/12191_JRC2018U.tif", BJD);
    args.extend(["--zgap".into(), format!("{FIXTURES}/zgap/{BJD}.tif")]);
    let v = shape_score(&args);
    assert_eq!(v["shapeScore"], 34058);
    assert_eq!(v["gradientAreaGap"], 33884);
    assert_eq!(v["highExpressionArea"], 523);
    assert_eq!(v["zgap"]["source"], "file");
}

#[test]
fn no_mirror_keeps_the_direct_direction() {
    // Golden case X7: the mirrored query wins unless mirroring is off.
    let target = "VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01";
    let mut args = pair(&format!("lms/{VT}.tif"), target);
    args.extend(["--zgap-radius".into(), "10".into()]);
    let best = shape_score(&args);
    assert_eq!(best["shapeScore"], 108347);
    assert_eq!(best["mirrored"], true);
    args.push("--no-mirror".into());
    let direct = shape_score(&args);
    assert_eq!(direct["gradientAreaGap"], 139328);
    assert_eq!(direct["highExpressionArea"], 19612);
    assert_eq!(direct["shapeScore"], 145865);
    assert_eq!(direct["mirrored"], false);
}
