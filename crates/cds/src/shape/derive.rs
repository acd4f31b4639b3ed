//! Images derived from a target CDM for the shape score: the z-gap image
//! (recipe confirmed against the reference files) and a synthetic gradient
//! image (an approximation: the real recipe is not public).

use super::labels::LabelRegions;
use super::maxfilter::max_filter;
use super::ops::{above, threshold};
use crate::image::{Gray16Image, RgbImage};

/// Radius of the max filter of the stored z-gap files.
pub const ZGAP_FILE_RADIUS: u32 = 20;
/// Radius the reference tests use when they build a z-gap on the fly.
pub const ZGAP_TEST_RADIUS: u32 = 10;

/// The z-gap image of a target:
/// `max_filter_radius(threshold_thr(clearLabels(target)))`. With radius 20
/// and threshold 20 this equals the stored z-gap files pixel for pixel.
pub fn zgap_from_target(
    target: &RgbImage,
    radius: u32,
    thr: u8,
    labels: &LabelRegions,
) -> RgbImage {
    max_filter(&threshold(&labels.cleared(target), thr), radius)
}

/// A synthetic gradient image: at each pixel, the Euclidean distance in
/// pixels (rounded to the nearest integer) to the nearest target signal pixel
/// (any channel `> thr`, labels cleared); 0 on the signal. Without any signal
/// every pixel gets the image diagonal.
///
/// This is an approximation for synthetic libraries: the reference gradient
/// images also grow with the distance from the target's signal, but how they
/// are made is not public, so scores computed with these images are not
/// comparable with NeuronBridge's.
pub fn gradient_from_target(target: &RgbImage, thr: u8, labels: &LabelRegions) -> Gray16Image {
    let cleared = labels.cleared(target);
    let (w, h) = (target.width, target.height);
    let diagonal = ((w * w + h * h) as f64).sqrt().ceil();
    let mut dist: Vec<f64> = cleared
        .pixels
        .iter()
        .map(|&p| if above(p, thr) { 0.0 } else { f64::INFINITY })
        .collect();
    let mut scratch = DistanceScratch::new(w.max(h));
    let mut column = vec![0.0; h];
    for x in 0..w {
        for (y, c) in column.iter_mut().enumerate() {
            *c = dist[y * w + x];
        }
        scratch.transform(&mut column);
        for (y, &c) in column.iter().enumerate() {
            dist[y * w + x] = c;
        }
    }
    if w > 0 {
        for row in dist.chunks_exact_mut(w) {
            scratch.transform(row);
        }
    }
    Gray16Image {
        width: w,
        height: h,
        pixels: dist
            .iter()
            .map(|&d| d.sqrt().round().min(diagonal).min(f64::from(u16::MAX)) as u16)
            .collect(),
    }
}

/// Buffers of the 1-D squared distance transform (Felzenszwalb and
/// Huttenlocher, lower envelope of parabolas).
struct DistanceScratch {
    /// Positions of the parabolas of the lower envelope.
    apex: Vec<usize>,
    /// Boundaries between consecutive parabolas (one more than `apex`).
    bounds: Vec<f64>,
    /// Copy of the input values.
    input: Vec<f64>,
}

impl DistanceScratch {
    fn new(n: usize) -> Self {
        Self {
            apex: Vec::with_capacity(n),
            bounds: Vec::with_capacity(n + 1),
            input: Vec::with_capacity(n),
        }
    }

    /// Replaces `f` by `d(q) = min_p (q - p)² + f(p)` (infinite `f` = no source).
    fn transform(&mut self, f: &mut [f64]) {
        self.input.clear();
        self.input.extend_from_slice(f);
        self.apex.clear();
        self.bounds.clear();
        let sources = (0..f.len()).filter(|&p| self.input[p].is_finite());
        for q in sources {
            let fq = self.input[q] + (q * q) as f64;
            loop {
                let Some(&p) = self.apex.last() else {
                    self.apex.push(q);
                    self.bounds.push(f64::NEG_INFINITY);
                    break;
                };
                let fp = self.input[p] + (p * p) as f64;
                let s = (fq - fp) / (2.0 * (q - p) as f64);
                if s <= *self.bounds.last().unwrap_or(&f64::NEG_INFINITY) {
                    self.apex.pop();
                    self.bounds.pop();
                } else {
                    self.apex.push(q);
                    self.bounds.push(s);
                    break;
                }
            }
        }
        if self.apex.is_empty() {
            return;
        }
        let mut k = 0;
        for (q, out) in f.iter_mut().enumerate() {
            while k + 1 < self.apex.len() && self.bounds[k + 1] < q as f64 {
                k += 1;
            }
            let p = self.apex[k];
            let d = q.abs_diff(p) as f64;
            *out = d * d + self.input[p];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_is_the_euclidean_distance_to_the_signal() {
        let mut img = RgbImage::black(50, 40);
        img.pixels[10 * 50 + 10] = 0x00ff_0000;
        img.pixels[30 * 50 + 40] = 0x0000_00ff;
        img.pixels[5 * 50 + 45] = 0x0014_1414; // not above 20: no signal
        let g = gradient_from_target(&img, 20, &LabelRegions::none());
        for y in 0..40usize {
            for x in 0..50usize {
                let d = |sx: usize, sy: usize| {
                    ((x.abs_diff(sx).pow(2) + y.abs_diff(sy).pow(2)) as f64).sqrt()
                };
                let expected = d(10, 10).min(d(40, 30)).round() as u16;
                assert_eq!(g.pixels[y * 50 + x], expected, "({x}, {y})");
            }
        }
    }

    #[test]
    fn gradient_without_signal_is_the_diagonal() {
        let g = gradient_from_target(&RgbImage::black(3, 4), 20, &LabelRegions::none());
        assert_eq!(g.pixels, vec![5; 12]);
    }

    #[test]
    fn zgap_clears_labels_and_thresholds_before_filtering() {
        let mut img = RgbImage::black(400, 200);
        img.pixels[10 * 400 + 10] = 0x00ff_0000; // inside the name label
        img.pixels[150 * 400 + 200] = 0x0015_0000; // above threshold
        img.pixels[150 * 400 + 100] = 0x0014_1414; // at threshold
        let z = zgap_from_target(&img, 2, 20, &LabelRegions::shape_stage());
        let lit: Vec<usize> = (0..z.pixels.len()).filter(|&i| z.pixels[i] != 0).collect();
        assert_eq!(lit.len(), 21);
        assert!(lit.iter().all(|&i| z.pixels[i] == 0x0015_0000));
    }
}
