/* SPDX-License-Identifier: MIT */
#pragma once

/* The election of one firing, embedded in its run: claim it from the lease store (at once or
 * later), decide (run, stand down, or on_store_down), report a lease lost while the run goes
 * on, write the proof of run at the end; with takeover:, a firing held by a live holder is
 * handed to the Takeover watches. Decisions use LeaseResult and LeaseHeld, never the text. */

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "env.h"
#include "firing.h"
#include "lease.h"

typedef enum RunLease {
        RUN_LEASE_NONE,         /* lease: none, or no lease store */
        RUN_LEASE_WON,          /* won: SOLOCRON_LEASE_KEY and SOLOCRON_FENCING_TOKEN are set */
        RUN_LEASE_UNAVAILABLE,  /* the store could not decide; run anyway (on_store_down: run,
                                 * or a local lease that cannot be written) */
        _RUN_LEASE_MAX,
} RunLease;

/* How an election ended, for the metrics (solocron_lease_elections_total{outcome}). */
typedef enum ElectOutcome {
        ELECT_PENDING,          /* not decided yet, or cancelled */
        ELECT_NONE,             /* not elected: lease: none */
        ELECT_WON,
        ELECT_HELD,             /* another holder has it, or has run it */
        ELECT_STORE_DOWN_RUN,   /* no decision; run anyway */
        ELECT_STORE_DOWN_SKIP,  /* no decision; skipped */
        ELECT_PAUSED,           /* the job is paused fleet-wide: not run */
        ELECT_PASSED,           /* not this member's turn: a lower rank that does not look
                                 * where a look costs a request (S3: rendezvous_looks()) */
        _ELECT_OUTCOME_MAX,
} ElectOutcome;

const char *elect_outcome_to_string(ElectOutcome o);

/* Who has a manual run's key: what the record found says (owned strings, NULL when not
 * said). A retried request for the same key answers with it. */
typedef struct ElectHeld {
        char *run_id, *host, *status;
        int64_t exit_status, duration_msec, scheduled;
} ElectHeld;

typedef struct Election Election;
/* A claim that was PENDING is decided: run it, or not (the election is over then). */
typedef void (*elect_decided_cb)(Election *e, bool run);
/* The won lease is lost while the run goes on; on_lease_lost is the owner's to apply. */
typedef void (*elect_lost_cb)(Election *e, const char *why);
/* A lower rank waits before it claims: the owner calls elect_resume() after msec (its
 * timer, stopped by elect_cancel()'s caller when it closes the run). */
typedef void (*elect_wait_cb)(Election *e, uint64_t msec);

struct Election {                       /* embedded in a Run */
        CoreEnv *env;                   /* borrowed */
        const JobConfig *cfg;           /* borrowed: lease, takeover, on_store_down */
        const char *job, *run_id;       /* borrowed, for the request and the log */
        JobFiring firing;
        unsigned attempt;
        bool takeover;                  /* taking over a firing whose holder died */
        unsigned stand_in;              /* standing in for rank stand_in - 1, which handed
                                         * its turn on (RunRequest.stand_in); 0: not */
        bool turn_open;                 /* a stand-in whose claim has not gone out: the
                                         * turn's note is still to be deleted */
        const char *manual;             /* borrowed: a manual run's key, or NULL */
        LeaseClaim *claim;              /* pending or won; NULL otherwise */
        LeaseCallbacks lease_cb;
        char *lease_key;                /* SOLOCRON_LEASE_KEY (owned), once won */
        uint64_t fencing_token;         /* SOLOCRON_FENCING_TOKEN, once won */
        ElectHeld held;                 /* HELD: the record found, for a manual run */
        RunLease state;
        ElectOutcome outcome;
        int64_t claim_start_usec;       /* env->now_usec() when the claim went out */
        unsigned rank;                  /* this member's rank for the firing (0: first) */
        unsigned n_members;             /* of how many members; 0: not ranked */
        bool lost;
        bool waiting;                   /* a lower rank's wait: elect_resume() follows */
        bool rank_later;                /* the members were not known yet: the wait is the
                                         * fallback's, and elect_resume() ranks again */
        elect_decided_cb on_decided;
        elect_lost_cb on_lost;
        elect_wait_cb on_wait;
};

/* Claim the firing. true: decided now, *ret_run says whether to run it; false: on_decided
 * follows, from the loop. */
bool elect_start(Election *e, bool *ret_run);
/* A lower rank's wait is over: claim it now, unless the store knows it is claimed (or,
 * ranked only now, this member is not one that looks); on_decided follows (possibly from
 * inside this call). */
void elect_resume(Election *e);
/* Forget a pending claim (no on_decided follows), or let a won lease go without a record. */
void elect_cancel(Election *e);
/* The run is over: record how it ended (the proof of run) and let the lease go. */
void elect_finish(Election *e, const LeaseEnd *end);
/* This member cannot run firing f of job (its previous run is still going, and the overlap
 * policy skips it): if it is one that looks at the firing, or stood in for one (stood_in:
 * the turn it was handed), hand the turn on to the member after it (rendezvous_successor()),
 * so that the firing still runs where a spare member can run it. A turn it cannot hand on
 * is dropped (its note deleted). */
void elect_hand_on(CoreEnv *env, const JobConfig *cfg, const char *job, const JobFiring *f,
                   const LeaseTurn *stood_in);

/* "won", "none", "unavailable" for SOLOCRON_LEASE. */
const char *run_lease_to_string(RunLease l);
void elect_done(Election *e);
