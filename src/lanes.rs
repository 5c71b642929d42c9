//! The lane vector every vector loop of the crate is written over, and its small helpers.
//!
//! The SIMD engine ([`crate::engine::simd`]), the image statistics and conversions
//! ([`crate::image`]), the Poisson noise ([`crate::noise`]) and its generator work on [`F`]:
//! [`LANES`] f64 values in one `wide` vector (one zmm register with AVX-512, two ymm with
//! AVX2). `wide` picks its instructions when it is compiled, so this alias is the one place
//! that names the width; everything else counts in [`LANES`].
//!
//! Masks are lane vectors whose lanes are all ones ([`ON`], keep) or all zeros (discard), as
//! `wide`'s comparisons return them: `mask & x` keeps the lanes of `x`, and
//! `mask.select(a, b)` takes `a` where the mask is on.

/// The lane vector: eight f64 (one zmm register with AVX-512, two ymm with AVX2).
pub type F = wide::f64x8;

/// f32 lanes, as many as [`F`] has.
pub type F32 = wide::f32x8;

/// Values per vector.
pub const LANES: usize = std::mem::size_of::<F>() / 8;

/// A mask lane that keeps: every bit set.
pub const ON: f64 = f64::from_bits(u64::MAX);

/// The vector whose lane `i` is `f(i)`.
#[inline(always)]
pub fn from_fn(mut f: impl FnMut(usize) -> f64) -> F {
    let mut a = [0.0; LANES];
    for (i, x) in a.iter_mut().enumerate() {
        *x = f(i);
    }
    F::from(a)
}

/// The mask that is on where `keep(i)`: `mask(keep) & x` keeps those lanes of `x`.
#[inline(always)]
pub fn mask(mut keep: impl FnMut(usize) -> bool) -> F {
    from_fn(|i| if keep(i) { ON } else { 0.0 })
}

/// Up to [`LANES`] f32 values as f64 lanes; the lanes past the end of `values` are 0.
#[inline(always)]
pub fn widen(values: &[f32]) -> F {
    if let Ok(full) = <&[f32; LANES]>::try_from(values) {
        return F::from(full.map(f64::from));
    }
    from_fn(|i| values.get(i).map_or(0.0, |&v| f64::from(v)))
}

/// Truncate lanes known to lie in [0, 65536) to integers (through f32 lanes, whose
/// truncation needs no saturation there).
#[inline(always)]
pub fn truncate_in_range(x: F) -> [i32; LANES] {
    F32::from(x.to_array().map(|x| x as f32))
        .fast_trunc_int()
        .to_array()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_build_the_lanes_they_name() {
        assert_eq!(LANES, 8);
        assert_eq!(
            from_fn(|i| i as f64).to_array(),
            [0., 1., 2., 3., 4., 5., 6., 7.]
        );
        let m = mask(|i| i % 3 == 0);
        assert_eq!(m.to_bitmask(), 0b0100_1001);
        assert_eq!((m & F::splat(2.0)).to_array()[3], 2.0);
        assert_eq!((m & F::splat(2.0)).to_array()[4], 0.0);
        assert_eq!(
            widen(&[1.5, 2.5]).to_array(),
            [1.5, 2.5, 0., 0., 0., 0., 0., 0.]
        );
        assert_eq!(widen(&[3.0; 8]).to_array(), [3.0; 8]);
        assert_eq!(truncate_in_range(F::splat(65535.9))[0], 65535);
    }
}
