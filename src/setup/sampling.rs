//! nanoBragg's rules that complete a (count, range, step) triple the user gave partly.
//!
//! The same table governs the φ sweep, horizontal and vertical divergence, spectral dispersion
//! and sensor layers (spec §3.1); only the defaults for a bare count differ (1 rad of divergence,
//! 100 % dispersion, 0.5 µm of sensor, 1° of φ) and φ treats a count of 0 as 1. Afterwards a
//! grid with no extent collapses to one sample. Ranges run from `−R/2` in steps of δ, so a
//! range-and-step grid need not reach `+R/2` (spec Q28).

/// A completed triple.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    /// Number of samples.
    pub steps: usize,
    /// Full range.
    pub range: f64,
    /// Step.
    pub step: f64,
}

/// Divergence, dispersion: nanoBragg's auto rules, then the "sanity" collapse. A bare count
/// spans `count_only_range`; no range given means `range_default`.
pub fn complete(
    steps: Option<i64>,
    range: Option<f64>,
    step: Option<f64>,
    count_only_range: f64,
    range_default: f64,
) -> Grid {
    let rule = Rule {
        count_only_range,
        bare_range_steps: 1.0,
        counts_steps: false,
    };
    rule.complete(steps, range.unwrap_or(range_default), step)
}

/// Sensor layers: as [`complete`] but a bare thickness gives two layers of half thickness and
/// a bare count spans 0.5 µm.
pub fn complete_thickness(steps: Option<i64>, thick: f64, step: Option<f64>) -> Grid {
    let rule = Rule {
        count_only_range: 0.5e-6,
        bare_range_steps: 2.0,
        counts_steps: false,
    };
    rule.complete(steps, thick, step)
}

/// The φ sweep: returns (steps, osc, step), radians.
pub fn complete_phi(steps: Option<i64>, osc: Option<f64>, step: Option<f64>) -> Grid {
    let rule = Rule {
        count_only_range: 1f64.to_radians(),
        bare_range_steps: 2.0,
        counts_steps: true,
    };
    rule.complete(steps, osc.unwrap_or(-1.0), step)
}

/// nanoBragg's table for one (count, range, step) triple: what a missing value becomes,
/// given the others (C writes it out once for φ, each divergence, dispersion and the sensor).
struct Rule {
    /// The range a bare count spans (1 rad of divergence, 100 % dispersion, 0.5 µm of sensor,
    /// 1° of φ).
    count_only_range: f64,
    /// A bare range gives two samples `range / bare_range_steps` apart: the whole range for
    /// divergence and dispersion, half of it for the sensor and φ.
    bare_range_steps: f64,
    /// φ: the count is a number of steps, not of samples. A count of 0 means 1; with a range
    /// it divides the range into that many steps (and a step of 0 is kept); without the
    /// "sanity" collapse. Otherwise a count of 0 means none given, count and range place that
    /// many samples (at least two) from end to end, and a grid with no extent collapses to
    /// one sample.
    counts_steps: bool,
}

impl Rule {
    /// Complete the triple; negative values (and a count or step of 0, except as
    /// [`Rule::counts_steps`] says) mean "not given".
    fn complete(&self, steps: Option<i64>, range: f64, step: Option<f64>) -> Grid {
        let (mut n, mut r, mut d) = (steps.unwrap_or(-1), range, step.unwrap_or(-1.0));
        if self.counts_steps && n == 0 {
            n = 1;
        }
        if n <= 0 {
            if r < 0.0 {
                if d <= 0.0 {
                    (n, r, d) = (1, 0.0, 0.0);
                } else {
                    (r, n) = (d, 2);
                }
            } else if d <= 0.0 {
                n = 2;
                d = r / self.bare_range_steps;
            } else {
                n = (r / d).ceil() as i64;
            }
        } else if r < 0.0 {
            if d <= 0.0 {
                r = self.count_only_range;
                d = r / n as f64;
            } else {
                (r, n) = (d, 2);
            }
        } else if self.counts_steps {
            if d < 0.0 {
                d = r / n as f64;
            }
        } else if d <= 0.0 {
            if n <= 1 {
                n = 2;
            }
            d = r / (n - 1) as f64;
        }
        if !self.counts_steps && (r <= 0.0 || d <= 0.0 || n <= 0) {
            (n, r, d) = (1, 0.0, 0.0);
        }
        Grid {
            steps: n.max(1) as usize,
            range: r,
            step: d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divergence_rules() {
        assert_eq!(
            complete(None, None, None, 1.0, -1.0),
            Grid {
                steps: 1,
                range: 0.0,
                step: 0.0
            }
        );
        // range and count: count points spanning the range
        let g = complete(Some(3), Some(0.6), None, 1.0, -1.0);
        assert_eq!(g.steps, 3);
        assert!((g.step - 0.3).abs() < 1e-15);
        // count only: a 1-radian fan (nanoBragg's rule)
        assert_eq!(complete(Some(4), None, None, 1.0, -1.0).range, 1.0);
        // 0.28 mrad range, 0.02 mrad step → 14 points (the ceil of a float ratio)
        assert_eq!(
            complete(None, Some(0.28e-3), Some(0.02e-3), 1.0, -1.0).steps,
            14
        );
        // dispersion defaults to a zero range, so a bare count does nothing
        assert_eq!(complete(Some(3), None, None, 1.0, 0.0).steps, 1);
    }

    #[test]
    fn thickness_and_phi_rules() {
        let t = complete_thickness(None, 100e-6, None);
        assert_eq!(t.steps, 2);
        assert!((t.step - 50e-6).abs() < 1e-18);
        let t = complete_thickness(Some(3), 320e-6, None);
        assert!((t.step - 160e-6).abs() < 1e-18);
        assert_eq!(complete_thickness(Some(3), 0.0, None).steps, 1);
        let p = complete_phi(None, Some(1.0), None);
        assert_eq!((p.steps, p.step), (2, 0.5));
        let p = complete_phi(Some(4), Some(1.0), None);
        assert_eq!((p.steps, p.step), (4, 0.25));
        assert_eq!(complete_phi(Some(0), None, None).steps, 1);
    }

    /// Every input of the grid: counts, ranges and steps given or not, negative, zero, tiny,
    /// huge, infinite and NaN.
    fn grid_inputs() -> Vec<(Option<i64>, Option<f64>, Option<f64>)> {
        let steps = [
            None,
            Some(-3),
            Some(-1),
            Some(0),
            Some(1),
            Some(2),
            Some(3),
            Some(7),
            Some(100),
        ];
        let values = [
            None,
            Some(-1.0),
            Some(-0.5),
            Some(-0.0),
            Some(0.0),
            Some(1e-9),
            Some(0.02e-3),
            Some(0.28e-3),
            Some(0.3),
            Some(0.6),
            Some(1.0),
            Some(2.5),
            Some(1e3),
            Some(f64::INFINITY),
            Some(f64::NAN),
            Some(f64::MIN_POSITIVE),
        ];
        let mut all = Vec::new();
        for n in steps {
            for r in values {
                for d in values {
                    all.push((n, r, d));
                }
            }
        }
        all
    }

    /// FNV-1a over the outputs of the three rules on [`grid_inputs`].
    fn digest(
        complete: impl Fn(Option<i64>, Option<f64>, Option<f64>, f64, f64) -> Grid,
        thickness: impl Fn(Option<i64>, f64, Option<f64>) -> Grid,
        phi: impl Fn(Option<i64>, Option<f64>, Option<f64>) -> Grid,
    ) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |g: Grid| {
            // NaN as one word: Rust leaves the bits of a NaN result unspecified.
            let bits = |x: f64| if x.is_nan() { u64::MAX } else { x.to_bits() };
            for word in [g.steps as u64, bits(g.range), bits(g.step)] {
                for byte in word.to_le_bytes() {
                    h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
                }
            }
        };
        for (n, r, d) in grid_inputs() {
            for (only, default) in [(1.0, -1.0), (1.0, 0.0), (0.7, 0.5)] {
                eat(complete(n, r, d, only, default));
            }
            eat(thickness(n, r.unwrap_or(0.0), d));
            eat(phi(n, r, d));
        }
        h
    }

    /// The one [`Rule`] reproduces the three rules it replaced (separate copies of C's table
    /// for divergence and dispersion, the sensor and φ, up to commit 4b79e43) bit for bit on
    /// every input of the grid: the digest is theirs, computed before they were merged (a
    /// test compared the two sets of functions input by input, then the old ones went).
    #[test]
    fn one_rule_gives_the_outputs_of_the_three_old_ones() {
        assert_eq!(grid_inputs().len(), 9 * 16 * 16);
        let merged = digest(complete, complete_thickness, complete_phi);
        assert_eq!(merged, 0x666a_05ee_fb1c_6693, "{merged:#x}");
    }
}
