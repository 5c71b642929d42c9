//! Three-vectors in f64 and the rotations nanoBragg uses.
//!
//! Vectors are plain `[f64; 3]` (x, y, z in the lab frame) so the code reads like the C program,
//! where `v[1..=3]` hold the components. `rotate_xyz` is C's `rotate()` (about lab x, then y, then
//! z, each right-handed, a zero angle skipped) and `rotate_axis` is C's Rodrigues `rotate_axis()`.

/// A 3-vector (x, y, z).
pub type Vec3 = [f64; 3];

/// A 3×3 matrix, row-major: `m[row][col]`.
pub type Mat3 = [[f64; 3]; 3];

/// Dot product.
#[inline]
pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Cross product `a × b`.
#[inline]
pub fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// `s · a`.
#[inline]
pub fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

/// `a + b`.
#[inline]
pub fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// `a − b`.
#[inline]
pub fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// Euclidean length.
#[inline]
pub fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

/// Unit vector along `a` and the length of `a`; a zero vector stays zero (C's `unitize`).
#[inline]
pub fn unitize(a: Vec3) -> (Vec3, f64) {
    let m = norm(a);
    if m != 0.0 {
        ([a[0] / m, a[1] / m, a[2] / m], m)
    } else {
        ([0.0; 3], 0.0)
    }
}

/// Matrix × vector.
#[inline]
pub fn mat_vec(m: &Mat3, v: Vec3) -> Vec3 {
    [dot(m[0], v), dot(m[1], v), dot(m[2], v)]
}

/// Matrix product `a · b`.
pub fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut r = [[0.0; 3]; 3];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            *x = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
        }
    }
    r
}

/// The identity matrix.
pub const IDENTITY: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// Rotate about lab x by `rx`, then y by `ry`, then z by `rz` (radians; C's `rotate`).
pub fn rotate_xyz(v: Vec3, rx: f64, ry: f64, rz: f64) -> Vec3 {
    let [mut x, mut y, mut z] = v;
    if rx != 0.0 {
        let (s, c) = rx.sin_cos();
        (y, z) = (y * c - z * s, y * s + z * c);
    }
    if ry != 0.0 {
        let (s, c) = ry.sin_cos();
        (x, z) = (x * c + z * s, -x * s + z * c);
    }
    if rz != 0.0 {
        let (s, c) = rz.sin_cos();
        (x, y) = (x * c - y * s, x * s + y * c);
    }
    [x, y, z]
}

/// Rotate `v` about the unit vector `axis` by `phi` radians, right-handed (C's `rotate_axis`).
pub fn rotate_axis(v: Vec3, axis: Vec3, phi: f64) -> Vec3 {
    let (s, c) = phi.sin_cos();
    let d = dot(axis, v) * (1.0 - c);
    [
        axis[0] * d + v[0] * c + (-axis[2] * v[1] + axis[1] * v[2]) * s,
        axis[1] * d + v[1] * c + (axis[2] * v[0] - axis[0] * v[2]) * s,
        axis[2] * d + v[2] * c + (-axis[1] * v[0] + axis[0] * v[1]) * s,
    ]
}

/// The matrix of `rotate_axis(·, axis, phi)`.
pub fn axis_matrix(axis: Vec3, phi: f64) -> Mat3 {
    let cols = [
        rotate_axis([1.0, 0.0, 0.0], axis, phi),
        rotate_axis([0.0, 1.0, 0.0], axis, phi),
        rotate_axis([0.0, 0.0, 1.0], axis, phi),
    ];
    transpose(&cols)
}

/// Transpose.
pub fn transpose(m: &Mat3) -> Mat3 {
    [
        [m[0][0], m[1][0], m[2][0]],
        [m[0][1], m[1][1], m[2][1]],
        [m[0][2], m[1][2], m[2][2]],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Vec3, b: Vec3) -> bool {
        (0..3).all(|i| (a[i] - b[i]).abs() < 1e-12)
    }

    #[test]
    fn rotations_are_right_handed() {
        let q = std::f64::consts::FRAC_PI_2;
        assert!(close(
            rotate_xyz([0.0, 1.0, 0.0], q, 0.0, 0.0),
            [0.0, 0.0, 1.0]
        ));
        assert!(close(
            rotate_xyz([0.0, 0.0, 1.0], 0.0, q, 0.0),
            [1.0, 0.0, 0.0]
        ));
        assert!(close(
            rotate_xyz([1.0, 0.0, 0.0], 0.0, 0.0, q),
            [0.0, 1.0, 0.0]
        ));
        assert!(close(
            rotate_axis([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], q),
            [0.0, 1.0, 0.0]
        ));
    }

    #[test]
    fn axis_matrix_matches_rotate_axis() {
        let axis = unitize([1.0, -2.0, 0.5]).0;
        let v = [0.3, 0.7, -1.1];
        let m = axis_matrix(axis, 0.37);
        assert!(close(mat_vec(&m, v), rotate_axis(v, axis, 0.37)));
        assert!(close(
            cross([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
            [0.0, 0.0, 1.0]
        ));
        assert!(close(mat_vec(&mat_mul(&m, &IDENTITY), v), mat_vec(&m, v)));
    }
}
