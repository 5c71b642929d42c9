/* The square crystal's lattice factor, transcribed from src/physics/lattice.rs (see
 * nb_lattice.h). Every fma() here is a mul_add there, and nothing else may be fused: compile
 * with -ffp-contract=off (and never -ffast-math, which would also reassociate the peel). */
#include <math.h>

#include "nb_lattice.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846 /* not in strict ISO C */
#endif

/* cos(pi x) = 1 + u*h(u), u = x^2: h's coefficients, highest degree first. The least-squares
 * fit of cos's error at the 60 Chebyshev nodes u_k = (1 + cos((2k+1)pi/120))/8 of [0, 1/4],
 * with cos(0) = 1 built in, solved exactly and rounded (lattice.rs, section 2). */
static const double NB_COSPI[7] = {
    -0.00010045163894089615, 0.0019279029962509945, -0.025806544315423532,
    0.23533059066644565,     -1.3352627664220413,   4.058712126345884,
    -4.9348022005439764,
};

/* sin(pi x) = x*s(u): s's coefficients, lowest degree first, (-1)^k pow(M_PI, 2k+1)/(2k+1)!
 * with the power rounded to double before the division. */
static const double NB_SINPI[8] = {
    3.141592653589793,      -5.167712780049969,     2.550164039877345,
    -0.5992645293207919,    0.08214588661112819,    -0.007370430945714348,
    0.00046630280576761234, -2.1915353447830204e-05,
};

double nb_nearest(double x) {
    return rint(x); /* default rounding mode: to nearest, ties to even */
}

double nb_peel(double h) {
    return h - nb_nearest(h);
}

double nb_cospi(double x) {
    double u = x * x;
    double p = NB_COSPI[0];
    for (int i = 1; i < 7; i++) p = fma(p, u, NB_COSPI[i]);
    return fma(p, u, 1.0);
}

double nb_sinpi(double x) {
    double u = x * x;
    double p = NB_SINPI[7];
    for (int i = 6; i >= 0; i--) p = fma(p, u, NB_SINPI[i]);
    return p * x;
}

int nb_axis_cells(double n) {
    return (int)(n > 1.0 ? n : 1.0);
}

enum nb_axis nb_axis_of(int cells) {
    switch (cells % 4) {
    case 1:
    case 3:
        return NB_ODD;
    case 2:
        return NB_TWICE_ODD;
    default:
        return NB_FOUR_TIMES;
    }
}

int nb_root_count(int cells) {
    return cells % 2 == 1 ? (cells - 1) / 2 : (cells / 2 - 1) / 2;
}

/* Root k = 1 ... nb_root_count: cos^2(k pi/N) for odd N (in w = c^2), cos^2(k pi/M)/4 for
 * N = 2M (in z = t^2, t = c^2 - 1/2). */
double nb_root(int cells, int k) {
    int m = cells % 2 == 1 ? cells : cells / 2;
    double scale = cells % 2 == 1 ? 1.0 : 0.25;
    double c = cos(k * M_PI / m);
    return c * c * scale;
}

/* U_{N-1}'s leading coefficient 2^(N-1), squared, for every kind. */
double nb_lead_squared(int cells) {
    return ldexp(1.0, 2 * (cells - 1));
}

static double root_product(const double *roots, int count, double x) {
    double a = 1.0;
    for (int k = 0; k < count; k++) a = a * (x - roots[k]);
    return a;
}

/* U_{N-1}(c)^2 = lead^2 * weight * amplitude^2, from c = cos(pi delta). */
void nb_polynomial_axis(enum nb_axis axis, const double *roots, int count, double c,
                        double *amplitude, double *weight) {
    if (axis == NB_ODD) {
        *amplitude = root_product(roots, count, c * c);
        *weight = 1.0;
        return;
    }
    double t = fma(c, c, -0.5); /* cos(2 pi delta)/2 */
    double a = root_product(roots, count, t * t);
    *amplitude = axis == NB_FOUR_TIMES ? t * a : a;
    *weight = t + 0.5;
}

void nb_sine_ratio_parts(double delta, double n, double *num, double *den) {
    if (delta == 0.0) {
        *num = n;
        *den = 1.0;
        return;
    }
    double nd = delta * n;
    *num = nb_sinpi(nd - nb_nearest(nd));
    *den = nb_sinpi(delta);
}

double nb_lattice_factor_axis_chebyshev(double h, double n) {
    double delta = nb_peel(h);
    if (n > NB_POLYNOMIAL_MAX_N) {
        double num, den;
        nb_sine_ratio_parts(delta, n, &num, &den);
        double q = num / den;
        return q * q;
    }
    int cells = nb_axis_cells(n);
    int count = nb_root_count(cells);
    double roots[NB_MAX_ROOTS];
    for (int k = 1; k <= count; k++) roots[k - 1] = nb_root(cells, k);
    double a, w;
    nb_polynomial_axis(nb_axis_of(cells), roots, count, nb_cospi(delta), &a, &w);
    return nb_lead_squared(cells) * (w * (a * a));
}

void nb_lattice_init(nb_lattice *lat, const double n[3]) {
    lat->scale = 1.0;
    for (int i = 0; i < 3; i++) {
        lat->n[i] = n[i];
        lat->axis[i] = NB_RATIO;
        lat->count[i] = 0;
        for (int k = 0; k < NB_MAX_ROOTS; k++) lat->roots[i][k] = 0.0;
        if (n[i] > NB_POLYNOMIAL_MAX_N) continue;
        int cells = nb_axis_cells(n[i]);
        lat->axis[i] = nb_axis_of(cells);
        lat->count[i] = nb_root_count(cells);
        lat->scale *= nb_lead_squared(cells);
        for (int k = 1; k <= lat->count[i]; k++) lat->roots[i][k - 1] = nb_root(cells, k);
    }
}

/* F_latt^2/scale from peeled deltas, any mix of polynomial and ratio axes. */
double nb_square_lattice(const nb_lattice *lat, const double d[3]) {
    double amplitude = 1.0, weight = 1.0;
    int ratio = 0;
    for (int i = 0; i < 3; i++) {
        if (lat->axis[i] == NB_RATIO) {
            ratio = 1;
            continue;
        }
        double a, w;
        nb_polynomial_axis(lat->axis[i], lat->roots[i], lat->count[i], nb_cospi(d[i]), &a, &w);
        amplitude *= a;
        weight *= w;
    }
    if (ratio) {
        /* One division for the ratio axes; the delta == 0 guard only where it is needed. */
        double num = 1.0, den = 1.0;
        for (int i = 0; i < 3; i++) {
            if (lat->axis[i] != NB_RATIO) continue;
            double nd = d[i] * lat->n[i];
            num *= nb_sinpi(nd - nb_nearest(nd));
            den *= nb_sinpi(d[i]);
        }
        if (den == 0.0) {
            num = den = 1.0;
            for (int i = 0; i < 3; i++) {
                if (lat->axis[i] != NB_RATIO) continue;
                double a, b;
                nb_sine_ratio_parts(d[i], lat->n[i], &a, &b);
                num *= a;
                den *= b;
            }
        }
        amplitude *= num / den;
    }
    return weight * (amplitude * amplitude);
}

/* The same for three axes sharing one N <= 16 (axis a's roots), products associated as the
 * SIMD engine's compiled loop associates them. */
double nb_polynomial_lattice(const nb_lattice *lat, const double d[3]) {
    const double *roots = lat->roots[0];
    int count = lat->count[0];
    double c[3], x[3], t[3], a[3] = {1.0, 1.0, 1.0};
    for (int i = 0; i < 3; i++) c[i] = nb_cospi(d[i]);
    if (lat->axis[0] == NB_ODD) {
        for (int i = 0; i < 3; i++) x[i] = c[i] * c[i]; /* w */
    } else {
        for (int i = 0; i < 3; i++) {
            t[i] = fma(c[i], c[i], -0.5);
            x[i] = t[i] * t[i]; /* z */
        }
    }
    for (int k = 0; k < count; k++)
        for (int i = 0; i < 3; i++) a[i] *= x[i] - roots[k];
    double p = a[0] * a[1] * a[2];
    if (lat->axis[0] == NB_ODD) return p * p;
    double weight = (t[0] + 0.5) * (t[1] + 0.5) * (t[2] + 0.5);
    if (lat->axis[0] == NB_FOUR_TIMES) p = p * (t[0] * t[1] * t[2]);
    return weight * (p * p);
}

double nb_f_latt_squared(const nb_lattice *lat, const double hkl[3]) {
    double d[3] = {nb_peel(hkl[0]), nb_peel(hkl[1]), nb_peel(hkl[2])};
    return lat->scale * nb_square_lattice(lat, d);
}

static double dot(const double a[3], const double b[3]) {
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

double nb_pixel_sum(const nb_lattice *lat, const double diffracted[3], const double incident[3],
                    double lambda, double default_F, const double (*cells)[3][3],
                    int orientations) {
    /* nanoBragg.c: scattering = (diffracted - incident)/lambda */
    double q[3];
    for (int i = 0; i < 3; i++) q[i] = (diffracted[i] - incident[i]) / lambda;
    double I = 0.0;
    for (int o = 0; o < orientations; o++) {
        double hkl[3] = {dot(cells[o][0], q), dot(cells[o][1], q), dot(cells[o][2], q)};
        /* C's sincg product, F_latt*F_latt, becomes one call. (nanoBragg.c skips terms with
         * F_latt == 0 when there is no water; adding 0 changes nothing here. Under its
         * running-sum factors, Q11, the skip matters: test F_latt2 == 0 there.) */
        double F_latt2 = nb_f_latt_squared(lat, hkl);
        double F_cell = default_F;
        I += F_cell * F_cell * F_latt2;
    }
    return I;
}
