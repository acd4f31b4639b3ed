//! A library with hostile entries: files cut short, small files claiming a
//! huge size, a dangling symlink and a symlink loop. Each is listed with the
//! unreadable targets, with its reason, and the rest is searched with the
//! same hits as the clean library.

use std::path::{Path, PathBuf};

use cds::pixel_match::MatchParams;
use cdsearch::library::discover;
use cdsearch::results::SearchReport;
use cdsearch::search::{search, FileLibrary, Mask, SearchOptions};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/cdm/cdsearch");

/// The 1210x566 CDM targets of the fixtures.
const TARGETS: [&str; 5] = [
    "ems/12191_JRC2018U.tif",
    "ems/12191_JRC2018U_FL.tif",
    "lms/BJD_127B01_AE_01-20171124_64_H6-40x-Brain-JRC2018_Unisex_20x_HR-2483089192251293794-CH2-01_CDM.tif",
    "lms/VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif",
    "lms/VT033614_127B01_AE_01-20171124_64_H6-f-CH2_01.tif",
];

/// Fractions of their length the cut copies keep, as in the 39
/// files (80% to 99.6%).
const CUTS: [f64; 5] = [0.80, 0.90, 0.95, 0.99, 0.996];

fn mask() -> Mask {
    Mask::load(
        &Path::new(FIXTURES).join(TARGETS[0]),
        &MatchParams::default(),
    )
    .unwrap()
}

fn run(dir: &Path) -> SearchReport {
    let entries = discover(&[dir.to_path_buf()]).expect("the listing survives bad entries");
    let options = SearchOptions::default();
    search(&[mask()], &FileLibrary::new(entries), &options, &())
}

/// A PNG whose header claims `width` x `height` (interlaced 16-bit RGBA,
/// the costliest kind to decode), holding no pixel data.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Sixteen);
    let writer = encoder.write_header().unwrap();
    drop(writer);
    out
}

/// A little-endian TIFF whose first IFD claims `width` x `height` 8-bit RGB
/// in one strip of `strip` bytes (the strip is all there).
fn tiff_claiming(width: u32, height: u32, strip: u32) -> Vec<u8> {
    let mut file = b"II*\0\x08\0\0\0".to_vec();
    let entries: [(u16, u16, u32); 8] = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 2),
        (273, 4, 8 + 2 + 8 * 12 + 4),
        (277, 3, 3),
        (279, 4, strip),
    ];
    file.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        file.extend_from_slice(&tag.to_le_bytes());
        file.extend_from_slice(&kind.to_le_bytes());
        file.extend_from_slice(&1u32.to_le_bytes());
        file.extend_from_slice(&value.to_le_bytes());
    }
    file.extend_from_slice(&0u32.to_le_bytes());
    file.resize(file.len() + strip as usize, 0);
    file
}

fn copy_targets(dir: &Path) {
    for target in TARGETS {
        let name = Path::new(target).file_name().unwrap();
        std::fs::copy(Path::new(FIXTURES).join(target), dir.join(name)).unwrap();
    }
}

#[test]
fn hostile_entries_are_listed_and_the_rest_scores_as_in_the_clean_library() {
    let clean = tempfile::tempdir().unwrap();
    copy_targets(clean.path());
    let expected = run(clean.path());
    assert_eq!(expected.searched, TARGETS.len());
    assert!(expected.unreadable.is_empty(), "{:?}", expected.unreadable);

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy_targets(root);
    let mut cut_names = Vec::new();
    for target in TARGETS {
        let bytes = std::fs::read(Path::new(FIXTURES).join(target)).unwrap();
        let stem = Path::new(target).file_name().unwrap().to_string_lossy();
        for fraction in CUTS {
            let name = format!("cut-{:.1}-{stem}", fraction * 100.0);
            let len = (bytes.len() as f64 * fraction) as usize;
            std::fs::write(root.join(&name), &bytes[..len]).unwrap();
            cut_names.push(name);
        }
    }
    std::fs::write(root.join("bomb.png"), png_claiming(10_000, 10_000)).unwrap();
    std::fs::write(root.join("bomb.tif"), tiff_claiming(10_000, 10_000, 4096)).unwrap();
    std::fs::write(
        root.join("transposed.tif"),
        tiff_claiming(566, 1210, 566 * 1210 * 3),
    )
    .unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::os::unix::fs::symlink(root.join("gone.tif"), root.join("dangling.tif")).unwrap();
    std::os::unix::fs::symlink(root, root.join("sub/loop")).unwrap();

    let report = run(root);
    assert_eq!(report.masks[0].results, expected.masks[0].results);
    assert_eq!(report.searched, TARGETS.len());
    assert_eq!(report.targets, TARGETS.len() + cut_names.len() + 5);
    let reason = |name: &str| -> String {
        let found: Vec<_> = report
            .unreadable
            .iter()
            .filter(|u| u.image_name == name)
            .collect();
        assert_eq!(found.len(), 1, "{name}: {:?}", report.unreadable);
        found[0].reason.clone()
    };
    for name in &cut_names {
        let why = reason(name);
        assert!(why.contains("truncated image"), "{name}: {why}");
    }
    for name in ["bomb.png", "bomb.tif"] {
        assert_eq!(
            reason(name),
            "cannot decode: image claims 10000\u{d7}10000 pixels, expected 1210\u{d7}566"
        );
    }
    assert_eq!(
        reason("transposed.tif"),
        "cannot decode: image claims 566\u{d7}1210 pixels, expected 1210\u{d7}566"
    );
    assert_eq!(
        reason("dangling.tif"),
        "cannot list: dangling symlink (its target does not exist)"
    );
    assert!(reason("sub/loop").starts_with("cannot list: symlink loop"));
    assert_eq!(report.unreadable.len(), cut_names.len() + 5);
}

#[test]
fn a_mask_claiming_a_huge_size_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("bomb-mask.png");
    std::fs::write(&path, png_claiming(10_000, 10_000)).unwrap();
    let err = Mask::load(&path, &MatchParams::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot decode mask {}: image claims 10000\u{d7}10000 pixels, expected a non-zero size of at most {} pixels",
            path.display(),
            cds::decode::MAX_PIXELS
        )
    );
    let err = cdsearch::job::prepare_mask(
        "uploads/mask-0.png",
        &png_claiming(10_000, 10_000),
        &MatchParams::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot decode mask uploads/mask-0.png: image claims 10000\u{d7}10000"),
        "{err}"
    );
}
