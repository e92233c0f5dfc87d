/* SPDX-License-Identifier: MIT */

/* Next-fire computations per second on one core, for typical expressions, in UTC and in a
 * zone with DST: chained (t = next(t), as the scheduler does) and from random instants
 * (as after a reload or a clock jump). Target: >= 2 million per second, zone included.
 *
 * Usage: bench-next [milliseconds-per-case]   (default 200) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cronexpr.h"
#include "parse.h"
#include "tz.h"

#define RANDOM_AFTER_N 4096

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Calls cronexpr_next() in batches until `budget` seconds have passed. Returns calls/s. */
static double bench_case(const CronExpr *e, const Tz *tz, bool chained, const int64_t *afters,
                         int64_t start, double budget) {
        uint64_t calls = 0, sink = 0;
        int64_t t = start;
        double t0 = now_sec(), el;

        do {
                for (int i = 0; i < RANDOM_AFTER_N; i++) {
                        CronFiring f;

                        if (cronexpr_next(e, tz, chained ? t : afters[i], &f) < 0) {
                                t = start;      /* ran off the year range: start over */
                                continue;
                        }
                        t = f.t;
                        sink += (uint64_t) f.t;
                }
                calls += RANDOM_AFTER_N;
                el = now_sec() - t0;
        } while (el < budget);

        if (sink == 42)         /* keep the results alive */
                fputc(' ', stderr);
        return (double) calls / el;
}

int main(int argc, char **argv) {
        static const char *const exprs[] = {
                "*/15 * * * *",
                "0 1 * * *",
                "30 2 * * MON-FRI",
                "0 0 L * *",
                "*/10 * * * * *",
                "0 0 ? * FRI#3",
                "@every 90s",
        };
        static const char *const zones[] = { "UTC", "America/New_York" };
        static int64_t afters[RANDOM_AFTER_N];
        /* Overall figures weigh every case the same: the harmonic mean of the rates, i.e.
         * the rate of a workload that makes the same number of calls of each kind. */
        double budget = 0.2, inv_sum = 0, zone_inv_sum = 0, slowest = 0;
        int cases = 0, zone_cases = 0;
        uint64_t x = UINT64_C(0x2545f4914f6cdd1d);
        int64_t start = 1767225600;     /* 2026-01-01T00:00:00Z */

        if (argc > 1) {
                uint64_t ms;

                if (parse_uint64(argv[1], 600000, &ms) < 0 || ms == 0) {
                        fprintf(stderr, "Usage: %s [milliseconds-per-case]\n", argv[0]);
                        return EXIT_FAILURE;
                }
                budget = (double) ms / 1e3;
        }
        /* Random instants 2000..2100. */
        for (int i = 0; i < RANDOM_AFTER_N; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                afters[i] = 946684800 + (int64_t) (x % UINT64_C(3155760000));
        }

        printf("%-20s %-18s %14s %14s\n", "expression", "zone", "chained/s", "random/s");
        for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
                Tz *loaded = NULL;
                const Tz *tz;
                int r;

                if (strcmp(zones[z], "UTC") == 0)
                        tz = tz_utc();
                else {
                        r = tz_load(zones[z], NULL, &loaded);
                        if (r < 0) {
                                fprintf(stderr, "Cannot load zone '%s': %s, skipping.\n", zones[z],
                                        strerror(-r));
                                continue;
                        }
                        tz = loaded;
                }

                for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
                        double chained, random;
                        const char *msg = NULL;
                        unsigned col = 0;
                        CronExpr e;

                        r = cronexpr_parse(exprs[i], "bench", &e, &col, &msg);
                        if (r < 0) {
                                fprintf(stderr, "'%s': column %u: %s\n", exprs[i], col, msg);
                                return EXIT_FAILURE;
                        }
                        chained = bench_case(&e, tz, true, afters, start, budget);
                        random = bench_case(&e, tz, false, afters, start, budget);
                        printf("%-20s %-18s %14.0f %14.0f\n", exprs[i], zones[z], chained, random);
                        fflush(stdout);
                        inv_sum += 1 / chained + 1 / random;
                        cases += 2;
                        if (tz != tz_utc()) {
                                zone_inv_sum += 1 / chained + 1 / random;
                                zone_cases += 2;
                        }
                        if (slowest == 0 || chained < slowest)
                                slowest = chained;
                        if (random < slowest)
                                slowest = random;
                }
                tz_free(loaded);
        }

        printf("overall: %.2f million next() per second, one core", cases / inv_sum / 1e6);
        if (zone_cases > 0)
                printf("; with a DST zone: %.2f million/s", zone_cases / zone_inv_sum / 1e6);
        printf("; slowest case: %.2f million/s\n", slowest / 1e6);
        return EXIT_SUCCESS;
}
