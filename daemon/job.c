/* SPDX-License-Identifier: MIT */
/* A job at run time: its place in the firing heap, its runs in progress, and the overlap
 * policy that decides what a firing does while a previous run is still going. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

Job *job_new(Daemon *d, const JobConfig *cfg) {
        size_t len = strlen(cfg->name) + 1;
        Job *j = calloc(1, sizeof(Job) + len);  /* the name follows, in the same block */

        if (!j)
                return NULL;
        j->daemon = d;
        j->cfg = cfg;
        j->name = memcpy((char *) (j + 1), cfg->name, len);
        heap_entry_init(&j->entry);
        j->last_fired = INT64_MIN;
        return j;
}

void job_free(Job *j) {
        if (!j)
                return;
        heap_remove(&j->daemon->heap, &j->entry);
        free(j);
}

static void job_skip(Job *j, const JobFiring *f, const char *why) {
        char utc[RFC3339_UTC_MAX];

        log_event(LOG_WARNING, "firing_skipped", j->name, j->runs ? j->runs->id : NULL, NULL,
                  "firing %s SKIPPED (%s)", format_rfc3339_utc(f->f.t, utc), why);
}

static void job_start(Job *j, const JobFiring *f, bool catch_up) {
        char utc[RFC3339_UTC_MAX];
        int r;

        r = run_start(j, f, catch_up, false);
        if (r < 0)
                log_event(LOG_ERR, "run_failed", j->name, NULL, NULL, "cannot start run for %s: %s",
                          format_rfc3339_utc(f->f.t, utc), strerror(-r));
}

/* A run past its election, other than except, or NULL: what the overlap policy weighs. A
 * run still electing has started nothing; if it counted, a firing that comes while the store
 * is slow to answer (an election outlasting the schedule's period) would be skipped here,
 * while the other replicas stood down on it: lost fleet-wide. So the two elections proceed,
 * and should both be won, the two runs overlap (logged when the second starts, run.c). */
const Run *job_active_run(const Job *j, const Run *except) {
        for (const Run *r = j->runs; r; r = r->next)
                if (r != except && r->phase != RUN_ELECTING)
                        return r;
        return NULL;
}

void job_fire(Job *j, const JobFiring *f, bool catch_up) {
        if (j->daemon->stopping)
                return;
        if (j->cfg->overlap == OVERLAP_ALLOW || !job_active_run(j, NULL)) {
                job_start(j, f, catch_up);
                return;
        }
        switch (j->cfg->overlap) {
        case OVERLAP_SKIP:
                job_skip(j, f, "still running");
                return;
        case OVERLAP_QUEUE:
                if (j->queued) {
                        job_skip(j, f, "still running, and one firing is already queued");
                        return;
                }
                j->queued = true;
                j->queued_firing = *f;
                log_event(LOG_INFO, "firing_queued", j->name, NULL, NULL,
                          "still running; this firing runs when the current run ends");
                return;
        case OVERLAP_REPLACE:
                /* Terminate what runs (as on timeout); the new run starts once they are gone. */
                j->queued = true;
                j->queued_firing = *f;
                log_event(LOG_NOTICE, "run_replaced", j->name, j->runs->id, NULL,
                          "still running; terminating it to start the new firing");
                for (Run *r = j->runs, *next; r; r = next) {
                        next = r->next;
                        run_terminate(r, SIGTERM, j->cfg->kill_after);
                }
                return;
        default:
                return;
        }
}

void job_run_ended(Job *j, Run *r) {
        Daemon *d = j->daemon;

        for (Run **p = &j->runs; *p; p = &(*p)->next)
                if (*p == r) {
                        *p = r->next;
                        break;
                }
        j->n_runs--;
        d->n_runs--;

        if (j->n_runs == 0 && j->queued && !j->retired && !d->stopping) {
                JobFiring f = j->queued_firing;

                j->queued = false;
                job_start(j, &f, false);
        }
        if (j->n_runs == 0)
                daemon_job_idle(d, j);
}
