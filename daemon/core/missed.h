/* SPDX-License-Identifier: MIT */
#pragma once

/* The fleet-wide missed-firing alarm: after a firing's instant + missed_after, this replica
 * asks the lease store what became of the firing, when it has a reason to (it lost the
 * election to a holder that was running, or found the holder gone, or could not elect it,
 * or was not up at the instant); a holder still running is watched until it ends. A firing
 * that nobody claimed, or whose holder's lease expired without a final record and that was
 * not taken over, is raised as missed exactly once fleet-wide: the store's conditional
 * write of an alarm marker (LeaseOps.check_missed) decides which replica tells its owner.
 * Owned by the daemon; a store without check_missed (the local lease) makes it a no-op. */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "firing.h"
#include "lease.h"

typedef struct Missed Missed;

/* Why this replica might check a firing: how its own election went, or that it was not up. */
typedef enum MissedReason {
        MISSED_WON,             /* it won: its own run, never alarmed here */
        MISSED_HELD_RUNNING,    /* it lost to a holder that was running */
        MISSED_HELD_DONE,       /* it lost: the firing had run */
        MISSED_HELD_ABANDONED,  /* it lost: the holder's lease had expired */
        MISSED_PAUSED,          /* the job is paused fleet-wide */
        MISSED_STORE_DOWN,      /* the store could not decide, and the firing was skipped */
        MISSED_NOT_UP,          /* the daemon started after the instant, before it + missed_after */
} MissedReason;

/* job's firing f is raised as missed (this replica created the alarm marker); state: what
 * the store had (NONE or ABANDONED). */
typedef void (*missed_raised_cb)(const char *job, const JobFiring *f, LeaseFiringState state,
                                 void *userdata);

/* NULL when out of memory. lc: the table's lease section (election_timeout, ttl). */
Missed *missed_new(uv_loop_t *loop, LeaseStore *s, const LeaseConfig *lc,
                   missed_raised_cb on_raised, void *userdata);
/* Whether this replica has a reason to check a firing (see MissedReason). Of those that
 * have one, the member ranked first asks: elect.c leaves the holder out for a held firing;
 * missed.c ranks NOT_UP and STORE_DOWN firings among all the members at their due time. */
bool missed_should_check(const Missed *m, const JobConfig *cfg, MissedReason why);
/* cfg's missed_after in seconds: its own, or jitter + election_timeout + MISSED_MARGIN_SEC;
 * 0: no alarm (missed_after: none). */
int64_t missed_after_sec(const Missed *m, const JobConfig *cfg);
/* The firing f of cfg was elected here with that outcome: check it at its instant +
 * missed_after, if missed_should_check() says so. */
void missed_expect(Missed *m, const JobConfig *cfg, const JobFiring *f, MissedReason why);
/* The daemon starts at now (a job a reload adds is not looked at): the firings of cfg in
 * [now - missed_after, now) happened while it was not up; check them (MISSED_NOT_UP). */
void missed_expect_started(Missed *m, const JobConfig *cfg, int64_t now);
/* This replica runs f of job now (it won a takeover): no check of it is needed. */
void missed_forget(Missed *m, const char *job, int64_t scheduled);
/* Checks waiting or in flight (for the tests and the metrics). */
size_t missed_pending(const Missed *m);
/* Stop every check and watch and close the timer (shutdown); free with missed_free() once
 * the loop has run the close. */
void missed_stop(Missed *m);
Missed *missed_free(Missed *m);
