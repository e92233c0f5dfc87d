/* SPDX-License-Identifier: MIT */
#pragma once

/* Electing one replica per firing. A lease backend is a function table (LeaseOps, as curl's
 * vtls backends are); the daemon holds one LeaseStore for the table's lease section and
 * claims every firing of every job (except `lease: none`) before running it:
 *   claim → won: run it, then finish() records how it ended (the proof of run) and lets go;
 *         → held: another replica (or daemon) has it, or it already ran: stand down.
 * The key of a firing is PREFIX/JOB/SCHEDULED-UTC, so each firing is its own election. */

#include <stdbool.h>
#include <stdint.h>

typedef struct LeaseStore LeaseStore;
typedef struct LeaseClaim LeaseClaim;

typedef enum LeaseResult {
        LEASE_WON,              /* this replica runs the firing; the claim holds the lease */
        LEASE_HELD,             /* another holder has it, or has already run it */
        LEASE_UNAVAILABLE,      /* the store cannot decide (down, refused): on_store_down applies */
        LEASE_PENDING,          /* asynchronous backends: the callback tells later */
} LeaseResult;

typedef struct LeaseRequest {
        const char *job;
        int64_t scheduled;      /* the firing's scheduled instant, Unix seconds */
        const char *run_id;
        unsigned attempt;
} LeaseRequest;

/* detail: for HELD, who holds it ("pid 4242 on web-1", "already ran: succeeded"); for
 * UNAVAILABLE, why. */
typedef void (*lease_claim_cb)(LeaseClaim *c, LeaseResult result, const char *detail,
                               void *userdata);

typedef struct LeaseOps {
        const char *name;
        /* Start the election for one firing. A synchronous backend returns WON, HELD or
         * UNAVAILABLE at once (*ret_claim set for WON) and never calls cb; an asynchronous one
         * returns PENDING and calls cb exactly once, from the loop. *ret_detail (static or
         * owned by the claim/store until the next call) explains HELD and UNAVAILABLE. */
        LeaseResult (*claim)(LeaseStore *s, const LeaseRequest *req, lease_claim_cb cb,
                             void *userdata, LeaseClaim **ret_claim, const char **ret_detail);
        /* The run is over: record its result ("succeeded", "failed", "timed_out", …) as the
         * proof of run and release the lease. Frees c. */
        void (*finish)(LeaseClaim *c, const char *result, int64_t exit_status);
        void (*free)(LeaseStore *s);
} LeaseOps;

struct LeaseStore {
        const LeaseOps *ops;
};

/* The embedded default: a lock file per job in DIR (flock), so two daemons on one host
 * also run each firing once. */
int lease_local_new(const char *dir, LeaseStore **ret, char **reterr_message);
