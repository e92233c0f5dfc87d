/* SPDX-License-Identifier: MIT */

/* How long loading a job table takes (config_load: read, parse, expand, validate, build),
 * the largest part of the daemon's start-up with many jobs. Loads FILE again and again in
 * one process, so the file is in the page cache and the code warm: the median is the CPU
 * cost of loading; the first load, with fresh memory and cold caches, is nearer to what a
 * daemon's start pays (run-bench measures that, figure 5).
 *
 * Usage: bench-load FILE [loads]   (default 200) */

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

int main(int argc, char **argv) {
        int n = argc > 2 ? atoi(argv[2]) : 200;
        size_t jobs = 0;
        double *ms, first;

        if (argc < 2 || n <= 0) {
                fprintf(stderr, "usage: bench-load FILE [loads]\n");
                return 2;
        }
        ms = calloc((size_t) n, sizeof(double));
        if (!ms)
                return 1;
        for (int i = 0; i < n; i++) {
                ConfigDiags diags = {};
                Config *c = NULL;
                double t0 = now_ms();
                int r = config_load(argv[1], NULL, &c, &diags);

                ms[i] = now_ms() - t0;
                config_diags_done(&diags);
                if (r < 0) {
                        fprintf(stderr, "%s: does not load (solocron check says why)\n", argv[1]);
                        return 1;
                }
                jobs = c->n_jobs;
                config_free(c);
        }
        first = ms[0];
        qsort(ms, (size_t) n, sizeof(double), cmp_double);
        printf("%s: %zu jobs, %d loads: median %.3f ms, min %.3f, p90 %.3f; the first %.3f ms\n",
               argv[1], jobs, n, ms[n / 2], ms[0], ms[n * 9 / 10], first);
        free(ms);
        return 0;
}
