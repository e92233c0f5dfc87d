/* SPDX-License-Identifier: MIT */
#pragma once

/* Electing one replica per firing. A lease backend is a function table (LeaseOps, as curl's
 * vtls backends are); the daemon holds one LeaseStore for the table's lease section and
 * claims every firing of every job (except `lease: none`) before running it:
 *   claim → won: run it; the backend renews the lease every ttl/3 while the run lasts, and
 *               finish() records how it ended (the proof of run) and lets go;
 *         → held: another replica (or daemon) has it, or has run it: stand down (and, with
 *               takeover:, watch() it in case its holder dies);
 *         → unavailable: the store could not decide within election_timeout:
 *               on_store_down decides.
 * The key of a firing is PREFIX/JOB/SCHEDULED-UTC ("solocron/refresh/2026-11-23T06:00:00Z"),
 * so each firing is its own election; a manual run's is PREFIX/JOB/manual-KEY.
 *
 * Besides elections, a store answers the API (each answer through a callback that runs
 * exactly once, possibly before the call returns, also when the store closes meanwhile):
 * the fleet's history of a job (its records), a fleet-wide pause (a marker per job that
 * claims of its firings honour), and a probe of the store for /healthz. */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

typedef struct LeaseStore LeaseStore;
typedef struct LeaseClaim LeaseClaim;
typedef struct LeaseWatch LeaseWatch;

typedef enum LeaseResult {
        LEASE_WON,              /* this replica runs the firing; the claim holds the lease */
        LEASE_HELD,             /* another holder has it, or has already run it */
        LEASE_UNAVAILABLE,      /* the store cannot decide (down, refused): on_store_down applies */
        LEASE_PENDING,          /* asynchronous backends: claimed() tells later */
} LeaseResult;

typedef struct LeaseRequest {
        const char *job;
        int64_t scheduled;      /* the firing's scheduled instant, Unix seconds (a manual
                                 * run: when it was asked for) */
        const char *manual;     /* a manual run: its key, [A-Za-z0-9_.-]{1,64}; the claim
                                 * ignores a pause. NULL: a firing of the schedule */
        const char *run_id;
        unsigned attempt;       /* 1, or more for a takeover */
        bool takeover;          /* the firing's holder died while running it: take it over
                                 * (recording the old holder as abandoned) */
        bool late;              /* a lower-ranked member's claim (core/elect.c): a backend
                                 * that already knows the firing is claimed (etcd: a note in
                                 * its inbox) answers HELD without asking the store */
        bool stand_in;          /* claiming a turn another member handed on (pass_turn()):
                                 * the claim also deletes the turn's note */
        const char *const *tell; /* the other members that look at the firing (ranks 0, 1
                                 * and the fallback, core/elect.c): a backend that can leave
                                 * them a note when the claim wins (etcd: their inboxes) does,
                                 * so that they stand down without a request of their own.
                                 * Valid during claim() */
        size_t n_tell;
} LeaseRequest;

/* A claim record's "started": now, or, for a firing elected ahead of its instant (core's
 * lease.elect_ahead), that instant: its run starts then. */
static inline int64_t lease_started_at(int64_t scheduled, const char *manual, int64_t now) {
        return !manual && scheduled > now ? scheduled : now;
}

typedef enum LeaseHeld {        /* who has a HELD firing */
        LEASE_HELD_RUNNING,     /* a live holder runs it */
        LEASE_HELD_DONE,        /* it has run: a final record */
        LEASE_HELD_ABANDONED,   /* its holder's lease expired while it ran: only a takeover
                                 * claim runs it again */
        LEASE_HELD_PAUSED,      /* the job is paused fleet-wide (set_paused) */
} LeaseHeld;

typedef enum LeaseFiringState { /* what check_missed() found of a firing */
        LEASE_FIRING_NONE,      /* no replica claimed it (no record, no marker) */
        LEASE_FIRING_RUNNING,   /* a live holder runs it */
        LEASE_FIRING_DONE,      /* it has run: a final record */
        LEASE_FIRING_ABANDONED, /* its holder's lease expired without a final record */
        LEASE_FIRING_PAUSED,    /* the job is paused fleet-wide: not run, on purpose */
} LeaseFiringState;

typedef struct LeaseRecord {    /* a firing's record as the store keeps it (the proof of run) */
        const char *job;
        int64_t scheduled;      /* Unix seconds; a manual run's: when it was asked for */
        const char *manual;     /* a manual run's key; NULL for a firing of the schedule */
        const char *host;       /* the replica that ran it (or runs it) */
        int64_t pid;            /* its daemon's; 0: unknown */
        const char *run_id;
        const char *status;     /* "running", or how it ended: "succeeded", "failed", … */
        int64_t exit_status;    /* -1: none */
        int64_t started, finished;  /* Unix seconds; 0: unknown (finished: still running) */
        int64_t duration_msec;  /* -1: unknown */
        unsigned attempt;
        uint64_t fencing_token;
        const char *output;     /* where the run's output is kept ("s3://BUCKET/KEY"), or NULL */
} LeaseRecord;

typedef struct LeaseEnd {       /* how a run ended: finish() records it */
        const char *result;     /* "succeeded", "failed", "timed_out", … */
        int64_t exit_status;    /* -1: none */
        int64_t duration_msec;
        const char *output;     /* where the run's output is kept ("s3://BUCKET/KEY"), for
                                 * the record's "output"; NULL: nowhere */
} LeaseEnd;

typedef struct LeaseInfo {
        const char *detail;     /* HELD: who holds it ("pid 4242 on web-1", "already run:
                                 * succeeded"); UNAVAILABLE: why. Valid during the call.
                                 * For people: decisions use the result and held. */
        LeaseHeld held;         /* HELD: what the record says */
        const LeaseRecord *record; /* HELD: the record found (NULL: none, or paused); valid
                                 * during the call */
        const char *key;        /* the firing's key, for SOLOCRON_LEASE_KEY */
        uint64_t fencing_token; /* WON: increases with every holder of this firing */
} LeaseInfo;

typedef struct LeaseCallbacks {
        /* The outcome of a PENDING claim; for WON, c is the claim to finish() later, else c
         * is already gone. Runs exactly once, from the loop. */
        void (*claimed)(LeaseClaim *c, LeaseResult result, const LeaseInfo *info, void *userdata);
        /* A won lease is lost while the run goes on: renewal failed past the TTL, or the
         * record now names another holder. The claim stays valid until finish(). */
        void (*lost)(LeaseClaim *c, const char *why, void *userdata);
        void *userdata;
} LeaseCallbacks;

/* The answers to the API's questions; each runs exactly once (see the top). error: NULL, or
 * why the store could not answer. */
typedef void (*lease_records_cb)(const LeaseRecord *records, size_t n, const char *error,
                                 void *userdata);
typedef void (*lease_jobs_cb)(char *const *jobs, size_t n, const char *error, void *userdata);
typedef void (*lease_done_cb)(const char *error, void *userdata);
/* check_missed()'s answer: the firing's state; raised: this very call created the firing's
 * alarm marker (exactly one call in the fleet does). */
typedef void (*lease_missed_cb)(LeaseFiringState state, bool raised, const char *error,
                                void *userdata);

/* A turn handed on (pass_turn()): a member that looks at a firing cannot run it (its previous
 * run of the job is still going) and asks another to stand in: claim it at the turn of rank
 * `rank` (core/elect.c), unless the store knows it claimed by then. */
typedef struct LeaseTurn {
        const char *job;
        int64_t scheduled;
        unsigned rank;          /* whose turn: the rank of the looker that handed it on */
        const char *from;       /* the member that handed it on, for the log */
} LeaseTurn;

typedef struct LeaseFleetCallbacks {
        /* A member handed this daemon a turn; from the loop. */
        void (*turn)(const LeaseTurn *t, void *userdata);
        void *userdata;
} LeaseFleetCallbacks;

typedef struct LeaseOps {
        const char *name;
        /* One host's store (the local lease): UNAVAILABLE means its record cannot be written,
         * not that another replica may have the firing; the firing runs, unrecorded. */
        bool local;
        /* A look at a firing (a lower rank's) costs this store a request, and a winner cannot
         * tell the others (S3): of the lower ranks only the fallback looks
         * (rendezvous_looks_alone()). false: rank 1 looks too (etcd tells them). */
        bool looks_alone;
        /* Start the election for one firing. A synchronous backend returns WON, HELD or
         * UNAVAILABLE at once (*ret_claim set for WON, *ret_info filled) and never calls
         * claimed(); an asynchronous one returns PENDING (*ret_claim set: it can be
         * cancelled) and calls claimed() once, from the loop. */
        LeaseResult (*claim)(LeaseStore *s, const LeaseRequest *req, const LeaseCallbacks *cb,
                             LeaseClaim **ret_claim, LeaseInfo *ret_info);
        /* The run is over: record how it ended as the proof of run, kept for the history
         * period, and release the lease. The daemon forgets c at once; the backend completes
         * the write on its own. */
        void (*finish)(LeaseClaim *c, const LeaseEnd *end);
        /* Forget a claim: a PENDING one (no claimed() will follow) or a won one (released
         * without a final record; daemon shutdown). Frees c. */
        void (*cancel)(LeaseClaim *c);
        /* takeover: watch a held firing; ended() runs at most once, from the loop: with
         * holder_died when its holder's lease expired while the record still says running,
         * without when the firing ended (a final record): nothing to watch any more. The
         * watch stays the caller's to unwatch(). NULL: not supported. */
        int (*watch)(LeaseStore *s, const LeaseRequest *req,
                     void (*ended)(bool holder_died, void *userdata), void *userdata,
                     LeaseWatch **ret);
        void (*unwatch)(LeaseWatch *w);
        /* The records of job's firings and manual runs scheduled at or after since, newest
         * first, at most limit, whichever replica ran them. */
        void (*history)(LeaseStore *s, const char *job, int64_t since, unsigned limit,
                        lease_records_cb done, void *userdata);
        /* Pause job for every replica (a marker in the store: claims of its firings answer
         * HELD, LEASE_HELD_PAUSED; manual runs still run), or resume it. by: who asked,
         * for the marker ("api on web-1"). */
        void (*set_paused)(LeaseStore *s, const char *job, bool paused, const char *by,
                           lease_done_cb done, void *userdata);
        /* The jobs paused in the store. */
        void (*list_paused)(LeaseStore *s, lease_jobs_cb done, void *userdata);
        /* The missed-firing alarm (daemon/core/missed.c): what has become of req's firing
         * (one read); with raise, when nobody holds or has run it (NONE or ABANDONED) and
         * the job is not paused, also create its alarm marker PREFIX/:missed/JOB/SCHEDULED
         * unless it exists (a conditional write, kept for the history period): raised is
         * true for exactly one caller in the fleet. Answers once, as the API's queries do.
         * NULL: not supported (the local lease: one host has no one else to tell). */
        void (*check_missed)(LeaseStore *s, const LeaseRequest *req, bool raise,
                             lease_missed_cb done, void *userdata);
        /* The fleet's live members as this store knows them, for ranking firings
         * (core/elect.c): *ret_ids (valid until the loop runs again) and this daemon's id in
         * *ret_self. Returns how many; 0 when not known (every replica then claims at once).
         * Never a request of its own: what a watch or the last listing saw. NULL: not known
         * (the local, redis and postgres backends). */
        size_t (*members)(LeaseStore *s, const char *const **ret_ids, const char **ret_self);
        /* How long a claim made now takes to reach the other members, in ms, as this
         * daemon's own requests have found the store lately (etcd: twice its round trip,
         * the claim's and the inbox watch's). A lower rank waits that much longer than
         * its turn, so that a slow store is not sent a transaction by every rank for every
         * firing, which would slow it further. NULL: 0. */
        uint64_t (*claim_lag_ms)(LeaseStore *s);
        /* The daemon takes part in the fleet from now on: become a member (etcd: open the
         * session and register), so that the others rank it, and hear of the turns handed
         * to it (cb, copied). Not for a store made only to be asked something (check
         * --store). NULL: nothing to join. */
        void (*join)(LeaseStore *s, const LeaseFleetCallbacks *cb);
        /* Hand turn t on to member `to` (etcd: a note in its inbox, on this daemon's
         * session: PREFIX/:inbox/TO/:turn/JOB/WHEN); with own, also delete the note of t's
         * firing in this daemon's inbox (it stood in, and cannot either); to NULL: only
         * that. done() once, as the API's queries. NULL: not supported (S3, where a member
         * hears of nothing without asking). */
        void (*pass_turn)(LeaseStore *s, const char *to, const LeaseTurn *t, bool own,
                          lease_done_cb done, void *userdata);
        /* One cheap request: does the store answer? */
        void (*probe)(LeaseStore *s, lease_done_cb done, void *userdata);
        /* Close: cancel what is in flight, then done(userdata) from the loop, then the store
         * is freed. */
        void (*close)(LeaseStore *s, void (*done)(void *userdata), void *userdata);
} LeaseOps;

struct LeaseStore {
        const LeaseOps *ops;
};

/* The embedded default: a lock file per job in DIR/leases (flock), so two daemons on one
 * host also run each firing once. Synchronous, unless a file's lock is taken: then PENDING,
 * tried again for up to `timeout` (election_timeout). close() needs the loop to run until
 * done when final records wait for a lock. */
int lease_local_new(uv_loop_t *loop, const char *dir, usec_t timeout, usec_t history,
                    LeaseStore **ret, char **reterr_message);
