/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "firing.h"

bool firing_excluded_by(const Exclude *x, int64_t local) {
        Civil c;

        civil_from_seconds(local, &c);
        if (x->is_date)
                return c.year == x->year && c.month == x->month && c.day == x->day;
        return cronexpr_matches(&x->expr, &c);
}

int firing_next(const JobConfig *j, int64_t after, JobFiring *ret) {
        JobFiring jf = {};
        int r;

        r = cronexpr_next(&j->schedule, j->tz, after, &jf.f);
        if (r < 0)
                return r;
        /* Exclusions compare the scheduled local time, before any DST move: "02:30 on
         * 2026-12-25" is excluded by the date 2026-12-25 even if DST moved it. */
        for (size_t i = 0; i < j->n_excludes; i++)
                if (firing_excluded_by(&j->excludes[i], jf.f.local)) {
                        jf.excluded = &j->excludes[i];
                        break;
                }
        *ret = jf;
        return 0;
}

int firing_next_runnable(const JobConfig *j, int64_t after, JobFiring *ret) {
        for (unsigned n = 0; n < FIRING_MAX_EXCLUDED_IN_A_ROW; n++) {
                JobFiring jf;
                int r;

                r = firing_next(j, after, &jf);
                if (r < 0)
                        return r;
                if (!jf.excluded) {
                        *ret = jf;
                        return 0;
                }
                after = jf.f.t;
        }
        return -ERANGE;
}
