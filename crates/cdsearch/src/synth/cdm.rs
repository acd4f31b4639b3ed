//! Drawing one synthetic CDM: neuron-like tracts colored by depth, plus the
//! burnt-in label areas of real CDMs.

use super::rng::Rng;
use cds::image::pack;
use cds::shape::COLOR_DEPTH_LUT;
use cds::RgbImage;
use std::f64::consts::PI;

/// Step between two stamps along a tract, in pixels.
const STEP: f64 = 1.0;

/// A brightness field and the depth of its brightest contribution per pixel,
/// as a maximum intensity projection keeps it.
struct Canvas {
    width: usize,
    height: usize,
    value: Vec<f32>,
    depth: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            value: vec![0.0; width * height],
            depth: vec![0; width * height],
        }
    }

    /// Adds a soft disk of radius `radius` (falloff 1 - d²/r²) with peak
    /// `amp` at depth `depth`; each pixel keeps its brightest contribution.
    fn stamp(&mut self, x: f64, y: f64, radius: f64, amp: f64, depth: u8) {
        let r2 = radius * radius;
        let x0 = (x - radius).floor().max(0.0) as usize;
        let y0 = (y - radius).floor().max(0.0) as usize;
        let x1 = ((x + radius).ceil() as usize).min(self.width - 1);
        let y1 = ((y + radius).ceil() as usize).min(self.height - 1);
        for py in y0..=y1 {
            let dy = py as f64 - y;
            let row = py * self.width;
            for px in x0..=x1 {
                let dx = px as f64 - x;
                let d2 = dx * dx + dy * dy;
                if d2 >= r2 {
                    continue;
                }
                let v = (amp * (1.0 - d2 / r2)) as f32;
                let pos = row + px;
                if v > self.value[pos] {
                    self.value[pos] = v;
                    self.depth[pos] = depth;
                }
            }
        }
    }

    fn into_image(self) -> RgbImage {
        let pixels = self
            .value
            .iter()
            .zip(&self.depth)
            .map(|(&v, &d)| {
                if v <= 0.0 {
                    return 0;
                }
                let [r, g, b] = COLOR_DEPTH_LUT[usize::from(d)];
                let scale = |c: u8| (f32::from(c) * v.min(1.0) + 0.5) as u8;
                pack(scale(r), scale(g), scale(b))
            })
            .collect();
        RgbImage {
            width: self.width,
            height: self.height,
            pixels,
        }
    }
}

/// The brain outline: a central brain and two optic lobes (ellipses, in
/// units of the image size, shaped after the JRC2018 unisex template).
struct Brain {
    lobes: [(f64, f64, f64, f64); 3],
}

impl Brain {
    fn new(width: usize, height: usize) -> Self {
        let (w, h) = (width as f64, height as f64);
        Self {
            lobes: [
                (0.50 * w, 0.55 * h, 0.20 * w, 0.36 * h),
                (0.20 * w, 0.52 * h, 0.15 * w, 0.32 * h),
                (0.80 * w, 0.52 * h, 0.15 * w, 0.32 * h),
            ],
        }
    }

    fn contains(&self, x: f64, y: f64) -> bool {
        self.lobes.iter().any(|&(cx, cy, rx, ry)| {
            let (u, v) = ((x - cx) / rx, (y - cy) / ry);
            u * u + v * v <= 1.0
        })
    }

    /// A random point inside the brain.
    fn sample(&self, rng: &mut Rng) -> (f64, f64) {
        let (cx, cy, rx, ry) = self.lobes[rng.int(0, 2) as usize];
        let a = rng.range(0.0, 2.0 * PI);
        let r = rng.unit().sqrt() * 0.9;
        (cx + r * rx * a.cos(), cy + r * ry * a.sin())
    }

    /// The centre of the lobe nearest to (x, y), to steer tracts back in.
    fn nearest_centre(&self, x: f64, y: f64) -> (f64, f64) {
        let d = |&(cx, cy, _, _): &(f64, f64, f64, f64)| (cx - x).powi(2) + (cy - y).powi(2);
        let lobe = self
            .lobes
            .iter()
            .min_by(|a, b| d(a).total_cmp(&d(b)))
            .expect("three lobes");
        (lobe.0, lobe.1)
    }
}

/// One growing branch of a tract.
#[derive(Clone)]
struct Walker {
    x: f64,
    y: f64,
    angle: f64,
    turn: f64,
    depth: f64,
    slope: f64,
    radius: f64,
    amp: f64,
    steps: u32,
}

impl Walker {
    fn depth_index(&self) -> u8 {
        (self.depth * 255.0).round() as u8
    }

    /// Advances one step: the direction and the depth drift smoothly, and a
    /// tract leaving the brain turns back towards it.
    fn advance(&mut self, rng: &mut Rng, brain: &Brain) {
        self.turn = 0.95 * self.turn + 0.012 * rng.normal();
        self.angle += self.turn;
        let (nx, ny) = (
            self.x + STEP * self.angle.cos(),
            self.y + STEP * self.angle.sin(),
        );
        if !brain.contains(nx, ny) {
            let (cx, cy) = brain.nearest_centre(self.x, self.y);
            self.angle = (cy - self.y).atan2(cx - self.x) + 0.4 * rng.normal();
            self.turn = 0.0;
        }
        self.x += STEP * self.angle.cos();
        self.y += STEP * self.angle.sin();
        self.slope = 0.97 * self.slope + 0.0015 * rng.normal();
        self.depth += self.slope;
        if !(0.0..=1.0).contains(&self.depth) {
            self.depth = self.depth.clamp(0.0, 1.0);
            self.slope = -self.slope;
        }
        self.amp = (self.amp + 0.01 * rng.normal()).clamp(0.45, 1.0);
        self.steps -= 1;
    }

    /// A side branch leaving at an angle, thinner and shorter.
    fn branch(&self, rng: &mut Rng) -> Walker {
        let side = if rng.chance(0.5) { 1.0 } else { -1.0 };
        Walker {
            angle: self.angle + side * rng.range(0.4, 1.1),
            turn: 0.0,
            radius: (self.radius * rng.range(0.6, 0.9)).max(1.2),
            steps: (f64::from(self.steps) * rng.range(0.2, 0.6)) as u32 + 10,
            ..self.clone()
        }
    }
}

/// Grows one tract (a neuron: a main branch with side branches and a soma),
/// drawing the signal and, in light-microscopy style, a dim haze around it;
/// a bilateral tract is drawn again mirrored left-right.
fn draw_tract(canvas: &mut Canvas, rng: &mut Rng, brain: &Brain, haze: f64, bilateral: bool) {
    let mirror_x = (canvas.width - 1) as f64;
    let put = |canvas: &mut Canvas, x: f64, y: f64, radius: f64, amp: f64, depth: u8| {
        canvas.stamp(x, y, radius, amp, depth);
        if bilateral {
            canvas.stamp(mirror_x - x, y, radius, amp, depth);
        }
    };
    let (x, y) = brain.sample(rng);
    let root = Walker {
        x,
        y,
        angle: rng.range(0.0, 2.0 * PI),
        turn: 0.0,
        depth: rng.unit(),
        slope: 0.0,
        radius: rng.range(1.6, 3.2),
        amp: rng.range(0.6, 1.0),
        steps: rng.int(200, 800),
    };
    put(
        canvas,
        x,
        y,
        rng.range(4.0, 8.0),
        root.amp,
        root.depth_index(),
    );
    let mut stack = vec![root];
    while let Some(mut w) = stack.pop() {
        while w.steps > 0 {
            put(canvas, w.x, w.y, w.radius, w.amp, w.depth_index());
            if haze > 0.0 && w.steps % 6 == 0 {
                put(
                    canvas,
                    w.x,
                    w.y,
                    4.0 * w.radius,
                    haze * w.amp,
                    w.depth_index(),
                );
            }
            if stack.len() < 24 && rng.chance(0.01) {
                stack.push(w.branch(rng));
            }
            w.advance(rng, brain);
        }
    }
}

/// Fills a rectangle with a color.
fn fill(img: &mut RgbImage, x0: usize, y0: usize, w: usize, h: usize, color: u32) {
    for y in y0..(y0 + h).min(img.height) {
        let row = y * img.width;
        for x in x0..(x0 + w).min(img.width) {
            img.pixels[row + x] = color;
        }
    }
}

/// Writes `chars` pseudo-glyphs (random 5x7 bitmaps) from (x, y).
fn draw_text(img: &mut RgbImage, rng: &mut Rng, x: usize, y: usize, chars: usize) {
    const WHITE: u32 = 0x00FF_FFFF;
    for c in 0..chars {
        if rng.chance(0.12) {
            continue; // a space
        }
        let bits = rng.next_u64();
        for gy in 0..7 {
            for gx in 0..5 {
                if bits >> (gy * 5 + gx) & 1 == 1 {
                    fill(img, x + c * 7 + gx, y + gy, 1, 1, WHITE);
                }
            }
        }
    }
}

/// Burns in the two label areas of real CDMs: the name block at the top left
/// (inside x < 330, y < 100) and the color scale bar at the top right (inside
/// x >= width - 250, y < 90).
fn draw_labels(img: &mut RgbImage, rng: &mut Rng) {
    if img.width < 600 || img.height < 120 {
        return;
    }
    let lines = rng.int(2, 4) as usize;
    for line in 0..lines {
        let chars = rng.int(12, 44) as usize;
        draw_text(img, rng, 8, 8 + 14 * line, chars);
    }
    let (bar_x, bar_w) = (img.width - 236, 220);
    for i in 0..bar_w {
        let [r, g, b] = COLOR_DEPTH_LUT[i * 255 / (bar_w - 1)];
        fill(img, bar_x + i, 12, 1, 22, pack(r, g, b));
    }
    draw_text(img, rng, bar_x, 40, 3);
    draw_text(img, rng, bar_x + bar_w - 21, 40, 3);
}

/// Draws synthetic CDM number `index` of the library with seed `seed`.
///
/// Black background; 2 to 5 neuron-like tracts (smooth random walks with
/// branches, a few pixels wide with a soft falloff, some bilateral), each
/// colored by a depth that drifts smoothly along it through the color-depth
/// LUT; half of the
/// images get a dim light-microscopy-like haze around the signal; and the
/// burnt-in label areas. The same (seed, index) always gives the same image.
pub fn generate(seed: u64, index: u64, width: usize, height: usize) -> RgbImage {
    let mut rng = Rng::for_image(seed, index);
    let brain = Brain::new(width, height);
    let mut canvas = Canvas::new(width, height);
    let haze = if rng.chance(0.5) {
        rng.range(0.12, 0.3)
    } else {
        0.0
    };
    for _ in 0..rng.int(2, 5) {
        let bilateral = rng.chance(0.3);
        draw_tract(&mut canvas, &mut rng, &brain, haze, bilateral);
    }
    let mut img = canvas.into_image();
    draw_labels(&mut img, &mut rng);
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit_fraction(img: &RgbImage, threshold: u8) -> f64 {
        let lit = img
            .pixels
            .iter()
            .filter(|&&p| {
                let (r, g, b) = cds::image::channels(p);
                r.max(g).max(b) > threshold
            })
            .count();
        lit as f64 / img.pixels.len() as f64
    }

    #[test]
    fn deterministic_per_seed_and_index() {
        assert_eq!(generate(5, 9, 1210, 566), generate(5, 9, 1210, 566));
        assert_ne!(generate(5, 9, 1210, 566), generate(5, 10, 1210, 566));
        assert_ne!(generate(5, 9, 1210, 566), generate(6, 9, 1210, 566));
    }

    #[test]
    fn lit_density_is_like_real_cdms() {
        for i in 0..20 {
            let f = lit_fraction(&generate(1, i, 1210, 566), 20);
            assert!((0.005..0.12).contains(&f), "image {i}: {f}");
        }
    }

    #[test]
    fn label_areas_are_drawn_where_cdms_have_them() {
        let img = generate(3, 0, 1210, 566);
        let lit_in =
            |x0: usize, x1: usize, y1: usize| (0..y1).any(|y| (x0..x1).any(|x| img.get(x, y) != 0));
        assert!(lit_in(0, 330, 100));
        assert!(lit_in(1210 - 250, 1210, 90));
        assert_eq!(img.get(1210 - 236 + 219, 20), {
            let [r, g, b] = COLOR_DEPTH_LUT[255];
            pack(r, g, b)
        });
    }

    #[test]
    fn other_sizes_work() {
        let img = generate(1, 1, 573, 1119);
        assert_eq!((img.width, img.height), (573, 1119));
        assert!(lit_fraction(&img, 20) > 0.001);
    }
}
