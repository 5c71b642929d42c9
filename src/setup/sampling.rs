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

/// Divergence, dispersion: nanoBragg's auto rules, then the "sanity" collapse.
pub fn complete(
    steps: Option<i64>,
    range: Option<f64>,
    step: Option<f64>,
    count_only_range: f64,
    range_default: f64,
) -> Grid {
    let mut n = steps.unwrap_or(-1);
    let mut r = range.unwrap_or(range_default);
    let mut d = step.unwrap_or(-1.0);
    if n <= 0 {
        if r < 0.0 {
            if d <= 0.0 {
                (n, r, d) = (1, 0.0, 0.0);
            } else {
                (r, n) = (d, 2);
            }
        } else if d <= 0.0 {
            (d, n) = (r, 2);
        } else {
            n = (r / d).ceil() as i64;
        }
    } else if r < 0.0 {
        if d <= 0.0 {
            r = count_only_range;
            d = r / n as f64;
        } else {
            (r, n) = (d, 2);
        }
    } else if d <= 0.0 {
        if n <= 1 {
            n = 2;
        }
        d = r / (n - 1) as f64;
    }
    if r <= 0.0 || d <= 0.0 || n <= 0 {
        (n, r, d) = (1, 0.0, 0.0);
    }
    Grid {
        steps: n as usize,
        range: r,
        step: d,
    }
}

/// Sensor layers: as [`complete`] but a bare thickness gives two layers of half thickness.
pub fn complete_thickness(steps: Option<i64>, thick: f64, step: Option<f64>) -> Grid {
    let mut n = steps.unwrap_or(-1);
    let mut r = thick;
    let mut d = step.unwrap_or(-1.0);
    if n <= 0 {
        if r < 0.0 {
            if d <= 0.0 {
                (n, r, d) = (1, 0.0, 0.0);
            } else {
                (r, n) = (d, 2);
            }
        } else if d <= 0.0 {
            n = 2;
            d = r / n as f64;
        } else {
            n = (r / d).ceil() as i64;
        }
    } else if r < 0.0 {
        if d <= 0.0 {
            r = 0.5e-6;
            d = r / n as f64;
        } else {
            (r, n) = (d, 2);
        }
    } else if d <= 0.0 {
        if n <= 1 {
            n = 2;
        }
        d = r / (n - 1) as f64;
    }
    if r <= 0.0 || d <= 0.0 || n <= 0 {
        (n, r, d) = (1, 0.0, 0.0);
    }
    Grid {
        steps: n as usize,
        range: r,
        step: d,
    }
}

/// The φ sweep: returns (steps, osc, step), radians.
pub fn complete_phi(steps: Option<i64>, osc: Option<f64>, step: Option<f64>) -> Grid {
    let mut n = steps.unwrap_or(-1);
    let mut o = osc.unwrap_or(-1.0);
    let mut d = step.unwrap_or(-1.0);
    if n < 0 {
        if o < 0.0 {
            if d <= 0.0 {
                (n, o, d) = (1, 0.0, 0.0);
            } else {
                (o, n) = (d, 2);
            }
        } else if d <= 0.0 {
            n = 2;
            d = o / 2.0;
        } else {
            n = (o / d).ceil() as i64;
        }
    } else {
        if n == 0 {
            n = 1;
        }
        if o < 0.0 {
            if d <= 0.0 {
                o = 1f64.to_radians();
                d = o / n as f64;
            } else {
                (o, n) = (d, 2);
            }
        } else if d < 0.0 {
            d = o / n as f64;
        }
    }
    Grid {
        steps: n.max(1) as usize,
        range: o,
        step: d,
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
}
