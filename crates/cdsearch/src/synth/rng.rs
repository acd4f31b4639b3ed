//! A small deterministic random generator (SplitMix64).
//!
//! Written here rather than taken from a crate so that a synthetic library is
//! the same for a given seed on every platform and every future build.

/// SplitMix64: 64-bit state, one multiply-xorshift mix per draw.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for image `index` of the library with seed `seed`.
    pub fn for_image(seed: u64, index: u64) -> Self {
        let mut mixer = Rng(seed ^ 0x5EED_CD5E_A7C4_0000);
        let base = mixer.next_u64();
        Rng(base ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    /// A generator started from `seed` (e.g. a fuzz run's `--seed`).
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [lo, hi] (inclusive).
    pub fn int(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next_u64() % u64::from(hi - lo + 1)) as u32
    }

    /// Approximately standard normal (sum of four uniforms, rescaled): cheap
    /// and smooth enough for wiggling curves.
    pub fn normal(&mut self) -> f64 {
        let s: f64 = (0..4).map(|_| self.unit()).sum();
        (s - 2.0) * 3f64.sqrt()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// One of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_images_differ() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::for_image(7, 3);
                move |_| r.next_u64()
            })
            .collect();
        let mut r = Rng::for_image(7, 3);
        assert_eq!(a, (0..4).map(|_| r.next_u64()).collect::<Vec<_>>());
        assert_ne!(Rng::for_image(7, 4).next_u64(), a[0]);
        assert_ne!(Rng::for_image(8, 3).next_u64(), a[0]);
    }

    #[test]
    fn draws_stay_in_range() {
        let mut r = Rng::for_image(1, 1);
        for _ in 0..10_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            let i = r.int(3, 5);
            assert!((3..=5).contains(&i));
            assert!(r.normal().abs() <= 2.0 * 3f64.sqrt());
        }
    }
}
