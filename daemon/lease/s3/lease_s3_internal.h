/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the files of the S3 lease backend only:
 *   lease_s3.c          the store: creation, the conditional-write probe, closing, helpers
 *   lease_s3_claim.c    a claim: its record, its life, the election
 *   lease_s3_hold.c     a won claim: renewal, read-back of a 412, the final record
 *   lease_s3_watch.c    watching a held firing for its holder's expiry
 *   lease_s3_history.c  listing keys; deleting our own records older than history
 *   lease_s3_members.c  heartbeats; the fleet's listing: members (ranking), pause markers
 *   lease_s3_fleet.c    the API's queries: a job's records, pause markers, the probe
 *   lease_s3_missed.c   the missed-firing alarm: a firing's state, its alarm marker
 * The design is described at the top of lease_s3.c. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "lease.h"
#include "lease_s3.h"
#include "s3.h"
#include "timeutil.h"

#define LEASE_S3_RECORD_MAX             (64U * 1024U)   /* bytes of a record we read */
#define LEASE_S3_TIMEOUT_MAX_MS         10000U          /* one request */
#define LEASE_S3_TIMEOUT_MIN_MS         200U
#define LEASE_S3_DETAIL_MAX             512
#define LEASE_S3_GRACE_MAX_MS           2000U           /* see S3Store.grace */
#define LEASE_S3_RETRY_FIRST_MS         100U            /* backoff: doubles up to … */
#define LEASE_S3_RETRY_MAX_MS           2000U

#define MSEC(u) ((uint64_t) ((u) / USEC_PER_MSEC))

typedef enum ProbeState {
        PROBE_NONE,                     /* not run, or failed: the next claim runs it */
        PROBE_RUNNING,
        PROBE_OK,
        PROBE_REFUSED,                  /* the endpoint ignores conditional writes: for good */
} ProbeState;

typedef enum ClaimState {
        CLAIM_PROBE,                    /* waiting for the store's probe */
        CLAIM_LISTING,                  /* waiting for the fleet's listing (pause markers) */
        CLAIM_PAUSE,                    /* GET of the job's pause marker in flight */
        CLAIM_READ,                     /* GET of the record in flight */
        CLAIM_WRITE,                    /* conditional PUT in flight */
        CLAIM_BACKOFF,                  /* timer, then retry_state */
        CLAIM_WON,                      /* renewal timer armed, or a renewal in flight (op) */
        CLAIM_FINISHING,                /* the final write, or its backoff; the daemon let go */
        CLAIM_GONE,                     /* unlinked, timer closing, then freed */
} ClaimState;

typedef struct HistoryJob HistoryJob;
typedef struct S3Query S3Query;
typedef struct S3Missed S3Missed;
typedef struct S3Listing S3Listing;

typedef enum S3Paused {                 /* a job, as the fleet's listing shows it */
        S3_PAUSED_UNKNOWN,              /* no listing recent enough: read the marker */
        S3_PAUSED_NO,
        S3_PAUSED_LISTED,               /* a marker was there: read it (it may be gone) */
        S3_PAUSED_WAIT,                 /* a listing is under way: CLAIM_LISTING until it ends */
} S3Paused;

typedef struct S3Store {                /* owned by the daemon until close() completes */
        LeaseStore store;
        uv_loop_t *loop;
        S3Client *s3;
        char *prefix;                   /* no trailing '/' */
        usec_t ttl, election_timeout, history, skew;
        usec_t grace;                   /* election_timeout / 2, at most LEASE_S3_GRACE_MAX_MS:
                                         * how long after the election's deadline a request
                                         * then in flight may still answer, and a 412 among
                                         * the answers be read back */
        char *hostname;
        char boot_id[40];
        int64_t pid;
        ProbeState probe;
        unsigned probe_step;
        S3Op *probe_op;
        char *probe_key;
        char probe_error[LEASE_S3_DETAIL_MAX];
        bool probe_error_permanent;     /* TLS, refused credentials, no bucket: fail claims now */
        LeaseClaim *claims;             /* every claim until GONE: the daemon's and finishing */
        LeaseWatch *watches;
        HistoryJob *history_jobs;       /* lease_s3_history.c */
        HistoryJob *history_running;
        S3Op *history_op;
        char **history_doomed;          /* keys of the page the pass deletes, one at a time */
        size_t n_history_doomed, i_history_doomed;
        char *history_token;            /* the pass's next page, or NULL: none */
        unsigned history_pages;         /* pages of the pass so far */
        bool history_manual;            /* the pass lists manual runs' records now */
        S3Query *queries;               /* the API's, until answered (lease_s3_fleet.c) */
        S3Missed *missed;               /* check_missed() calls, until answered */
        bool joined;                    /* the members (lease_s3_members.c): heartbeats */
        uv_timer_t member_timer;        /* the next heartbeat; initialised by join() */
        S3Op *heartbeat_op, *listing_op;
        char *member_id, *member_key;
        char *members_prefix, *paused_prefix, *listing_prefix;
        S3Listing *listing;             /* under way */
        char **members;                 /* the live members at the last listing */
        size_t n_members;
        char **paused;                  /* the jobs paused at the last listing */
        size_t n_paused;
        bool paused_known;              /* the last listing read every pause marker */
        uint64_t listed_ms;             /* when the last listing was asked for; 0: never */
        char listing_error[LEASE_S3_DETAIL_MAX];        /* why the last one failed, or "" */
        unsigned n_handles;             /* timers being closed */
        bool closing, s3_closing;
        void (*close_done)(void *userdata);
        void *close_userdata;
} S3Store;

struct LeaseClaim {                     /* owned by the store; the daemon borrows it until
                                         * finish() or cancel(), or a claimed() other than WON */
        S3Store *store;
        LeaseClaim *prev, *next;
        uv_timer_t timer;
        S3Op *op;
        ClaimState state;
        ClaimState retry_state;         /* BACKOFF: PROBE, PAUSE, READ or WRITE */
        LeaseCallbacks cb;
        char *job, *run_id, *key;
        char *manual;                   /* a manual run's key, or NULL */
        int64_t scheduled;
        unsigned attempt;
        bool takeover;                  /* READ first, take over an expired record */
        bool late;                      /* a lower rank: READ first, and stand down if the
                                         * firing is claimed (a GET is one request, a 412 two) */
        uint64_t generation;            /* of the record we write: the fencing token */
        json_t *previous;               /* abandoned holders, for our record */
        char started[48];
        char *etag;                     /* WON: ours; takeover WRITE: the stale one */
        uint64_t deadline_ms;           /* election, or final write: give up after */
        unsigned retry_ms;
        uint64_t write_started_ms;
        uint64_t renewed_ms;            /* start of the last write known to be applied */
        uint64_t unconfirmed_ms;        /* unconfirmed: start of the first write since then,
                                         * the earliest that may have been applied unseen */
        bool unconfirmed;
        bool lost, replaced, finish_pending;
        char *result;                   /* finish() */
        char *output;                   /* finish(): where the output is kept, or NULL */
        int64_t exit_status, duration_msec;
        char detail[LEASE_S3_DETAIL_MAX];
};

struct LeaseWatch {                     /* owned by the store until unwatch() or close() */
        S3Store *store;
        LeaseWatch *prev, *next;
        uv_timer_t timer;
        S3Op *op;
        char *key;
        void (*ended)(bool holder_died, void *userdata);
        void *userdata;
        bool done;                      /* ended() ran */
        bool gone;
};

/* lease_s3.c */
uint64_t lease_s3_now_ms(const S3Store *s);
/* A job name that can be a key's path segment. */
bool lease_s3_job_valid(const char *job);
/* The key of req's firing, PREFIX/JOB/SCHEDULED-UTC, or of its manual run,
 * PREFIX/JOB/manual-KEY. -EINVAL: not a valid job name or manual key. */
int lease_s3_key(const S3Store *s, const LeaseRequest *req, char **ret);
uint32_t lease_s3_timeout_until(const S3Store *s, uint64_t deadline_ms);
bool lease_s3_is_transient(const S3Response *r);
bool lease_s3_is_2xx(const S3Response *r);
/* 404, the key's (not the bucket's). */
bool lease_s3_is_no_such_key(const S3Response *r);
/* By the server's clock only: Date - Last-Modified of one answer > ttl + max_clock_skew. */
bool lease_s3_is_expired(const S3Store *s, const S3Response *r);
/* A record we understand (an object with a status and a generation), or NULL. */
json_t *lease_s3_record_parse(const S3Response *r);
bool lease_s3_record_running(const json_t *rec);
void lease_s3_probe_start(S3Store *s);
void lease_s3_maybe_closed(S3Store *s);

/* lease_s3_claim.c */
LeaseResult lease_s3_claim_start(LeaseStore *store, const LeaseRequest *req,
                                 const LeaseCallbacks *cb, LeaseClaim **ret_claim,
                                 LeaseInfo *ret_info);
void lease_s3_claim_cancel(LeaseClaim *c);
/* Call go_on() for each claim in state `waiting` (CLAIM_PROBE, CLAIM_LISTING), which must
 * move it out of that state: what they waited for has ended. */
void lease_s3_claims_go_on(S3Store *s, ClaimState waiting, void (*go_on)(LeaseClaim *c));
/* The probe ended: go on (or fail) from CLAIM_PROBE. */
void lease_s3_claim_probed(LeaseClaim *c);
/* The fleet's listing ended: go on from CLAIM_LISTING. */
void lease_s3_claim_listed(LeaseClaim *c);
/* The claim's timer: backoff, renewal, final write. */
void lease_s3_on_claim_timer(uv_timer_t *t);
/* Try again after a pause, until the deadline; then UNAVAILABLE with the last reason (or,
 * for a final record, give up). */
void lease_s3_claim_retry(LeaseClaim *c, ClaimState what, const char *why);
/* PUT our record (status running, or the final one): If-None-Match: * without an ETag,
 * else If-Match: the ETag. Every write is unconfirmed until an answer or a read-back. */
int lease_s3_claim_put(LeaseClaim *c, const char *status, bool final, uint32_t timeout_ms,
                       s3_done_cb done);
/* GET our key. */
int lease_s3_claim_get(LeaseClaim *c, uint32_t timeout_ms, s3_done_cb done);
/* The record names this claim: its run, generation and holder (host, boot, pid). */
bool lease_s3_record_is_ours(const LeaseClaim *c, const json_t *rec);
/* The record holds what we wrote, under etag: from the answer to our last write, or
 * read_back from a GET (then as of the earliest unconfirmed write). -ENOMEM. */
int lease_s3_claim_confirm(LeaseClaim *c, const char *etag, bool read_back);

/* lease_s3_hold.c */
/* Won: renew ttl/3 after the last good write. */
void lease_s3_hold_schedule(LeaseClaim *c);
/* The timer of a WON or FINISHING claim. */
void lease_s3_hold_on_timer(LeaseClaim *c);
void lease_s3_claim_finish(LeaseClaim *c, const LeaseEnd *end);

/* lease_s3_watch.c */
int lease_s3_watch_start(LeaseStore *store, const LeaseRequest *req,
                         void (*ended)(bool holder_died, void *userdata), void *userdata,
                         LeaseWatch **ret);
void lease_s3_watch_stop(LeaseWatch *w);

/* lease_s3_members.c */
void lease_s3_join(LeaseStore *store, const LeaseFleetCallbacks *cb);
size_t lease_s3_members(LeaseStore *store, const char *const **ret_ids, const char **ret_self);
/* How long a listing is recent enough for a pause look: ttl/3, at most 10 s. */
uint64_t lease_s3_listing_window_ms(const S3Store *s);
/* Is job paused, as a listing recent enough shows? With may_wait, one is started when the
 * last is older (then S3_PAUSED_WAIT). */
S3Paused lease_s3_paused(S3Store *s, const char *job, bool may_wait);
/* This daemon paused (or resumed) job: its listing says so at once. */
void lease_s3_paused_note(S3Store *s, const char *job, bool paused);
/* Closing: no more heartbeats; the member's object is deleted. */
void lease_s3_members_stop(S3Store *s);
void lease_s3_members_free(S3Store *s);

/* lease_s3_history.c */
typedef struct LeaseS3List {            /* one page of a ListObjectsV2 */
        const char *prefix;
        const char *start_after;        /* the keys after this one, or NULL: from the first */
        const char *token;              /* or: the page this continuation token names */
        const char *max_keys;           /* NULL: "1000" */
        uint32_t timeout_ms;
        s3_done_cb done;
        void *userdata;
} LeaseS3List;
/* A key of a listing page and its Last-Modified (Unix seconds): 0 for the next key, 1 to
 * stop there, or a negative errno. */
typedef int (*lease_s3_list_each_cb)(const char *key, int64_t last_modified, void *userdata);
int lease_s3_list(S3Store *s, const LeaseS3List *l, S3Op **ret_op);
/* Calls each() for the keys of one ListObjectsV2 answer, in order, until it says stop: 0
 * (every key seen), 1 (stopped), or a negative errno (-EBADMSG: not a listing). *ret_token:
 * the next page's continuation token, or NULL on the last page. */
int lease_s3_list_parse(const S3Response *r, lease_s3_list_each_cb each, void *userdata,
                        char **ret_token);
/* A final record of job was written: delete its old records, at most once an hour. */
void lease_s3_history_note(S3Store *s, const char *job);
/* Closing: stop a pass in progress. */
void lease_s3_history_stop(S3Store *s);
void lease_s3_history_free(S3Store *s);

/* lease_s3_fleet.c */
/* GET job's pause marker, PREFIX/:paused/JOB (404: not paused). */
int lease_s3_marker_get(S3Store *s, const char *job, uint32_t timeout_ms, s3_done_cb done,
                        void *userdata, S3Op **ret_op);
/* "the job is paused (by api on web-1, at 2026-12-01T06:00:00Z)", from the marker's GET. */
void lease_s3_marker_describe(const S3Response *r, char *buf, size_t size);
void lease_s3_history_query(LeaseStore *store, const char *job, int64_t since, unsigned limit,
                            lease_records_cb done, void *userdata);
void lease_s3_set_paused(LeaseStore *store, const char *job, bool paused, const char *by,
                         lease_done_cb done, void *userdata);
void lease_s3_list_paused(LeaseStore *store, lease_jobs_cb done, void *userdata);
void lease_s3_probe(LeaseStore *store, lease_done_cb done, void *userdata);
/* Closing: answer every query still waiting with an error, and free it. */
void lease_s3_fleet_stop(S3Store *s);

/* lease_s3_missed.c */
void lease_s3_check_missed(LeaseStore *store, const LeaseRequest *req, bool raise,
                           lease_missed_cb done, void *userdata);
/* Closing: answer every check still waiting with an error, and free it. */
void lease_s3_missed_stop(S3Store *s);
