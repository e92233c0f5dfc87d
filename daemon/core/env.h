/* SPDX-License-Identifier: MIT */
#pragma once

/* What the daemon lends to every job, run and election below it. Ownership goes down and
 * events come up: jobs, runs and elections read this (elections also note lease_degraded),
 * report to their owners through callbacks, and never name the Daemon. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "lease.h"

typedef struct Takeover Takeover;
typedef struct Notifier Notifier;
typedef struct Uploads Uploads;
typedef struct Missed Missed;

/* Histogram buckets of how long the lease store took to decide a claim, in seconds. */
#define LEASE_CLAIM_BUCKETS 10
extern const double lease_claim_buckets[LEASE_CLAIM_BUCKETS];

typedef struct LeaseClaimStats {        /* solocron_lease_request_duration_seconds */
        uint64_t bucket[LEASE_CLAIM_BUCKETS];   /* claims that took at most that long */
        uint64_t count;
        double sum;
} LeaseClaimStats;

typedef struct StoreHealth {          /* /healthz: has the lease store answered lately? */
        int64_t ok_usec;                /* now_usec() of its last answer; 0: none yet */
        int64_t failing_since_usec;     /* its first failure since then; 0: none */
        int64_t noted_usec;             /* the last answer or failure; 0: none yet */
        char why[256];                  /* the last failure */
} StoreHealth;

/* The store answered (error NULL) or did not, now. */
static inline void store_health_note(StoreHealth *h, int64_t now, const char *error) {
        h->noted_usec = now;
        if (!error) {
                h->ok_usec = now;
                h->failing_since_usec = 0;
                return;
        }
        if (!h->failing_since_usec)
                h->failing_since_usec = now;
        (void) snprintf(h->why, sizeof(h->why), "%s", error);
}

typedef struct CoreEnv {
        uv_loop_t *loop;
        LeaseStore *lease;              /* NULL: firings are not elected */
        Takeover *takeover;             /* NULL: held firings are not watched */
        Notifier *notifier;             /* pings, webhooks, hooks; NULL: none */
        Uploads *uploads;               /* runs' output kept in S3 (upload.h); NULL: none */
        const char *hostname;           /* this machine's name; NULL: unknown */
        Missed *missed;                 /* NULL: no missed-firing alarm (missed.h) */
        char **withheld_env;            /* what jobs do not get of our environment */
        int64_t (*now_usec)(void);      /* monotonic, for durations (tests inject theirs) */
        LeaseClaimStats claim_stats;    /* elections note how long their claims took */
        StoreHealth store_health;       /* elections note whether the store answered */
        unsigned pause_epoch;           /* raised when a job's pause is learned (a pause
                                         * asked here, an election that changed it): a
                                         * list of the store's asked for before is older */
        bool stopping;                  /* shutting down: no new runs, no retries */
        bool lease_degraded;            /* the local lease cannot record claims (said once) */
        unsigned lease_candidates;      /* lease.candidates: ranks that claim in turn */
        usec_t lease_stagger;           /* lease.stagger: the wait per rank; 0: no ranking */
        usec_t lease_elect_ahead;       /* lease.elect_ahead: firings elected this early */
        int64_t ahead_key;              /* the instant whose firings were last elected ahead;
                                         * INT64_MIN: none yet */
} CoreEnv;

/* uv_hrtime() in microseconds: CoreEnv.now_usec outside the tests. */
int64_t core_now_usec(void);
