//! The Mersenne Twister behind `numpy.random.RandomState(seed)`, so the BO's initial design is the
//! one upstream evaluated.
//!
//! bayes_opt 1.4.3 draws its 60 initial points from `RandomState(0).uniform(lo, hi)`, six draws
//! per point in variable order (`docs/upstream.md` §bo-internals). numpy seeds an integer with the
//! classic `init_genrand` and builds each double from two 32-bit outputs, so reproducing those
//! two steps reproduces the points bit for bit. The state can be saved and restored, so a stopped
//! search resumes with the same random stream.

use serde::{Deserialize, Serialize};

const N: usize = 624;
const M: usize = 397;

/// MT19937 with numpy's `RandomState` seeding and double generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mt19937 {
    mt: Vec<u32>,
    index: usize,
}

impl Mt19937 {
    /// `numpy.random.RandomState(seed)` for an integer seed.
    pub fn new(seed: u32) -> Mt19937 {
        let mut mt = vec![0u32; N];
        mt[0] = seed;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, index: N }
    }

    fn twist(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..N {
            let y = (self.mt[i] & UPPER) | (self.mt[(i + 1) % N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.mt[i] = self.mt[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    /// The next tempered 32-bit output (`genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `random_sample()`: a double in [0, 1) with 53 random bits.
    pub fn random_sample(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `uniform(low, high)`: `low + (high − low) · random_sample()`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.random_sample()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_random_state_zero() {
        // RandomState(0).random_sample(3), docs/upstream.md §bo-internals.
        let mut r = Mt19937::new(0);
        assert_eq!(r.random_sample(), 0.5488135039273248);
        assert_eq!(r.random_sample(), 0.7151893663724195);
        assert_eq!(r.random_sample(), 0.6027633760716439);
    }

    #[test]
    fn first_initial_points_for_target_0_2() {
        // The first three of bayes_opt's 60 initial points for T = 0.2 (bounds [0, 0.4]).
        let expected = [
            [
                0.2195254016,
                0.2860757465,
                0.2411053504,
                0.2179532732,
                0.1694619197,
                0.2583576452,
            ],
            [
                0.1750348845,
                0.3567092003,
                0.3854651042,
                0.1533766075,
                0.3166900152,
                0.2115579679,
            ],
            [
                0.2272178244,
                0.3702386553,
                0.0284144233,
                0.0348517199,
                0.0080873590,
                0.3330479382,
            ],
        ];
        let mut r = Mt19937::new(0);
        for point in expected {
            for want in point {
                let got = r.uniform(0.0, 0.4);
                assert!((got - want).abs() < 5e-11, "{got} vs {want}");
            }
        }
    }

    #[test]
    fn a_restored_state_continues_the_same_stream() {
        let mut a = Mt19937::new(7);
        for _ in 0..1000 {
            a.next_u32();
        }
        let saved = serde_json::to_string(&a).unwrap();
        let mut b: Mt19937 = serde_json::from_str(&saved).unwrap();
        for _ in 0..2000 {
            assert_eq!(a.next_u32(), b.next_u32());
        }
    }
}
