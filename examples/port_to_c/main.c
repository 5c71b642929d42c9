/* Reads cases from stdin, one per line, prints one line of results per case with %.17g
 * (which reads back as the same double):
 *
 *   trig x                      -> nb_cospi(x) nb_sinpi(x)
 *   axis h N                    -> one axis's F_latt^2
 *   roots N                     -> kind root_count lead^2 root_1 ... root_count
 *   lattice h k l Na Nb Nc      -> F_latt^2 (any N), then the shared-N form or "-"
 *   pixel dx dy dz ix iy iz lambda default_F Na Nb Nc K a1 a2 a3 b1 b2 b3 c1 c2 c3 ...
 *                               -> sum over the K orientations of F_cell^2 * F_latt^2
 *
 * Build: cc -O2 -ffp-contract=off main.c nb_lattice.c -o port -lm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb_lattice.h"

static double read_number(void) {
    double x;
    if (scanf("%lf", &x) != 1) {
        fprintf(stderr, "port: expected a number\n");
        exit(2);
    }
    return x;
}

int main(void) {
    char command[16];
    while (scanf("%15s", command) == 1) {
        if (strcmp(command, "trig") == 0) {
            double x = read_number();
            printf("%.17g %.17g\n", nb_cospi(x), nb_sinpi(x));
        } else if (strcmp(command, "axis") == 0) {
            double h = read_number();
            double n = read_number();
            printf("%.17g\n", nb_lattice_factor_axis_chebyshev(h, n));
        } else if (strcmp(command, "roots") == 0) {
            int cells = nb_axis_cells(read_number());
            int count = nb_root_count(cells);
            printf("%d %d %.17g", (int)nb_axis_of(cells), count, nb_lead_squared(cells));
            for (int k = 1; k <= count; k++) printf(" %.17g", nb_root(cells, k));
            printf("\n");
        } else if (strcmp(command, "lattice") == 0) {
            double hkl[3], n[3];
            for (int i = 0; i < 3; i++) hkl[i] = read_number();
            for (int i = 0; i < 3; i++) n[i] = read_number();
            nb_lattice lat;
            nb_lattice_init(&lat, n);
            printf("%.17g", nb_f_latt_squared(&lat, hkl));
            if (n[0] == n[1] && n[1] == n[2] && lat.axis[0] != NB_RATIO) {
                double d[3] = {nb_peel(hkl[0]), nb_peel(hkl[1]), nb_peel(hkl[2])};
                printf(" %.17g\n", lat.scale * nb_polynomial_lattice(&lat, d));
            } else {
                printf(" -\n");
            }
        } else if (strcmp(command, "pixel") == 0) {
            double d[3], inc[3], n[3];
            for (int i = 0; i < 3; i++) d[i] = read_number();
            for (int i = 0; i < 3; i++) inc[i] = read_number();
            double lambda = read_number();
            double default_F = read_number();
            for (int i = 0; i < 3; i++) n[i] = read_number();
            int count = (int)read_number();
            double (*cells)[3][3] = malloc(sizeof(*cells) * (count > 0 ? count : 1));
            if (!cells) return 3;
            for (int o = 0; o < count; o++)
                for (int v = 0; v < 3; v++)
                    for (int i = 0; i < 3; i++) cells[o][v][i] = read_number();
            nb_lattice lat;
            nb_lattice_init(&lat, n);
            double sum = nb_pixel_sum(&lat, d, inc, lambda, default_F,
                                      (const double (*)[3][3])cells, count);
            printf("%.17g\n", sum);
            free(cells);
        } else {
            fprintf(stderr, "port: unknown case '%s'\n", command);
            return 2;
        }
    }
    return 0;
}
