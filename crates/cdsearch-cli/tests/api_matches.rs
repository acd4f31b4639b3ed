//! `GET /searches/{id}/masks/{index}/matches/{library}/{image}` over real
//! HTTP: for every hit of a real search of the sample library, the PNG of
//! matched pixels has exactly the hit's `matchingPixels` opaque pixels, in
//! the target's own colors, and its headers repeat the hit's count and side;
//! other users, missing masks, libraries and images are 404s, and a target
//! of another size than the mask is a 400.

mod api_common;

use api_common::*;
use cdsearch_service::Limits;
use serde_json::{json, Value};

const SHAPE_MASK: &str = "VT016795_115C08_AE_01-20200221_61_I2-m-CH1_01.tif";

/// Decodes a PNG answer as RGBA.
async fn rgba(r: reqwest::Response) -> image::RgbaImage {
    let bytes = r.bytes().await.unwrap();
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .unwrap()
        .to_rgba8()
}

/// A header of an answer as text.
fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Asserts a 404 JSON answer whose message contains every one of `names`.
async fn not_found(r: reqwest::Response, names: &[&str]) {
    assert_eq!(r.status(), 404, "{}", r.url());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_found", "{body}");
    let message = body["message"].as_str().unwrap();
    for name in names {
        assert!(message.contains(name), "{message} names {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hit_has_its_matched_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let params = json!({
        "libraries": ["sample"],
        "maskRefs": [MASK, SHAPE_MASK],
        "maskThresholds": [100, 80],
        "xyShift": 2,
        "mirrorMask": true,
        "minMatchingPixRatio": 1
    });
    let id = submitted_id(server.submit(ALICE, &params, &[]).await).await;
    assert_eq!(server.wait(ALICE, &id).await["status"], "done");
    let page = server
        .get_json(ALICE, &format!("/searches/{id}/results?perPage=100"))
        .await;
    let (mut hits, mut mirrored_hits) = (0, 0);
    for (index, mask) in page["masks"].as_array().unwrap().iter().enumerate() {
        for hit in mask["results"].as_array().unwrap() {
            let (library, image) = (
                hit["libraryName"].as_str().unwrap(),
                hit["imageName"].as_str().unwrap(),
            );
            let what = format!("mask {index} vs {image}");
            let r = server
                .get(
                    ALICE,
                    &format!("/searches/{id}/masks/{index}/matches/{library}/{image}"),
                )
                .await;
            assert_eq!(r.status(), 200, "{what}");
            assert_eq!(header(&r, "content-type"), "image/png", "{what}");
            assert_eq!(
                header(&r, "cache-control"),
                "private, max-age=86400",
                "{what}"
            );
            let count: i64 = header(&r, "x-matching-pixels").parse().unwrap();
            let mirrored: bool = header(&r, "x-mirrored").parse().unwrap();
            let matches = rgba(r).await;
            let target = rgba(
                server
                    .get(ALICE, &format!("/libraries/{library}/images/{image}"))
                    .await,
            )
            .await;
            assert_eq!(matches.dimensions(), target.dimensions(), "{what}");
            let mut opaque = 0;
            for (m, t) in matches.pixels().zip(target.pixels()) {
                match m.0[3] {
                    0 => {}
                    255 => {
                        opaque += 1;
                        assert_eq!(m.0, t.0, "{what}: a matched pixel keeps its color");
                    }
                    alpha => panic!("{what}: alpha {alpha}, expected 0 or 255"),
                }
            }
            assert_eq!(opaque, count, "{what}");
            assert_eq!(count, hit["matchingPixels"].as_i64().unwrap(), "{what}");
            assert_eq!(mirrored, hit["mirrored"].as_bool().unwrap(), "{what}");
            hits += 1;
            mirrored_hits += usize::from(mirrored);
        }
    }
    assert!(hits >= 6, "only {hits} hits");
    assert!(mirrored_hits >= 1, "no mirrored hit among {hits}");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_of_what_is_not_there_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let params = json!({"libraries": ["sample"], "maskRefs": [MASK]});
    let id = submitted_id(server.submit(ALICE, &params, &[]).await).await;
    let path = |index: usize, library: &str, image: &str| {
        format!("/searches/{id}/masks/{index}/matches/{library}/{image}")
    };
    // Before the search is done the images exist already.
    let r = server.get(ALICE, &path(0, "sample", MASK)).await;
    assert_eq!(r.status(), 200);
    let self_match: i64 = header(&r, "x-matching-pixels").parse().unwrap();
    assert!(self_match > 1000, "the mask matches itself: {self_match}");

    not_found(server.get(BOB, &path(0, "sample", MASK)).await, &[&id]).await;
    not_found(
        server.get(ALICE, &path(1, "sample", MASK)).await,
        &[&id, "mask 1"],
    )
    .await;
    not_found(
        server.get(ALICE, &path(0, "sample", "no-such.tif")).await,
        &["no-such.tif", "sample"],
    )
    .await;
    not_found(
        server.get(ALICE, &path(0, "nowhere", MASK)).await,
        &["nowhere"],
    )
    .await;
    not_found(
        server
            .get(
                ALICE,
                &format!("/searches/no-such-search/masks/0/matches/sample/{MASK}"),
            )
            .await,
        &["no-such-search"],
    )
    .await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_of_another_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Limits::default()).await;
    let small = image::RgbImage::from_pixel(400, 200, image::Rgb([200, 40, 90]));
    let mut png = std::io::Cursor::new(Vec::new());
    small.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let params = json!({"libraries": ["sample"]});
    let r = server
        .submit(ALICE, &params, &[("small.png", png.into_inner())])
        .await;
    let id = submitted_id(r).await;
    let r = server
        .get(
            ALICE,
            &format!("/searches/{id}/masks/0/matches/sample/{MASK}"),
        )
        .await;
    assert_eq!(bad_fields(r).await, ["image"]);
    server.stop();
}
