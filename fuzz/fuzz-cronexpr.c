/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the cron expression parser, and next() on whatever parses. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cronexpr.h"
#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        const char *msg = NULL;
        unsigned col = 0;
        CronExpr e;

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        if (cronexpr_parse(s, "fuzz-job", &e, &col, &msg) < 0) {
                if (col > size + 1 || !msg)
                        abort();                /* errors point into the input and say why */
        } else if (cronexpr_check_satisfiable(&e) == 0) {
                CronFiring f;
                int64_t t = 1795413600; /* 2026-11-23T06:00:00Z */

                for (int i = 0; i < 8 && cronexpr_next(&e, tz_utc(), t, &f) == 0; i++) {
                        if (f.t <= t)
                                abort();        /* next() must move forward */
                        t = f.t;
                }
        }
        free(s);
        return 0;
}
