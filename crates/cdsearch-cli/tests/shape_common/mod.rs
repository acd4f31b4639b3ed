//! A small library for shape-stage tests, built from the fixtures:
//!
//! - the three `lms/` targets with their `grad/` gradients as `<name>.grad.png`;
//! - the BJD target with its reference z-gap file as `<name>.zgap.tif`, the
//!   other two with z-gaps from `cdsearch library derive --zgap-radius 10`
//!   (the recipe of the golden cases without a z-gap file);
//! - a fourth target ([`UNSHAPED`], a copy of the FL mask) without a
//!   gradient, which must come out not shape-scored, after the scored hits.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The fixture directory.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/cdm");
/// Target stems of the golden shape cases.
pub const BJD: &str = "BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM";
/// Target stem.
pub const VT033614: &str = "VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01";
/// Target stem.
pub const VT016795: &str = "VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01";
/// The query masks of the golden shape cases, under `cdsearch/`.
pub const MASKS: [&str; 2] = ["ems/12191_JRC2018U.tif", "ems/12191_JRC2018U_FL.tif"];
/// The library's target without derived images.
pub const UNSHAPED: &str = "no_gradient.tif";

/// A fixture under `cdsearch/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(FIXTURES).join("cdsearch").join(rel)
}

/// Runs `cdsearch` with `args`; panics with its stderr if it fails.
pub fn cdsearch(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .args(args)
        .output()
        .expect("cdsearch runs");
    assert!(
        out.status.success(),
        "cdsearch {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Builds the library described at the top in `dir`.
pub fn build_library(dir: &Path) {
    for stem in [BJD, VT033614, VT016795] {
        std::fs::copy(
            fixture(&format!("lms/{stem}.tif")),
            dir.join(format!("{stem}.tif")),
        )
        .unwrap();
        std::fs::copy(
            fixture(&format!("grad/{stem}.png")),
            dir.join(format!("{stem}.tif.grad.png")),
        )
        .unwrap();
    }
    std::fs::copy(
        fixture(&format!("zgap/{BJD}.tif")),
        dir.join(format!("{BJD}.tif.zgap.tif")),
    )
    .unwrap();
    std::fs::copy(fixture(MASKS[1]), dir.join(UNSHAPED)).unwrap();
    let out = cdsearch(&[
        "library",
        "derive",
        dir.to_str().unwrap(),
        "--zgap-radius",
        "10",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("3 written, 1 already there"),
        "derive summary: {stderr}"
    );
}
