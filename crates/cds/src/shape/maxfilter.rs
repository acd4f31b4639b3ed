//! Circular max filter, per RGB channel, with ImageJ's `RankFilters` kernel.
//!
//! The kernel of radius `r` is the set of offsets with `dx² + dy² <= r² + 1`.
//! A disk is a union of horizontal segments, one per kernel row, so the filter
//! is computed as: for every input row, the running maxima over every segment
//! half-width `k = 0..=r` (each obtained from the previous one with a single
//! max, `max_k(x) = max(max_{k-1}(x-1), max_{k-1}(x+1))`), then each output row
//! takes the max of the input rows `y + dy` at the half-width of kernel row
//! `dy`. That is `O(r)` byte-max operations per pixel instead of `O(r²)`, in
//! plain loops over byte slices that the compiler vectorizes. Rows (and the
//! parts of rows) far from any non-black pixel are skipped. Positions outside
//! the image are ignored (they act as black, which is neutral for a max).

use crate::image::RgbImage;

/// Bytes per packed pixel in the working buffers (`0x00RRGGBB` little-endian).
pub(crate) const BPP: usize = 4;
/// Zero guard pixels kept on each side of a row's non-black span.
const GUARD: usize = 2;

/// Half-width of each kernel row of ImageJ's circular kernel of radius
/// `radius`: entry `|dy|` is the largest `dx` with `dx² + dy² <= radius² + 1`.
/// The number of entries minus one is the vertical reach of the kernel.
pub fn kernel_half_widths(radius: u32) -> Vec<usize> {
    let limit = u64::from(radius) * u64::from(radius) + 1;
    let reach = limit.isqrt();
    (0..=reach)
        .map(|dy| (limit - dy * dy).isqrt() as usize)
        .collect()
}

/// Channel-wise max over ImageJ's circular kernel of radius `radius`.
pub fn max_filter(image: &RgbImage, radius: u32) -> RgbImage {
    let width = image.width;
    let mut out = RgbImage::black(width, image.height);
    max_filter_rows(image, radius, |y, start, pixels| {
        let row = &mut out.pixels[y * width + start..];
        for (o, p) in row.iter_mut().zip(pixels.chunks_exact(BPP)) {
            *o = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
        }
    });
    out
}

/// The max filter of [`max_filter`], handed over row by row without building
/// the output image: `sink(y, start, pixels)` receives, for each output row
/// `y` that is not entirely black, the pixels from `x = start` on as
/// little-endian `0x00RRGGBB` bytes ([`BPP`] per pixel). Pixels outside the
/// span are black.
pub(crate) fn max_filter_rows(
    image: &RgbImage,
    radius: u32,
    mut sink: impl FnMut(usize, usize, &[u8]),
) {
    let half_widths = kernel_half_widths(radius);
    let (width, height) = (image.width, image.height);
    if width == 0 {
        return;
    }
    let reach = half_widths[0];
    let vertical = half_widths.len() - 1;
    let offset = reach + GUARD;
    let row_bytes = (width + 2 * offset) * BPP;
    let mut levels = vec![0u8; (reach + 1) * row_bytes];
    let mut pending = PendingRows::new(2 * vertical + 1, width);
    for yi in 0..height + vertical {
        if let Some(row) = image.pixels.get(yi * width..(yi + 1) * width) {
            if let Some((first, last)) = non_black_span(row) {
                row_running_maxima(&mut levels, row_bytes, row, first, last, offset);
                for yo in yi.saturating_sub(vertical)..=(yi + vertical).min(height - 1) {
                    let k = half_widths[yo.abs_diff(yi)];
                    let (start, end) = (first.saturating_sub(k), (last + k + 1).min(width));
                    let level = &levels[k * row_bytes..(k + 1) * row_bytes];
                    let src = &level[(start + offset) * BPP..(end + offset) * BPP];
                    pending.merge(yo, start, src);
                }
            }
        }
        if let Some(yo) = yi.checked_sub(vertical) {
            pending.flush(yo, &mut sink);
        }
    }
}

/// A ring of output rows still receiving input rows, as bytes, each with the
/// span of pixels written so far (only that span is converted and cleared).
struct PendingRows {
    width: usize,
    bytes: Vec<u8>,
    spans: Vec<Option<(usize, usize)>>,
}

impl PendingRows {
    fn new(rows: usize, width: usize) -> Self {
        Self {
            width,
            bytes: vec![0u8; rows * width * BPP],
            spans: vec![None; rows],
        }
    }

    /// Takes the max of output row `y` from pixel `start` on with `src`.
    fn merge(&mut self, y: usize, start: usize, src: &[u8]) {
        let slot = y % self.spans.len();
        let end = start + src.len() / BPP;
        let base = slot * self.width * BPP;
        max_into(&mut self.bytes[base + start * BPP..base + end * BPP], src);
        let span = self.spans[slot].get_or_insert((start, end));
        *span = (span.0.min(start), span.1.max(end));
    }

    /// Hands the finished output row `y` to `sink` (if anything was written
    /// to it) and clears its slot.
    fn flush(&mut self, y: usize, sink: &mut impl FnMut(usize, usize, &[u8])) {
        let slot = y % self.spans.len();
        let Some((start, end)) = self.spans[slot].take() else {
            return;
        };
        let base = slot * self.width * BPP;
        let bytes = &mut self.bytes[base + start * BPP..base + end * BPP];
        sink(y, start, bytes);
        bytes.fill(0);
    }
}

/// The first and last index of a non-black pixel in `row`.
fn non_black_span(row: &[u32]) -> Option<(usize, usize)> {
    let first = row.iter().position(|&p| p & 0x00ff_ffff != 0)?;
    let last = row.iter().rposition(|&p| p & 0x00ff_ffff != 0)?;
    Some((first, last))
}

/// Fills level `k` of `levels` (rows of `row_bytes` bytes, pixel `x` of the
/// image at padded index `x + offset`) with the max of `row` over `[x-k, x+k]`,
/// valid over the span `[first-k-GUARD, last+k+GUARD]` (zero outside the
/// non-black span, without touching the rest of the buffer).
fn row_running_maxima(
    levels: &mut [u8],
    row_bytes: usize,
    row: &[u32],
    first: usize,
    last: usize,
    offset: usize,
) {
    let (a, b) = (first + offset, last + offset);
    let reach = levels.len() / row_bytes - 1;
    let level0 = &mut levels[..row_bytes];
    for (dst, &p) in level0[a * BPP..(b + 1) * BPP]
        .chunks_exact_mut(BPP)
        .zip(&row[first..=last])
    {
        dst.copy_from_slice(&(p & 0x00ff_ffff).to_le_bytes());
    }
    zero_guards(level0, a, b);
    for k in 1..=reach {
        let (done, rest) = levels.split_at_mut(k * row_bytes);
        let prev = &done[(k - 1) * row_bytes..];
        let cur = &mut rest[..row_bytes];
        let (s, e) = ((a - k) * BPP, (b + k + 1) * BPP);
        let left = &prev[s - BPP..e - BPP];
        let right = &prev[s + BPP..e + BPP];
        if k == 1 {
            max3(&mut cur[s..e], left, &prev[s..e], right);
        } else {
            max2(&mut cur[s..e], left, right);
        }
        zero_guards(cur, a - k, b + k);
    }
}

/// Zeroes the `GUARD` pixels on each side of the padded span `[a, b]`.
fn zero_guards(level: &mut [u8], a: usize, b: usize) {
    level[(a - GUARD) * BPP..a * BPP].fill(0);
    level[(b + 1) * BPP..(b + 1 + GUARD) * BPP].fill(0);
}

/// `dst[i] = max(dst[i], src[i])`.
#[inline]
fn max_into(dst: &mut [u8], src: &[u8]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = (*d).max(s);
    }
}

/// `dst[i] = max(a[i], b[i])`.
#[inline]
fn max2(dst: &mut [u8], a: &[u8], b: &[u8]) {
    for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
        *d = x.max(y);
    }
}

/// `dst[i] = max(a[i], b[i], c[i])`.
#[inline]
fn max3(dst: &mut [u8], a: &[u8], b: &[u8], c: &[u8]) {
    for (((d, &x), &y), &z) in dst.iter_mut().zip(a).zip(b).zip(c) {
        *d = x.max(y).max(z);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_rows_cover_exactly_the_imagej_disk() {
        for r in [1u32, 2, 3, 10, 20, 60] {
            let limit = i64::from(r * r + 1);
            let widths = kernel_half_widths(r);
            let reach = widths.len() as i64 - 1;
            for dy in -reach - 1..=reach + 1 {
                for dx in -reach - 1..=reach + 1 {
                    let in_disk = dx * dx + dy * dy <= limit;
                    let in_rows = widths
                        .get(dy.unsigned_abs() as usize)
                        .is_some_and(|&k| dx.unsigned_abs() as usize <= k);
                    assert_eq!(in_disk, in_rows, "r={r} dx={dx} dy={dy}");
                }
            }
        }
        assert_eq!(kernel_half_widths(10), [10, 10, 9, 9, 9, 8, 8, 7, 6, 4, 1]);
    }

    #[test]
    fn single_pixel_spreads_to_the_kernel() {
        let mut img = RgbImage::black(41, 41);
        img.pixels[20 * 41 + 20] = 0x0012_3456;
        let out = max_filter(&img, 10);
        for y in 0..41usize {
            for x in 0..41usize {
                let (dx, dy) = (x.abs_diff(20), y.abs_diff(20));
                let inside = dx * dx + dy * dy <= 101;
                assert_eq!(out.get(x, y) != 0, inside, "({x}, {y})");
            }
        }
        assert_eq!(out.get(20, 10), 0x0012_3456);
    }
}
