//! The random numbers of training: one small generator per (seed, stream, epoch, sample).
//!
//! Upstream draws from numpy's and Python's global generators in data-loader order, so a batch
//! depends on everything drawn before it. Here every sample gets its own generator, derived from
//! the run's seed, the stream (training augmentation, validation, shuffling), the epoch and the
//! sample's position, so a batch is the same whichever worker thread builds it and whenever, and
//! a resumed run draws exactly what the uninterrupted run drew. `training.md` §2 allows this:
//! the exact upstream streams are not needed, only the distributions.
//!
//! The generator is xoshiro256++ seeded through SplitMix64 (Blackman & Vigna); `f64`s take the
//! top 53 bits, as numpy's `random_sample` does.

/// What a generator is used for, so that streams never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The order of the training images in an epoch.
    Shuffle = 1,
    /// The augmentation of one training sample.
    Train = 2,
    /// The resize filter of one validation sample (upstream draws it even in `val` mode).
    Val = 3,
    /// Splits of a dataset (e.g. the Bayesian optimisation's 80/20 split).
    Split = 4,
}

/// A xoshiro256++ generator.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The generator of `(seed, stream, epoch, index)`; different tuples give unrelated streams.
    pub fn derive(seed: u64, stream: Stream, epoch: u64, index: u64) -> Rng {
        let mut x = seed;
        for part in [stream as u64, epoch, index] {
            x = splitmix64(&mut x) ^ part;
        }
        let mut s = [0u64; 4];
        for v in &mut s {
            *v = splitmix64(&mut x);
        }
        Rng { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform draw in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `a + (b − a)·u`: numpy's `uniform(a, b)` and Python's `random.uniform(a, b)`, which also
    /// accept `a > b`.
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.unit()
    }

    /// A uniform integer in `0..n` (`np.random.randint(0, n)`, `random.randrange(n)`), without
    /// modulo bias. `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "a draw from an empty range");
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// A uniformly chosen element (`random.choice`).
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// The Fisher–Yates permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, self.below(i + 1));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rand_xoshiro_draws_the_same_streams() {
        use rand_xoshiro::Xoshiro256PlusPlus;
        use rand_xoshiro::rand_core::{RngCore, SeedableRng};
        for seed in [0, 1, 7, 42, u64::MAX] {
            for stream in [Stream::Shuffle, Stream::Train, Stream::Val, Stream::Split] {
                for (epoch, index) in [(0, 0), (3, 17), (119, 12_879)] {
                    let mut hand = Rng::derive(seed, stream, epoch, index);
                    let mut x = seed;
                    for part in [stream as u64, epoch, index] {
                        x = rand_xoshiro::SplitMix64::seed_from_u64(x).next_u64() ^ part;
                    }
                    let mut crate_rng = Xoshiro256PlusPlus::seed_from_u64(x);
                    for _ in 0..1000 {
                        assert_eq!(hand.next_u64(), crate_rng.next_u64());
                    }
                }
            }
        }
    }

    #[test]
    fn derived_streams_are_reproducible_and_distinct() {
        let draw = |r: &mut Rng| (0..4).map(|_| r.next_u64()).collect::<Vec<_>>();
        let a = draw(&mut Rng::derive(0, Stream::Train, 3, 17));
        assert_eq!(a, draw(&mut Rng::derive(0, Stream::Train, 3, 17)));
        for other in [
            Rng::derive(1, Stream::Train, 3, 17),
            Rng::derive(0, Stream::Val, 3, 17),
            Rng::derive(0, Stream::Train, 4, 17),
            Rng::derive(0, Stream::Train, 3, 18),
        ] {
            assert_ne!(a, draw(&mut other.clone()));
        }
    }

    #[test]
    fn uniform_draws_cover_their_range_evenly() {
        let mut r = Rng::derive(7, Stream::Train, 0, 0);
        let n = 100_000;
        let mut bins = [0usize; 10];
        for _ in 0..n {
            let u = r.uniform(-1.0, 1.0);
            assert!((-1.0..1.0).contains(&u));
            bins[((u + 1.0) * 5.0) as usize] += 1;
        }
        for b in bins {
            assert!((b as f64 - 10_000.0).abs() < 500.0, "{bins:?}");
        }
        // A reversed range is allowed, as in Python.
        let v = r.uniform(5.0, 2.0);
        assert!(v > 2.0 && v <= 5.0);
    }

    #[test]
    fn below_and_permutation_are_uniform_and_complete() {
        let mut r = Rng::derive(1, Stream::Shuffle, 0, 0);
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[r.below(3)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (c as f64 - 10_000.0).abs() < 400.0),
            "{counts:?}"
        );
        let mut p = r.permutation(50);
        assert_ne!(p, (0..50).collect::<Vec<_>>());
        p.sort_unstable();
        assert_eq!(p, (0..50).collect::<Vec<_>>());
    }
}
