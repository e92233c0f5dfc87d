/* SPDX-License-Identifier: MIT */
#pragma once

/* The representation of a Tz, shared by tz.c (loading by name, lookups) and tz_build.c
 * (reading TZif, expanding the footer rule, building the tables). Internal to common/.
 * The design is explained at the top of tz.c. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tz.h"
#include "tz_posix.h"

#define TZ_CYCLE (INT64_C(146097) * 86400)      /* 400 Gregorian years, 20871 whole weeks */

typedef struct TzType {
        int32_t utoff;                          /* seconds east of UTC */
        bool isdst;
        char abbr[TZ_ABBR_MAX + 1];
} TzType;

struct Tz {                     /* immutable; one allocation: this, then the arrays, the name */
        const char *name;
        const int64_t *trans_at;                /* n_trans instants, strictly ascending */
        const uint16_t *trans_type;             /* types[] index in effect from trans_at[i] */
        const uint32_t *trans_run;              /* run in effect from trans_at[i] */
        size_t n_trans;
        const int64_t *run_start;               /* n_runs >= 1 changes of utoff, ascending; */
        const int32_t *run_utoff;               /* run_start[0] = INT64_MIN */
        size_t n_runs;
        const TzType *types;
        uint16_t type0;                         /* in effect before trans_at[0] */
        int32_t utoff_min, utoff_max;           /* over all runs */
        int64_t cycle;                          /* a transition from which on the zone repeats
                                                 * every TZ_CYCLE; INT64_MAX: it does not */
};

/* A zone from the TZif file buf[0..size). Returns 0, -EBADMSG, -EOPNOTSUPP or -ENOMEM. */
int tz_build_tzif(const uint8_t *buf, size_t size, const char *name, Tz **ret);

/* A zone made of the POSIX TZ rule z alone. Returns 0 or -ENOMEM. */
int tz_build_posix(const TzPosix *z, const char *name, Tz **ret);

/* Number of entries of the ascending a[0..n) that are <= x. */
static inline size_t tz_count_le(const int64_t *a, size_t n, int64_t x) {
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (a[mid] <= x)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}
