/* SPDX-License-Identifier: MIT */
#pragma once

/* A job's firings as the table defines them: its schedule in its zone, with its exclude:
 * list applied. Pure; shared by `solocron next` and the scheduler. */

#include "config.h"

typedef struct JobFiring {
        CronFiring f;
        const Exclude *excluded; /* non-NULL: this firing is skipped because of that entry */
} JobFiring;

/* The next firing of j strictly after `after`, excluded or not (check ret->excluded).
 * Returns 0 or -ERANGE when the schedule has no further firing. */
int firing_next(const JobConfig *j, int64_t after, JobFiring *ret);

/* The next firing of j strictly after `after` that is not excluded, giving up (-ERANGE)
 * after FIRING_MAX_EXCLUDED_IN_A_ROW excluded ones (an exclude that covers the whole schedule). */
#define FIRING_MAX_EXCLUDED_IN_A_ROW 100000
int firing_next_runnable(const JobConfig *j, int64_t after, JobFiring *ret);

/* Does the exclude entry cover the scheduled local civil time `local`? */
bool firing_excluded_by(const Exclude *x, int64_t local);
