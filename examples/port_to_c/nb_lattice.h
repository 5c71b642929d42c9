/* The square crystal's lattice factor as nanobragg's SIMD engine computes it, in C.
 *
 * A transcription of the Rust scalar twin, src/physics/lattice.rs, whose module docs explain
 * every step (the integer peel, the cos(pi x)/sin(pi x) polynomials and where their
 * coefficients come from, the Chebyshev root product, the sine ratio above N = 16). Compiled
 * with -ffp-contract=off (fma() only where written) it gives the same bits as the Rust twin
 * and the SIMD lanes; tests/port_to_c.rs checks that.
 *
 * Vectors are 0-based double[3] here; nanoBragg.c's are 1-based double[4]. */
#ifndef NB_LATTICE_H
#define NB_LATTICE_H

/* Largest N evaluated by the root product; above it, the sine ratio. */
#define NB_POLYNOMIAL_MAX_N 16.0
/* Most roots of one axis's polynomial: (15 - 1)/2 for N = 15. */
#define NB_MAX_ROOTS 7

/* How one axis is computed (lattice.rs: Axis). */
enum nb_axis {
    NB_ODD,        /* N odd: amplitude prod(w - r_k), weight 1 */
    NB_TWICE_ODD,  /* N = 2M, M odd: amplitude prod(z - r_k), weight w */
    NB_FOUR_TIMES, /* N = 2M, M even: amplitude t*prod(z - r_k), weight w */
    NB_RATIO       /* N > 16: sin(pi r)/sin(pi delta) */
};

/* The three axes of one crystal (lattice.rs: Lattice). */
typedef struct {
    double n[3];
    enum nb_axis axis[3];
    double roots[3][NB_MAX_ROOTS];
    int count[3];
    double scale; /* product of the polynomial axes' 4^(N-1) */
} nb_lattice;

/* The integer peel: nearest integer (ties to even) and delta = h - nearest(h), exact. */
double nb_nearest(double x);
double nb_peel(double h);

/* cos(pi x) and sin(pi x) for |x| <= 1/2. */
double nb_cospi(double x);
double nb_sinpi(double x);

/* The Chebyshev product's rules for an axis of `cells` unit cells (1 <= cells <= 16). */
int nb_axis_cells(double n);
enum nb_axis nb_axis_of(int cells);
int nb_root_count(int cells);
double nb_root(int cells, int k);
double nb_lead_squared(int cells);
void nb_polynomial_axis(enum nb_axis axis, const double *roots, int count, double c,
                        double *amplitude, double *weight);

/* One sine-ratio axis: (N, 1) at delta == 0. */
void nb_sine_ratio_parts(double delta, double n, double *num, double *den);

/* One axis's F_latt^2 from the full fractional index h. */
double nb_lattice_factor_axis_chebyshev(double h, double n);

/* Three axes: setup, F_latt^2/scale from peeled deltas (any N; one shared N <= 16),
 * F_latt^2 from h, k, l. */
void nb_lattice_init(nb_lattice *lat, const double n[3]);
double nb_square_lattice(const nb_lattice *lat, const double d[3]);
double nb_polynomial_lattice(const nb_lattice *lat, const double d[3]);
double nb_f_latt_squared(const nb_lattice *lat, const double hkl[3]);

/* One pixel's inner loop for one source: sum over the crystal orientations (phi steps, then
 * mosaic domains, as nanoBragg.c orders them) of F_cell^2 * F_latt^2 with F_cell = default_F.
 * cells[o][0..2] are the real-space vectors a, b, c of orientation o in metres, diffracted
 * and incident unit vectors, lambda in metres. */
double nb_pixel_sum(const nb_lattice *lat, const double diffracted[3], const double incident[3],
                    double lambda, double default_F, const double (*cells)[3][3],
                    int orientations);

#endif
