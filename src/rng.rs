//! Random numbers: nanoBragg's Numerical-Recipes generators, reproduced bit for bit, and a
//! counter-based generator for thread-count-independent Poisson noise.
//!
//! # Numerical-Recipes generators (C parity)
//!
//! nanoBragg draws every random number from `ran1`, the Park–Miller "minimal standard" linear
//! congruential generator (`seed ← 16807·seed mod (2³¹−1)`, evaluated with Schrage's
//! decomposition `q = 127773`, `r = 2836` so that it never overflows) followed by a 32-entry
//! Bays–Durham shuffle table. A seed that is `≤ 0`, or a first call ever, (re)initialises the
//! table: the seed becomes `max(1, −seed)`, 40 generator steps are run and the last 32 fill the
//! table. Each draw then advances the seed, uses the previous output `iy` to pick a table slot,
//! outputs that slot and refills it. The output is `iy/(2³¹−1)` rounded to `float` and capped at
//! `1 − 1.2·10⁻⁷`.
//!
//! In C the shuffle table, `iy`, `gaussdev`'s spare deviate and `poidev`'s cached per-mean
//! constants are process-global `static`s shared by every seed variable, whereas the LCG state
//! lives in the caller's `long` seed. [`NrRng`] holds the shared statics; the seed is passed in
//! by `&mut i64` exactly like C's `long *idum` (64-bit `long` on x86-64). Callers pass the
//! C-internal value: the command line's `-seed n` is stored as `-n`.
//!
//! * [`NrRng::gaussdev`]: Marsaglia's polar Box–Muller method; one of each pair is cached.
//! * [`NrRng::poidev`]: Numerical Recipes' Poisson deviate: for means `> 10⁶` the (unrounded)
//!   Gaussian approximation `mean + √mean·gaussdev`; for means `< 12` the product of uniforms
//!   compared with `e^−mean`; otherwise rejection from a Lorentzian envelope.
//! * [`gammln`]: Lanczos' approximation of `ln Γ(x)`.
//! * [`mosaic_rotation_umat`] and [`umat2misset`]: random rotations on a spherical cap and their
//!   conversion to x-y-z missetting angles.
//!
//! The C functions take and return `float` and mix it with `double` library calls (`exp`, `log`,
//! `sqrt`, `tan` on a `float` promote to `double`; the result rounds back to `float` when stored
//! in a `float` variable). The code below mirrors every one of these promotions and roundings;
//! the unit tests compare against values printed by the C functions compiled with `gcc -O3` on
//! x86-64 (SSE arithmetic, no extended precision, no FMA contraction).
//!
//! # Counter-based generator
//!
//! `uniform` maps `(key, index, counter)` to a uniform deviate without any state: the pair
//! `(key, index)` is hashed into the starting state of a SplitMix64 sequence (Steele, Lea &
//! Flood 2014) and `counter` selects an element of that sequence, i.e. the output is
//! `mix64(stream + (counter+1)·φ)` with `φ = 0x9E3779B97F4A7C15` and `mix64` the SplitMix64
//! finaliser. `poisson` draws an exact Poisson deviate from the stream `(seed, index)` only, so
//! every pixel's noise is a pure function of the seed and the pixel index, independent of thread
//! count and scheduling: sequential-search inversion for means `< 10`, Hörmann's transformed
//! rejection with squeeze (PTRS, 1993) for `10 ≤ mean < 10⁹`, and a rounded Gaussian beyond.

use std::f64::consts::PI;

use crate::lanes::{self, F, LANES};

const IA: i64 = 16807;
const IM: i64 = 2_147_483_647;
const IQ: i64 = 127_773;
const IR: i64 = 2836;
const NTAB: usize = 32;
const NDIV: i64 = 1 + (IM - 1) / NTAB as i64;
const AM: f64 = 1.0 / IM as f64;
const RNMX: f64 = 1.0 - 1.2e-7;

/// One Park–Miller step with Schrage's decomposition (C: the body shared by `ran1`'s loops).
///
/// Wrapping arithmetic only matters for seeds outside `[1, 2³¹−2]`, where it mirrors C's
/// two's-complement `long` arithmetic instead of panicking.
fn schrage(idum: i64) -> i64 {
    let k = idum / IQ;
    let mut next = IA
        .wrapping_mul(idum.wrapping_sub(k.wrapping_mul(IQ)))
        .wrapping_sub(IR.wrapping_mul(k));
    if next < 0 {
        next = next.wrapping_add(IM);
    }
    next
}

/// The process-global state of nanoBragg's random-number functions.
///
/// Holds `ran1`'s shuffle table and last output `iy`, `gaussdev`'s cached spare deviate and
/// `poidev`'s cached per-mean constants. As in C, this state is shared by all seed variables
/// passed to the methods; a fresh value corresponds to a freshly started process.
#[derive(Debug, Clone, PartialEq)]
pub struct NrRng {
    /// `ran1`'s shuffle table (`static long iv[NTAB]`).
    iv: [i64; NTAB],
    /// `ran1`'s previous output (`static long iy = 0`; 0 means "table empty").
    iy: i64,
    /// `gaussdev`'s spare deviate (`static int iset; static float gset`).
    gset: Option<f32>,
    /// `poidev`'s `static float sq`.
    sq: f32,
    /// `poidev`'s `static float alxm`.
    alxm: f32,
    /// `poidev`'s `static float g` (shared by the small-mean and rejection branches).
    g: f32,
    /// `poidev`'s `static float oldm = -1.0`.
    oldm: f32,
}

impl Default for NrRng {
    fn default() -> Self {
        Self::new()
    }
}

impl NrRng {
    /// Fresh process state: empty shuffle table, no spare Gaussian deviate, `poidev`'s cache as
    /// C initialises it (`oldm = -1`, everything else 0).
    pub fn new() -> Self {
        NrRng {
            iv: [0; NTAB],
            iy: 0,
            gset: None,
            sq: 0.0,
            alxm: 0.0,
            g: 0.0,
            oldm: -1.0,
        }
    }

    /// C `ran1(&seed)`: a uniform deviate in `(0, 1)`, exclusive of the end points.
    ///
    /// Re-initialises the shared shuffle table when `*seed <= 0` or the table is still empty
    /// (then a non-negative seed becomes 1, a negative one its negation).
    pub fn ran1(&mut self, seed: &mut i64) -> f32 {
        if *seed <= 0 || self.iy == 0 {
            *seed = if seed.wrapping_neg() < 1 {
                1
            } else {
                seed.wrapping_neg()
            };
            for j in (0..NTAB + 8).rev() {
                *seed = schrage(*seed);
                if j < NTAB {
                    self.iv[j] = *seed;
                }
            }
            self.iy = self.iv[0];
        }
        *seed = schrage(*seed);
        // For every seed C can handle, iy/NDIV lies in 0..32; the mask only keeps absurd seeds
        // (where C would index out of bounds) from panicking.
        let j = ((self.iy / NDIV) & (NTAB as i64 - 1)) as usize;
        self.iy = self.iv[j];
        self.iv[j] = *seed;
        // C: `if((temp=AM*iy) > RNMX) return RNMX;` with `float temp`, double AM and RNMX.
        let temp = (AM * self.iy as f64) as f32;
        if f64::from(temp) > RNMX {
            RNMX as f32
        } else {
            temp
        }
    }

    /// C `gaussdev(&seed)`: a normal deviate (mean 0, rms 1) by the polar Box–Muller method.
    ///
    /// Every other call returns the spare deviate cached by the previous one, whatever seed
    /// variable is passed (the cache is global in C).
    pub fn gaussdev(&mut self, seed: &mut i64) -> f32 {
        if let Some(spare) = self.gset.take() {
            return spare;
        }
        let (v1, v2, rsq) = loop {
            // `float v1 = 2.0*ran1(idum)-1.0;` evaluates in double, rounds once to float.
            let v1 = (2.0 * f64::from(self.ran1(seed)) - 1.0) as f32;
            let v2 = (2.0 * f64::from(self.ran1(seed)) - 1.0) as f32;
            let rsq = v1 * v1 + v2 * v2;
            if !(rsq >= 1.0 || rsq == 0.0) {
                break (v1, v2, rsq);
            }
        };
        let rsq = f64::from(rsq);
        let fac = (-2.0 * rsq.ln() / rsq).sqrt() as f32;
        self.gset = Some(v1 * fac);
        v2 * fac
    }

    /// C `poidev(mean, &seed)`: a Poisson deviate of the given mean (Numerical Recipes).
    ///
    /// Integer-valued except for means above 10⁶, where C returns the unrounded Gaussian
    /// approximation `mean + √mean·gaussdev`. Means below 12 (including 0 and negative values)
    /// consume at least one `ran1` draw; NaN takes the rejection branch and returns NaN after
    /// two draws, exactly like C.
    pub fn poidev(&mut self, mean: f32, seed: &mut i64) -> f32 {
        let xm = mean;
        if xm > 1.0e6 {
            let dev = self.gaussdev(seed);
            let xd = f64::from(xm);
            return (xd + xd.sqrt() * f64::from(dev)) as f32;
        }
        if xm < 12.0 {
            if xm != self.oldm {
                self.oldm = xm;
                self.g = f64::from(-xm).exp() as f32;
            }
            // C: `em = -1; t = 1.0; do { ++em; t *= ran1(idum); } while (t > g);`
            let mut em: f32 = 0.0;
            let mut t: f32 = self.ran1(seed);
            while t > self.g {
                em += 1.0;
                t *= self.ran1(seed);
            }
            em
        } else {
            if xm != self.oldm {
                self.oldm = xm;
                self.sq = (2.0 * f64::from(xm)).sqrt() as f32;
                self.alxm = f64::from(xm).ln() as f32;
                self.g = xm * self.alxm - gammln((f64::from(xm) + 1.0) as f32);
            }
            loop {
                let (y, em) = loop {
                    let y = (PI * f64::from(self.ran1(seed))).tan() as f32;
                    let em = self.sq * y + xm;
                    if em < 0.0 {
                        continue;
                    }
                    break (y, em);
                };
                let em = em.floor();
                let lnratio = em * self.alxm - gammln((f64::from(em) + 1.0) as f32) - self.g;
                let t = (0.9 * (1.0 + f64::from(y * y)) * f64::from(lnratio).exp()) as f32;
                if self.ran1(seed) > t {
                    continue;
                }
                return em;
            }
        }
    }
}

/// C `gammln(x)`: `ln Γ(x)` for `x > 0` by Lanczos' series (double inside, `float` result).
pub fn gammln(x: f32) -> f32 {
    const COF: [f64; 6] = [
        76.180_091_729_471_46,
        -86.505_320_329_416_77,
        24.014_098_240_830_91,
        -1.231_739_572_450_155,
        0.120_865_097_386_617_9e-2,
        -0.539_523_938_495_3e-5,
    ];
    let x = f64::from(x);
    let mut y = x;
    let mut tmp = x + 5.5;
    tmp -= (x + 0.5) * tmp.ln();
    let mut ser = 1.000_000_000_190_015;
    for c in COF {
        y += 1.0;
        ser += c / y;
    }
    (-tmp + (2.506_628_274_631_000_5 * ser / x).ln()) as f32
}

/// C `mosaic_rotation_umat(mosaicity, umat, &seed)`: a random rotation matrix, row-major
/// (`result[0]` is the first row, C's `umat[0..3]`).
///
/// Three `ran1` draws `r1, r2, r3 ∈ (−1, 1)` (in double) pick an axis uniform on the sphere,
/// `(√(1−r2²)·sin πr1, √(1−r2²)·cos πr1, r2)`, and an angle `mosaicity·(1−r3²)^(1/3)` computed
/// in `float` with `powf` (so 90 means 90 *radians*, as nanoBragg's random misset uses it); the
/// matrix is the Rodrigues rotation about that axis.
pub fn mosaic_rotation_umat(rng: &mut NrRng, mosaicity: f32, seed: &mut i64) -> [[f64; 3]; 3] {
    let r1 = 2.0 * f64::from(rng.ran1(seed)) - 1.0;
    let r2 = 2.0 * f64::from(rng.ran1(seed)) - 1.0;
    let r3 = 2.0 * f64::from(rng.ran1(seed)) - 1.0;

    let xyrad = (1.0 - r2 * r2).sqrt();
    // C: `mosaicity*powf((1.0-r3*r3),(1.0/3.0))`: both powf arguments round to float, the
    // product is a float product, widened to double on assignment.
    let rot = f64::from(mosaicity * ((1.0 - r3 * r3) as f32).powf((1.0f64 / 3.0) as f32));

    let v1 = xyrad * (PI * r1).sin();
    let v2 = xyrad * (PI * r1).cos();
    let v3 = r2;

    let t1 = rot.cos();
    let t2 = 1.0 - t1;
    let t3 = v1 * v1;
    let t6 = t2 * v1;
    let t7 = t6 * v2;
    let t8 = rot.sin();
    let t9 = t8 * v3;
    let t11 = t6 * v3;
    let t12 = t8 * v2;
    let t15 = v2 * v2;
    let t19 = t2 * v2 * v3;
    let t20 = t8 * v1;
    let t24 = v3 * v3;

    [
        [t1 + t2 * t3, t7 - t9, t11 + t12],
        [t7 + t9, t1 + t2 * t15, t19 - t20],
        [t11 - t12, t19 + t20, t1 + t2 * t24],
    ]
}

/// Normalise a 3-vector in place if its length is positive (C's `if(m>0){x/=m;…}`); returns the
/// length it had.
fn normalize_if_positive(v: &mut [f64; 3]) -> f64 {
    let m = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if m > 0.0 {
        v[0] /= m;
        v[1] /= m;
        v[2] /= m;
    }
    m
}

/// `a × b` in C's component order.
fn cross(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// C `umat2misset(umat, missets)`: missetting angles `[rx, ry, rz]` (radians) such that
/// rotating about x by `rx`, then about y by `ry`, then about z by `rz` (nanoBragg's `rotate`)
/// reproduces the row-major rotation matrix `u`, i.e. `u = Rz·Ry·Rx`.
///
/// The rows are first re-normalised, empty rows replaced by cross products of the others (twice,
/// as in C), and normalised again. If `u[2][0]² ≥ 1` (gimbal lock) the result is
/// `(π, π/2, atan2(u[0][1], −u[1][1]))`, as in C.
pub fn umat2misset(u: &[[f64; 3]; 3]) -> [f64; 3] {
    let mut x = u[0];
    let mut y = u[1];
    let mut z = u[2];

    let mx = normalize_if_positive(&mut x);
    let my = normalize_if_positive(&mut y);
    let mz = normalize_if_positive(&mut z);

    if mx >= 0.0 && my <= 0.0 && mz <= 0.0 {
        y = [0.0, 1.0, 0.0];
        z = [0.0, 0.0, 1.0];
    }
    if mx <= 0.0 && my >= 0.0 && mz <= 0.0 {
        x = [1.0, 0.0, 0.0];
        z = [0.0, 0.0, 1.0];
    }
    if mx <= 0.0 && my <= 0.0 && mz >= 0.0 {
        x = [1.0, 0.0, 0.0];
        y = [0.0, 1.0, 0.0];
    }

    // C does the cross-product substitution twice, with the original magnitudes as flags.
    for _ in 0..2 {
        let mut xcy = cross(&x, &y);
        normalize_if_positive(&mut xcy);
        let mut ycz = cross(&y, &z);
        normalize_if_positive(&mut ycz);
        let mut zcx = cross(&z, &x);
        normalize_if_positive(&mut zcx);
        if mx <= 0.0 {
            x = ycz;
        }
        if my <= 0.0 {
            y = zcx;
        }
        if mz <= 0.0 {
            z = xcy;
        }
    }

    normalize_if_positive(&mut x);
    normalize_if_positive(&mut y);
    normalize_if_positive(&mut z);

    let [uxx, uxy, _] = x;
    let [uyx, uyy, _] = y;
    let [uzx, uzy, uzz] = z;
    if uzx * uzx < 1.0 {
        [
            uzy.atan2(uzz),
            (-uzx).atan2((uzy * uzy + uzz * uzz).sqrt()),
            uyx.atan2(uxx),
        ]
    } else {
        let quarter = 1.0f64.atan2(1.0);
        [quarter * 4.0, quarter * 2.0, uxy.atan2(-uyy)]
    }
}

// ---------------------------------------------------------------------------------------------
// Counter-based generator
// ---------------------------------------------------------------------------------------------

/// SplitMix64's Weyl increment (2⁶⁴/φ, odd).
pub(crate) const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output finaliser (Stafford's "Mix13"): a bijection of `u64` with good avalanche.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Starting state of the SplitMix64 sequence of stream `(key, index)`.
///
/// For a fixed key this is a bijection of `index` (and vice versa), so two pixels of one image
/// never share a stream.
#[cfg(test)]
fn stream_state(key: u64, index: u64) -> u64 {
    stream_state_hashed(mix64(key ^ 0x243F_6A88_85A3_08D3), index)
}

/// `stream_state` with the key already hashed.
fn stream_state_hashed(hashed_key: u64, index: u64) -> u64 {
    mix64(hashed_key ^ mix64(index.wrapping_mul(GOLDEN_GAMMA) ^ 0x1319_8A2E_0370_7344))
}

/// Map 64 random bits to `(0, 1)`: the top 53 bits `m` give `m·2⁻⁵³`, with `m = 0` replaced by
/// `2⁻⁵⁴` so that 0 is never returned (the largest value is `1 − 2⁻⁵³`).
pub(crate) fn bits_to_open_unit(bits: u64) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    let m = bits >> 11;
    if m == 0 {
        0.5 * SCALE
    } else {
        // m < 2⁵³ converts exactly either way; as i64 it is one signed conversion (x86 has no
        // unsigned 64-bit one below AVX-512).
        m as i64 as f64 * SCALE
    }
}

/// A uniform deviate in the open interval `(0, 1)` with 53-bit resolution, a pure function of
/// `(key, index, counter)`: element `counter` of the SplitMix64 sequence whose starting state
/// is a hash of `(key, index)`. The reference the streams are tested against.
#[cfg(test)]
pub fn uniform(key: u64, index: u64, counter: u64) -> f64 {
    let state = stream_state(key, index);
    bits_to_open_unit(mix64(
        state.wrapping_add(counter.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)),
    ))
}

/// Sequential reader of one `(key, index)` stream: yields `uniform(key, index, 0)`,
/// `uniform(key, index, 1)`, ….
struct Stream {
    state: u64,
}

impl Stream {
    fn next_uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        bits_to_open_unit(mix64(self.state))
    }
}

/// `ln k!` for integer-valued `k ≥ 0`: a table below 10, Stirling's series (to `k⁻⁹`, absolute
/// error < 10⁻¹³) above.
fn ln_factorial(k: f64) -> f64 {
    const TABLE: [f64; 10] = [
        0.0,
        0.0,
        std::f64::consts::LN_2,
        1.791_759_469_228_055,
        3.178_053_830_347_945_8,
        4.787_491_742_782_046,
        6.579_251_212_010_101,
        8.525_161_361_065_415,
        10.604_602_902_745_25,
        12.801_827_480_081_469,
    ];
    if k < 10.0 {
        // k is a non-negative integer here.
        return TABLE[(k.max(0.0) as usize).min(9)];
    }
    let r = 1.0 / k;
    let r2 = r * r;
    let series = r
        * (1.0 / 12.0
            - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 * (1.0 / 1680.0 - r2 / 1188.0))));
    // ln √(2π)
    const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
    (k + 0.5) * k.ln() - k + LN_SQRT_2PI + series
}

/// 1/k for the inversion's recurrence `p_k = p_(k−1)·(mean·(1/k))`.
const RECIP: [f64; 64] = {
    let mut t = [0.0; 64];
    let mut k = 1;
    while k < 64 {
        t[k] = 1.0 / k as f64;
        k += 1;
    }
    t
};

/// The next term of the inversion's recurrence: `p·(mean/k)`, with `1/k` from a table.
#[inline(always)]
fn next_term(p: f64, mean: f64, k: u32) -> f64 {
    let r = RECIP.get(k as usize).copied().unwrap_or(1.0 / f64::from(k));
    p * (mean * r)
}

/// Poisson by sequential-search inversion of the CDF (one uniform); for `0 < mean < 10`.
/// `exp_neg_mean` is `e^(−mean)`, which callers may compute in bulk.
fn poisson_inversion(mean: f64, exp_neg_mean: f64, u: f64) -> f64 {
    let mut p = exp_neg_mean;
    let mut cdf = p;
    let mut k = 0u32;
    // The tail beyond a term below 1e-20 is far below the 2⁻⁵³ resolution of u; stopping there
    // guards against the CDF's rounding leaving it just below a u next to 1.
    while u > cdf && p > 1e-20 {
        k += 1;
        p = next_term(p, mean, k);
        cdf += p;
    }
    f64::from(k)
}

/// Hörmann's PTRS (transformed rejection with squeeze), exact for `mean ≥ 10`.
fn poisson_ptrs(mean: f64, stream: &mut Stream) -> f64 {
    let slam = mean.sqrt();
    let loglam = mean.ln();
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let v_r = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        let u = stream.next_uniform() - 0.5;
        let v = stream.next_uniform();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + mean + 0.43).floor();
        if us >= 0.07 && v <= v_r {
            return k;
        }
        if k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        if (v * inv_alpha / (a / (us * us) + b)).ln() <= -mean + k * loglam - ln_factorial(k) {
            return k;
        }
    }
}

/// Below this mean [`PoissonStreams::draw`] inverts the CDF and wants `e^(−mean)`.
pub const INVERSION_LIMIT: f64 = 10.0;

/// Poisson deviates keyed by a seed: one independent stream per index (pixel). The seed is
/// hashed once here instead of once per draw.
#[derive(Clone, Copy, Debug)]
pub struct PoissonStreams {
    key: u64,
}

impl PoissonStreams {
    /// Streams for `seed`.
    pub fn new(seed: u64) -> Self {
        PoissonStreams {
            key: mix64(seed ^ 0x243F_6A88_85A3_08D3),
        }
    }

    /// A Poisson deviate (integer-valued) of the given mean from stream `index`; see
    /// `poisson`. For `0 < mean <` [`INVERSION_LIMIT`], `exp_neg_mean` must be `e^(−mean)`
    /// (callers compute it in bulk with vector code); otherwise it is ignored.
    pub fn draw(&self, index: u64, mean: f64, exp_neg_mean: f64) -> f64 {
        if mean.is_nan() || mean <= 0.0 {
            return 0.0;
        }
        if mean == f64::INFINITY {
            return f64::INFINITY;
        }
        let mut stream = Stream {
            state: stream_state_hashed(self.key, index),
        };
        if mean < INVERSION_LIMIT {
            poisson_inversion(mean, exp_neg_mean, stream.next_uniform())
        } else if mean < 1e9 {
            poisson_ptrs(mean, &mut stream)
        } else {
            let u1 = stream.next_uniform();
            let u2 = stream.next_uniform();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
            (mean + mean.sqrt() * z).round().max(0.0)
        }
    }
}

impl PoissonStreams {
    /// [`LANES`] deviates at once, identical to as many calls of [`PoissonStreams::draw`]: the
    /// CDF search for means below [`INVERSION_LIMIT`] runs on vector lanes, branch-free, for
    /// its first [`VECTOR_TERMS`] terms (eight lanes, two AVX2 registers, so two independent
    /// chains hide the latency of each step); lanes needing more terms, and other means, use
    /// `draw`.
    #[inline(always)]
    pub fn draw_lanes(&self, index: [u64; LANES], mean: [f64; LANES]) -> [f64; LANES] {
        let m = F::from(mean);
        let small = m.simd_gt(F::ZERO) & m.simd_lt(F::splat(INVERSION_LIMIT));
        let e = (-m).exp();
        // Every lane's first uniform, used or not: a pure function of its index.
        let u = lanes::from_fn(|i| {
            Stream {
                state: stream_state_hashed(self.key, index[i]),
            }
            .next_uniform()
        });
        let mut p = e;
        let mut cdf = p;
        let mut k = F::ZERO;
        let tiny = F::splat(1e-20);
        let mut go = small & u.simd_gt(cdf) & p.simd_gt(tiny);
        for &r in &RECIP[1..=VECTOR_TERMS] {
            if !go.any() {
                break;
            }
            // A lane mask is all ones or all zeros: `go & 1.0` is 1.0 or 0.0.
            k += go & F::ONE;
            p *= m * F::splat(r);
            cdf += p;
            go &= u.simd_gt(cdf) & p.simd_gt(tiny);
        }
        let done = (small & !go).to_bitmask();
        let k = k.to_array();
        if done == (1 << LANES) - 1 {
            return k;
        }
        let e = e.to_array();
        std::array::from_fn(|i| {
            if done & (1 << i) != 0 {
                k[i]
            } else {
                self.draw(index[i], mean[i], e[i])
            }
        })
    }
}

/// Terms of the Poisson CDF that [`PoissonStreams::draw_lanes`] searches on vector lanes.
pub const VECTOR_TERMS: usize = 24;

/// A Poisson deviate (integer-valued) of the given mean, a pure function of
/// `(seed, index, mean)` that uses only draws from the stream `(seed, index)` of `uniform`.
///
/// * `mean ≤ 0` or NaN: 0 (no draw).
/// * `0 < mean < 10`: inversion by sequential search (one draw).
/// * `10 ≤ mean < 10⁹`: Hörmann's PTRS transformed rejection (exact; ≈ 2.3 draws on average).
/// * `mean ≥ 10⁹`: `round(mean + √mean·z)` with `z` a Box–Muller normal deviate, floored at 0;
///   `+∞` returns `+∞`.
///
/// The one-pixel reference of [`PoissonStreams`], used by the tests.
#[cfg(test)]
pub fn poisson(seed: u64, index: u64, mean: f64) -> f64 {
    let mut means = [0.0; LANES];
    means[0] = mean;
    PoissonStreams::new(seed).draw_lanes([index; LANES], means)[0]
}

// The expected values are kept exactly as C printed them (`%.9g`, 9 significant digits, which
// round-trips every f32), hence more digits than the shortest f32 representation.
#[cfg(test)]
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Expected values in the tests below were printed (%.9g for float, %.17g for double) by
    // nanoBragg.c's own ran1, gaussdev, poidev, gammln, mosaic_rotation_umat and umat2misset,
    // copied verbatim into a small C harness compiled with `gcc -O3` (x86-64, glibc 2.36).

    #[test]
    fn ran1_seed_minus_one_matches_c() {
        let expected: [(f32, i64); 10] = [
            (0.415999353, 530511967),
            (0.091964893, 2110010672),
            (0.75641048, 1551901393),
            (0.52970022, 1617819336),
            (0.930436492, 1399125485),
            (0.383502066, 156091745),
            (0.653918982, 1356425228),
            (0.0668422356, 1899894091),
            (0.722660422, 585640194),
            (0.671149373, 937186357),
        ];
        let mut rng = NrRng::new();
        let mut seed = -1;
        for (value, state) in expected {
            assert_eq!(rng.ran1(&mut seed), value);
            assert_eq!(seed, state);
        }
    }

    #[test]
    fn ran1_seed_minus_12345678_matches_c() {
        let expected: [f32; 10] = [
            0.765989304,
            0.023453664,
            0.589726627,
            0.535101593,
            0.982231438,
            0.693016112,
            0.328146875,
            0.29564169,
            0.849917889,
            0.592261791,
        ];
        let mut rng = NrRng::new();
        let mut seed = -12_345_678;
        for value in expected {
            assert_eq!(rng.ran1(&mut seed), value);
        }
        assert_eq!(seed, 1_481_110_328);
    }

    #[test]
    fn ran1_table_is_shared_between_seeds() {
        // A positive seed does not re-initialise the table another seed has filled.
        let mut rng = NrRng::new();
        let mut a = -5;
        let mut b = 5;
        let got_a: Vec<f32> = (0..3).map(|_| rng.ran1(&mut a)).collect();
        let got_b: Vec<f32> = (0..3).map(|_| rng.ran1(&mut b)).collect();
        assert_eq!(got_a, [0.172860548, 0.680409431, 0.917078257]);
        assert_eq!(got_b, [0.91751039, 3.91318463e-05, 0.826693356]);
        assert_eq!((a, b), (1_317_056_024, 1_670_799_424));
    }

    #[test]
    fn ran1_zero_seed_is_seed_one() {
        let mut rng = NrRng::new();
        let mut seed = 0;
        assert_eq!(rng.ran1(&mut seed), 0.415999353);
        assert_eq!(seed, 530_511_967);
    }

    #[test]
    fn gaussdev_matches_c_and_shares_spare() {
        let mut rng = NrRng::new();
        let mut seed = -4242;
        let expected: [f32; 7] = [
            0.033517085,
            0.217159167,
            0.642114937,
            -1.66672695,
            0.876116335,
            0.0541068055,
            0.522275567,
        ];
        for value in expected {
            assert_eq!(rng.gaussdev(&mut seed), value);
        }
        assert_eq!(seed, 1_992_090_478);

        let mut rng = NrRng::new();
        let (mut c, mut d) = (-77, -88);
        assert_eq!(rng.gaussdev(&mut c), 0.933546484);
        assert_eq!(rng.gaussdev(&mut d), -1.1146605);
        assert_eq!((c, d), (1_409_548_219, -88));
    }

    #[test]
    fn gammln_matches_c() {
        let cases: [(f32, f32); 9] = [
            (0.5, 0.572364926),
            (1.0, 0.0),
            (2.0, -4.4408921e-16),
            (3.7, 1.42807233),
            (12.0, 17.5023079),
            (13.0, 19.987215),
            (50.5, 146.519257),
            (1001.0, 5912.12842),
            (2_000_001.0, 27017324.0),
        ];
        for (x, expected) in cases {
            assert_eq!(gammln(x), expected, "gammln({x})");
        }
    }

    #[test]
    fn poidev_matches_c() {
        // 20 draws from seed -4242 with a fresh process state for each mean.
        #[rustfmt::skip]
        let cases: [(f32, [f32; 20], i64); 8] = [
            (0.0, [0.0; 20], 1_962_536_894),
            (0.5, [1., 0., 0., 0., 2., 0., 0., 0., 0., 0., 0., 0., 0., 0., 1., 0., 1., 1., 1., 0.],
             2_115_270_618),
            (5.0, [9., 5., 8., 4., 7., 9., 6., 2., 7., 3., 6., 4., 3., 4., 5., 3., 5., 8., 7., 5.],
             1_176_599_448),
            (11.9, [15., 19., 16., 11., 5., 12., 9., 6., 16., 11., 6., 15., 12., 15., 13., 12.,
                    3., 15., 6., 12.], 1_041_265_273),
            (12.0, [11., 10., 14., 17., 10., 11., 11., 11., 8., 15., 15., 6., 15., 20., 13., 13.,
                    10., 19., 11., 14.], 1_506_747_261),
            (50.0, [49., 47., 55., 60., 46., 48., 49., 49., 41., 57., 57., 39., 56., 67., 53.,
                    52., 47., 43., 42., 49.], 1_569_553_014),
            (1000.0, [998., 970., 1039., 989., 989., 1043., 983., 995., 996., 996., 963., 1034.,
                      1032., 950., 1028., 1077., 1016., 1011., 990., 968.], 774_050_203),
            (2e6, [2000047.38, 2000307.12, 2000908.12, 1997642.88, 2001239.0, 2000076.5,
                   2000738.62, 2001506.0, 1996866.0, 2002297.25, 1998969.25, 1998415.25,
                   1997888.62, 1996415.0, 1998338.25, 1999710.88, 2002065.88, 1998408.38,
                   1997279.62, 1999216.75], 1_962_536_894),
        ];
        for (mean, expected, final_seed) in cases {
            let mut rng = NrRng::new();
            let mut seed = -4242;
            let got: Vec<f32> = (0..20).map(|_| rng.poidev(mean, &mut seed)).collect();
            assert_eq!(got, expected, "mean {mean}");
            assert_eq!(seed, final_seed, "mean {mean}");
        }
    }

    #[test]
    fn poidev_odd_inputs_match_c() {
        // First call with mean -1 hits C's cached oldm = -1 with g = 0: the product of uniforms
        // runs until it underflows.
        let mut rng = NrRng::new();
        let mut seed = -3;
        assert_eq!(rng.poidev(-1.0, &mut seed), 101.0);
        assert_eq!(seed, 1_860_207_199);
        assert!(rng.poidev(f32::NAN, &mut seed).is_nan());
        assert_eq!(rng.poidev(-1.0, &mut seed), 0.0);
        assert_eq!(seed, 2_039_927_554);
    }

    const UMAT_90_SEED_99: [[f64; 3]; 3] = [
        [
            0.25779257832139268,
            -0.031203630344667721,
            -0.96569628766798188,
        ],
        [
            -0.94014153910890852,
            0.22245876105123194,
            -0.25815883884438928,
        ],
        [
            0.22288309268390238,
            0.97444262688208794,
            0.028012388523558279,
        ],
    ];

    #[test]
    fn mosaic_rotation_umat_matches_c() {
        let mut rng = NrRng::new();
        let mut seed = -99;
        let u = mosaic_rotation_umat(&mut rng, 90.0, &mut seed);
        assert_eq!(u, UMAT_90_SEED_99);
        assert_eq!(seed, 1_166_898_970);
    }

    #[test]
    fn umat2misset_matches_c() {
        let m = umat2misset(&UMAT_90_SEED_99);
        assert_eq!(
            m,
            [1.5420571530957339, -0.2247709633282127, -1.3031683150299234]
        );
    }

    fn rot_xyz(m: [f64; 3]) -> [[f64; 3]; 3] {
        let (sx, cx) = m[0].sin_cos();
        let (sy, cy) = m[1].sin_cos();
        let (sz, cz) = m[2].sin_cos();
        let rx = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]];
        let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
        let rz = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
        matmul(&rz, &matmul(&ry, &rx))
    }

    fn matmul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
        let mut c = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        c
    }

    fn assert_orthonormal(u: &[[f64; 3]; 3]) {
        for i in 0..3 {
            for j in 0..3 {
                let dot: f64 = (0..3).map(|k| u[i][k] * u[j][k]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "rows {i},{j}: {dot}");
            }
        }
        let det = u[0][0] * (u[1][1] * u[2][2] - u[1][2] * u[2][1])
            - u[0][1] * (u[1][0] * u[2][2] - u[1][2] * u[2][0])
            + u[0][2] * (u[1][0] * u[2][1] - u[1][1] * u[2][0]);
        assert!((det - 1.0).abs() < 1e-12, "det {det}");
    }

    #[test]
    fn misset_angles_reproduce_umat() {
        let r = rot_xyz(umat2misset(&UMAT_90_SEED_99));
        for i in 0..3 {
            for j in 0..3 {
                assert!((r[i][j] - UMAT_90_SEED_99[i][j]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn umat2misset_degenerate_inputs() {
        assert_eq!(umat2misset(&[[0.0; 3]; 3]), [0.0, 0.0, 0.0]);
        let ident = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert_eq!(umat2misset(&ident), [0.0, 0.0, 0.0]);
        // Gimbal lock: u_zx = -1.
        let lock = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]];
        let m = umat2misset(&lock);
        assert!((m[1] - std::f64::consts::FRAC_PI_2).abs() < 1e-15);
        // NaN fails `uzx² < 1`, so C's gimbal-lock branch is taken.
        let nan = umat2misset(&[[f64::NAN; 3]; 3]);
        assert_eq!(nan[0], std::f64::consts::PI);
        assert_eq!(nan[1], std::f64::consts::FRAC_PI_2);
        assert!(nan[2].is_nan());
    }

    proptest! {
        #[test]
        fn umat_is_orthonormal(seed in -1_000_000_000i64..0, mos in 0.0f32..100.0) {
            let mut rng = NrRng::new();
            let mut s = seed;
            for _ in 0..4 {
                let u = mosaic_rotation_umat(&mut rng, mos, &mut s);
                assert_orthonormal(&u);
                let r = rot_xyz(umat2misset(&u));
                for i in 0..3 {
                    for j in 0..3 {
                        prop_assert!((r[i][j] - u[i][j]).abs() < 1e-9);
                    }
                }
            }
        }

        #[test]
        fn ran1_in_open_unit_interval(seed in any::<i64>()) {
            let mut rng = NrRng::new();
            let mut s = seed;
            for _ in 0..50 {
                let r = rng.ran1(&mut s);
                prop_assert!(r > 0.0 && r < 1.0);
            }
        }

        #[test]
        fn poidev_never_panics(mean in any::<f32>(), seed in any::<i64>()) {
            let mut rng = NrRng::new();
            let mut s = seed;
            let n = rng.poidev(mean, &mut s);
            prop_assert!(n.is_nan() || n.is_infinite() || mean > 1e6 || n == n.floor());
        }

        #[test]
        fn poisson_is_deterministic_integer(seed in any::<u64>(), index in any::<u64>(),
                                            mean in prop_oneof![0.0f64..20.0, 0.0f64..2e9,
                                                                any::<f64>()]) {
            let a = poisson(seed, index, mean);
            let b = poisson(seed, index, mean);
            prop_assert_eq!(a.to_bits(), b.to_bits());
            prop_assert!(a >= 0.0);
            prop_assert!(a.is_infinite() || a == a.floor());
        }

        #[test]
        fn uniform_in_open_unit_interval(k in any::<u64>(), i in any::<u64>(), c in any::<u64>()) {
            let u = uniform(k, i, c);
            prop_assert!(u > 0.0 && u < 1.0);
            prop_assert_eq!(u.to_bits(), uniform(k, i, c).to_bits());
        }
    }

    #[test]
    fn open_unit_mapping_edges() {
        assert_eq!(bits_to_open_unit(0), 2f64.powi(-54));
        assert_eq!(bits_to_open_unit(u64::MAX), 1.0 - 2f64.powi(-53));
    }

    #[test]
    fn draw_lanes_matches_draw_lane_by_lane() {
        let streams = PoissonStreams::new(99);
        let means = [
            0.0,
            1e-6,
            0.3,
            0.9,
            2.5,
            7.0,
            9.99,
            10.0,
            37.5,
            1e4,
            f64::NAN,
            -1.0,
        ];
        for start in 0..means.len() {
            let mean: [f64; LANES] = std::array::from_fn(|i| means[(start + i) % means.len()]);
            let index: [u64; LANES] = std::array::from_fn(|i| (start * LANES + i) as u64);
            let e = F::from(mean.map(|m| -m)).exp().to_array();
            let got = streams.draw_lanes(index, mean);
            for i in 0..LANES {
                let want = streams.draw(index[i], mean[i], e[i]);
                assert!(
                    got[i] == want || (got[i].is_nan() && want.is_nan()),
                    "{mean:?}"
                );
            }
        }
        // many small means, so the vector search and its scalar fallback both run
        for i in 0..2000u64 {
            let m = (i % 97) as f64 / 10.0;
            let e = F::splat(-m).exp().to_array()[0];
            assert_eq!(
                streams.draw_lanes([i; LANES], [m; LANES])[0],
                streams.draw(i, m, e)
            );
        }
    }

    #[test]
    fn stream_reader_matches_uniform() {
        let mut s = Stream {
            state: stream_state(7, 11),
        };
        for c in 0..5 {
            assert_eq!(s.next_uniform(), uniform(7, 11, c));
        }
    }

    #[test]
    fn ln_factorial_is_accurate() {
        let mut exact = 0.0f64;
        for k in 0..200u32 {
            if k > 0 {
                exact += f64::from(k).ln();
            }
            let got = ln_factorial(f64::from(k));
            assert!(
                (got - exact).abs() <= 1e-12 * exact.max(1.0),
                "k={k}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn uniform_moments() {
        let n = 200_000u64;
        let (mut s, mut s2) = (0.0, 0.0);
        for i in 0..n {
            let u = uniform(42, i / 4, i % 4);
            s += u;
            s2 += u * u;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        // sd of the mean: sqrt(1/12/n) ≈ 6.5e-4; 5 sigma.
        assert!((mean - 0.5).abs() < 5.0 * (1.0 / 12.0 / n as f64).sqrt());
        assert!((var - 1.0 / 12.0).abs() < 2e-3);
    }

    #[test]
    fn poisson_moments() {
        let n = 200_000u64;
        for mean in [0.3, 4.0, 9.99, 10.0, 30.0, 1e4, 5e8] {
            let (mut s, mut s2) = (0.0f64, 0.0f64);
            for i in 0..n {
                let x = poisson(2024, i, mean);
                s += x;
                s2 += x * x;
            }
            let m = s / n as f64;
            let var = (s2 - s * m) / (n - 1) as f64;
            let nf = n as f64;
            // Standard errors: mean sqrt(mu/n); sample variance sqrt((mu + 2 mu^2)/n).
            let se_mean = (mean / nf).sqrt();
            let se_var = ((mean + 2.0 * mean * mean) / nf).sqrt();
            assert!(
                (m - mean).abs() < 5.0 * se_mean,
                "mean {mean}: sample mean {m}"
            );
            assert!(
                (var - mean).abs() < 5.0 * se_var,
                "mean {mean}: sample var {var}"
            );
        }
    }

    #[test]
    fn poisson_small_mean_probabilities() {
        // P(0) and P(1) for mean 0.3 within 5 sigma of exp(-0.3) and 0.3 exp(-0.3).
        let n = 200_000u64;
        let mut counts = [0u64; 3];
        for i in 0..n {
            let x = poisson(5, i, 0.3) as usize;
            counts[x.min(2)] += 1;
        }
        let p0 = (-0.3f64).exp();
        let p1 = 0.3 * p0;
        for (c, p) in [(counts[0], p0), (counts[1], p1)] {
            let se = (p * (1.0 - p) / n as f64).sqrt();
            assert!((c as f64 / n as f64 - p).abs() < 5.0 * se, "{c} vs {p}");
        }
    }

    #[test]
    fn poisson_edge_means() {
        assert_eq!(poisson(1, 2, 0.0), 0.0);
        assert_eq!(poisson(1, 2, -3.0), 0.0);
        assert_eq!(poisson(1, 2, f64::NAN), 0.0);
        assert_eq!(poisson(1, 2, f64::NEG_INFINITY), 0.0);
        assert_eq!(poisson(1, 2, f64::INFINITY), f64::INFINITY);
        assert_eq!(poisson(1, 2, f64::MIN_POSITIVE), 0.0);
        let big = poisson(1, 2, 2e9);
        assert_eq!(big, big.floor());
        assert!((big - 2e9).abs() < 6.0 * 2e9f64.sqrt());
        assert!(poisson(1, 2, f64::MAX).is_finite());
    }

    #[test]
    fn poisson_same_key_same_value_different_index_differs() {
        let a: Vec<f64> = (0..64).map(|i| poisson(99, i, 1e4)).collect();
        let b: Vec<f64> = (0..64).map(|i| poisson(99, i, 1e4)).collect();
        assert_eq!(a, b);
        let c: Vec<f64> = (0..64).map(|i| poisson(100, i, 1e4)).collect();
        assert_ne!(a, c);
    }
}
