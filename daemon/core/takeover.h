/* SPDX-License-Identifier: MIT */
#pragma once

/* takeover: the firings this replica stood down on while a live holder ran them, watched in
 * the lease store; when a holder's lease expires with the record still running, the owner
 * is told, once, and may run the firing again (a takeover claim). Owned by the daemon. */

#include "firing.h"
#include "lease.h"

typedef struct Takeover Takeover;
/* The holder of job's firing f died while running it. */
typedef void (*takeover_cb)(const char *job, const JobFiring *f, void *userdata);

/* NULL when out of memory. A store without watch support makes every watch a no-op. */
Takeover *takeover_new(LeaseStore *s, takeover_cb on_died, void *userdata);
/* Watch job's firing f (held by another replica); a failure is logged and ignored. */
void takeover_watch(Takeover *t, const char *job, const JobFiring *f, const char *run_id,
                    unsigned attempt);
/* Stop every watch (shutdown). */
void takeover_stop_all(Takeover *t);
Takeover *takeover_free(Takeover *t);
