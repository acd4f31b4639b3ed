//! Decompression bombs (valid files claiming a huge size over compressible
//! data) are refused from the header by every decoder and the mask loader,
//! naming the size, before any pixel buffer is allocated.

use cds::decode::{self, DecodeError, SizeLimit};
use cds::pixel_match::MatchParams;
use cds::RgbImage;
use cds_fuzz::alloc::{self, CountingAlloc};
use cdsearch::search::TargetNeed;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// 3000x3000 (9 Mpx) is over the 4 Mpx cap and keeps the test fast; the
/// interlaced 16-bit RGBA one would inflate to 72 MB.
const SIDE: u32 = 3000;

/// Heap growth (peak over the bytes live before) of `f`.
fn heap_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    alloc::reset_peak();
    let before = alloc::allocated();
    let out = f();
    (out, alloc::peak().saturating_sub(before))
}

#[test]
fn bombs_are_refused_from_the_header_with_next_to_no_memory() {
    let exact = SizeLimit::Exactly {
        width: 1210,
        height: 566,
    };
    for (name, bytes) in cds_fuzz::bombs::all(SIDE, SIDE) {
        assert!(bytes.len() < 1 << 20, "{name}: {} bytes", bytes.len());
        let (err, heap) = heap_of(|| cds::decode_rgb(&bytes).unwrap_err());
        assert_eq!(
            err,
            DecodeError::BadDimensions {
                width: SIDE.into(),
                height: SIDE.into(),
                expected: SizeLimit::default()
            },
            "{name}"
        );
        assert!(heap < 64 << 10, "{name}: {heap} bytes");
        let (err, heap) = heap_of(|| {
            let mut image = RgbImage::black(0, 0);
            decode::decode_rgb_rows_into_limited(&bytes, 10, exact, &mut image).unwrap_err()
        });
        assert_eq!(
            err.to_string(),
            "image claims 3000\u{d7}3000 pixels, expected 1210\u{d7}566",
            "{name}"
        );
        assert!(heap < 64 << 10, "{name}: {heap} bytes");
        let (err, heap) = heap_of(|| {
            cdsearch::job::prepare_mask("m.png", &bytes, &MatchParams::default()).unwrap_err()
        });
        assert!(
            err.to_string()
                .contains("cannot decode mask m.png: image claims 3000\u{d7}3000"),
            "{err}"
        );
        assert!(heap < 64 << 10, "{name}: {heap} bytes");
        let (result, _) = heap_of(|| TargetNeed::first_rows(40).code_bytes(&bytes));
        assert!(
            matches!(result, Err(DecodeError::BadDimensions { .. })),
            "{name}"
        );
    }
}

#[test]
fn bombs_within_the_limit_decode_within_their_claimed_size() {
    // 2048x2048 is exactly the cap: decoded, and bounded by what the size
    // needs (16 MiB of pixels, 32 MiB more for the interlaced 16-bit frame).
    for (name, bytes) in cds_fuzz::bombs::all(2048, 2048) {
        let (image, heap) = heap_of(|| cds::decode_rgb(&bytes).unwrap());
        assert_eq!((image.width, image.height), (2048, 2048), "{name}");
        assert!(image.pixels.iter().all(|&p| p == 0), "{name}");
        assert!(heap < 56 << 20, "{name}: {heap} bytes");
    }
}
