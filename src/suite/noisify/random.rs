//! Counter-based normal deviates for default mode: flicker, calibration error and read-out
//! noise, one deviate per pixel and stream, a pure function of `(seed, stream, row, column)`.
//!
//! Construction: the seed and the stream number are hashed into a key,
//! `key = mix(mix(seed ⊕ SALT) ⊕ stream·γ)`, which starts a SplitMix64 sequence (Steele, Lea &
//! Flood 2014): element `n` is `mix(key + n·γ)`, `mix` being SplitMix64's finaliser and
//! `γ = 0x9E3779B97F4A7C15`. The pixels of a row go in pairs: pair `p` (columns `2j`, `2j+1`
//! of row `y`, `p = y·⌈W/2⌉ + j`) takes elements `2p+1` and `2p+2` as two uniforms `u₁, u₂`
//! in (0, 1) (53 bits), and Box–Muller gives its two independent deviates
//! `√(−2 ln u₁)·cos 2πu₂` (even column) and `√(−2 ln u₁)·sin 2πu₂` (odd column).
//!
//! The salts differ from those of [`crate::rng::PoissonStreams`], which draws the Poisson
//! deviates from the same `-seed`, and the keys are hashed, so the streams are unrelated.
//! Nothing depends on the order in which pixels are visited: the result is the same for any
//! thread count.
//!
//! [`NormalStreams::normal_pair`] is the scalar reference; [`NormalStreams::normal_lanes`] computes
//! the deviates of four pairs at once with vector `ln`, `sqrt` and `sin_cos` (`wide`), and
//! agrees with the reference to a few ulps (a property test checks it).

use wide::f64x4;

use crate::rng::{GOLDEN_GAMMA as GAMMA, bits_to_open_unit as open_unit, mix64};

/// Salt of the seed hash (digits of √2, unlike the π digits `rng.rs` uses).
const SALT: u64 = 0x6A09_E667_F3BC_C908;

/// The random streams of noisify. Each is independent of the others, also when two of them
/// come from the same seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Beam flicker, `1 + flicker·N(0,1)` (from `-seed`).
    Flicker = 1,
    /// Calibration error, `1 + calibration·N(0,1)` (from `-calib_seed`).
    Calibration = 2,
    /// Read-out noise, `readout·N(0,1)` ADU (from `-seed`).
    Readout = 3,
}

/// Normal deviates of one stream of one seed, indexed by pixel.
#[derive(Clone, Copy, Debug)]
pub struct NormalStreams {
    key: u64,
}

impl NormalStreams {
    /// The deviates of `stream` for `seed`.
    pub fn new(seed: u64, stream: Stream) -> Self {
        NormalStreams {
            key: mix64(mix64(seed ^ SALT) ^ (stream as u64).wrapping_mul(GAMMA)),
        }
    }

    /// The two uniforms of pair `pair`.
    #[inline(always)]
    fn uniforms(&self, pair: u64) -> (f64, f64) {
        let n = pair.wrapping_mul(2);
        let at = |k: u64| {
            let state = self.key.wrapping_add(n.wrapping_add(k).wrapping_mul(GAMMA));
            open_unit(mix64(state))
        };
        (at(1), at(2))
    }

    /// The deviates of pair `pair`: (even column, odd column) (scalar reference).
    #[cfg(test)]
    pub fn normal_pair(&self, pair: u64) -> (f64, f64) {
        let (u1, u2) = self.uniforms(pair);
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        (r * c, r * s)
    }

    /// The deviates of the pairs `first, …, first + 3`, in column order (even column of the
    /// first pair, odd column, even column of the next pair, …).
    #[inline(always)]
    pub fn normal_lanes(&self, first: u64) -> [f64; 8] {
        let mut a = [0.0; 4];
        let mut b = [0.0; 4];
        for i in 0..4 {
            (a[i], b[i]) = self.uniforms(first.wrapping_add(i as u64));
        }
        let r = (f64x4::splat(-2.0) * f64x4::from(a).ln()).sqrt();
        let (s, c) = (f64x4::splat(std::f64::consts::TAU) * f64x4::from(b)).sin_cos();
        let (c, s) = ((r * c).to_array(), (r * s).to_array());
        [c[0], s[0], c[1], s[1], c[2], s[2], c[3], s[3]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn moments_and_independence() {
        let n = 200_000u64;
        let calib = NormalStreams::new(123_456_789, Stream::Calibration);
        let flicker = NormalStreams::new(123_456_789, Stream::Flicker);
        let (mut s1, mut s2, mut s4, mut cross, mut within) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..n / 2 {
            let (z1, z2) = calib.normal_pair(i);
            let (f1, f2) = flicker.normal_pair(i);
            for (z, f) in [(z1, f1), (z2, f2)] {
                s1 += z;
                s2 += z * z;
                s4 += z.powi(4);
                cross += z * f;
            }
            within += z1 * z2;
        }
        let n = n as f64;
        let sigma = (1.0 / n).sqrt();
        assert!((s1 / n).abs() < 4.0 * sigma, "mean {}", s1 / n);
        assert!(
            (s2 / n - 1.0).abs() < 4.0 * 2f64.sqrt() * sigma,
            "variance {}",
            s2 / n
        );
        assert!(
            (s4 / n - 3.0).abs() < 4.0 * 96f64.sqrt() * sigma,
            "kurtosis {}",
            s4 / n
        );
        assert!((cross / n).abs() < 4.0 * sigma, "correlation {}", cross / n);
        let half = n / 2.0;
        assert!(
            (within / half).abs() < 4.0 / half.sqrt(),
            "pair correlation {}",
            within / half
        );
    }

    #[test]
    fn streams_and_seeds_differ_and_repeat() {
        let a = NormalStreams::new(7, Stream::Readout);
        let z = a.normal_pair(42);
        assert_eq!(z, a.normal_pair(42));
        assert_ne!(z, NormalStreams::new(7, Stream::Flicker).normal_pair(42));
        assert_ne!(z, NormalStreams::new(8, Stream::Readout).normal_pair(42));
        assert_ne!(z, a.normal_pair(43));
        assert_ne!(z.0, z.1);
    }

    #[test]
    fn open_unit_edges() {
        assert_eq!(open_unit(0), 2f64.powi(-54));
        assert_eq!(open_unit(u64::MAX), 1.0 - 2f64.powi(-53));
        assert_eq!(open_unit(1 << 63), 0.5);
    }

    proptest! {
        #[test]
        fn lanes_match_the_scalar_reference(seed in any::<u64>(), first in any::<u64>()) {
            let s = NormalStreams::new(seed, Stream::Calibration);
            let lanes = s.normal_lanes(first);
            for (i, &z) in lanes.iter().enumerate() {
                let pair = s.normal_pair(first.wrapping_add(i as u64 / 2));
                let want = if i % 2 == 0 { pair.0 } else { pair.1 };
                prop_assert!(z.is_finite());
                prop_assert!((z - want).abs() <= 1e-13 * (1.0 + want.abs()), "{z} vs {want}");
            }
        }
    }
}
