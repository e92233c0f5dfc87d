/* SPDX-License-Identifier: MIT */
#pragma once

/* What the daemon lends to every job, run and election below it. Ownership goes down and
 * events come up: jobs, runs and elections read this (elections also note lease_degraded),
 * report to their owners through callbacks, and never name the Daemon. */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "lease.h"

typedef struct Takeover Takeover;

/* Histogram buckets of how long the lease store took to decide a claim, in seconds. */
#define LEASE_CLAIM_BUCKETS 10
extern const double lease_claim_buckets[LEASE_CLAIM_BUCKETS];

typedef struct LeaseClaimStats {        /* solocron_lease_request_duration_seconds */
        uint64_t bucket[LEASE_CLAIM_BUCKETS];   /* claims that took at most that long */
        uint64_t count;
        double sum;
} LeaseClaimStats;

typedef struct CoreEnv {
        uv_loop_t *loop;
        LeaseStore *lease;              /* NULL: firings are not elected */
        Takeover *takeover;             /* NULL: held firings are not watched */
        char **withheld_env;            /* what jobs do not get of our environment */
        int64_t (*now_usec)(void);      /* monotonic, for durations (tests inject theirs) */
        LeaseClaimStats claim_stats;    /* elections note how long their claims took */
        bool stopping;                  /* shutting down: no new runs, no retries */
        bool lease_degraded;            /* the local lease cannot record claims (said once) */
} CoreEnv;

/* uv_hrtime() in microseconds: CoreEnv.now_usec outside the tests. */
int64_t core_now_usec(void);
