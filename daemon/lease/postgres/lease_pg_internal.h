/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the files of the PostgreSQL lease backend only:
 *   lease_pg.c          the store: the schema and statements, alarms, the one connection
 *                       (libpq non-blocking on a uv_poll of PQsocket()), calls
 *   lease_pg_claim.c    claims (election, takeover, renewal, final record, release), the
 *                       history, pauses, the probe and watches
 * The design is described at the top of lease_pg.c. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lease.h"
#include "lease_pg.h"
#include "macro.h"
#include "pqlib.h"

#define PG_BACKOFF_MS           200U
#define PG_BACKOFF_MAX_MS       5000U
#define PG_WHY_MAX              320
#define PG_CLAIMS_MAX           4096
#define PG_PARAMS_MAX           10

typedef struct PgStore PgStore;
typedef struct PgCall PgCall;
typedef struct PgAlarm PgAlarm;
typedef struct PgQuery PgQuery;
typedef struct PgMissed PgMissed;

struct PgAlarm {                /* embedded in its owner; on store->alarms while armed */
        uint64_t when;          /* loop time, ms */
        void (*fn)(PgAlarm *a);
        PgAlarm *next;
        bool armed;
};

typedef enum PgStmt {           /* the prepared statements (lease_pg.c) */
        STMT_CLAIM,
        STMT_LOOK,
        STMT_TAKEOVER,
        STMT_RENEW,
        STMT_FINAL,
        STMT_RELEASE,
        STMT_WATCH,
        STMT_HISTORY,
        STMT_TRIM,
        STMT_PAUSE,
        STMT_RESUME,
        STMT_PAUSED,
        STMT_PING,
        STMT_MISSED,            /* lease_pg_missed.c; these last two may fail to prepare */
        STMT_TRIM_ALARMS,
        _STMT_MAX,
} PgStmt;

/* The answer to a call: res (PGRES_TUPLES_OK or PGRES_COMMAND_OK), valid during the
 * callback; or NULL and error < 0 with k->why saying why (-ETIMEDOUT: none by the deadline;
 * -EIO: the statement failed). The call is freed after the callback. */
typedef void (*lease_pg_call_done_cb)(PgCall *k, const PGresult *res, int error, void *owner);

struct PgCall {                 /* on store->calls (newest first) */
        PgStore *store;
        PgCall *prev, *next;
        PgStmt stmt;
        int n_params;
        char *params[PG_PARAMS_MAX];    /* NULL: SQL NULL; owned */
        bool sent, cancelled;
        uint64_t deadline;
        PgAlarm alarm;
        lease_pg_call_done_cb done;
        void *owner;
        char why[PG_WHY_MAX];
};

typedef enum PgConnState {
        PG_DOWN,                /* conn_alarm: the next attempt, if armed */
        PG_CONNECTING,          /* PQconnectPoll() */
        PG_SETUP,               /* the schema, then each statement prepared in turn */
        PG_UP,
} PgConnState;

typedef enum PgClaimState {
        PG_CLAIM_ELECT,         /* PENDING: insert, look, maybe take over */
        PG_CLAIM_WON,
        PG_CLAIM_FINAL,
        PG_CLAIM_DONE,
        PG_CLAIM_RELEASE,
} PgClaimState;

struct LeaseClaim {             /* on store->claims; the daemon's while PENDING or WON */
        PgStore *store;
        LeaseClaim *prev, *next;
        PgClaimState state;
        LeaseCallbacks cb;
        char *job, *key;        /* key: PREFIX/JOB/SCHEDULED, for SOLOCRON_LEASE_KEY */
        char *scheduled;        /* the row's: SCHEDULED-UTC or manual-KEY */
        char sched_at[24];      /* Unix seconds */
        char run[64];
        bool takeover, manual, took_over;
        char *record;           /* the running record (JSON, without its token) */
        uint64_t token;
        uint64_t deadline, renewed, renew_sent;
        bool lost;
        PgCall *call;
        PgAlarm alarm;
        char detail[PG_WHY_MAX + 64];
};

struct LeaseWatch {
        PgStore *store;
        LeaseWatch *prev, *next;
        char *job, *scheduled;
        void (*ended)(bool holder_died, void *userdata);
        void *userdata;
        PgCall *call;
        PgAlarm alarm;
};

typedef struct PgPoll PgPoll;

struct PgStore {
        LeaseStore store;
        uv_loop_t *loop;
        uv_timer_t timer;
        PgAlarm *alarms;
        char *prefix, *dsn;
        uint64_t ttl_ms, history_ms, election_ms;
        uint64_t trimmed;       /* loop time of the last trim of old rows; 0: never */
        char hostname[256];
        int64_t pid;

        PgConnState state;
        PGconn *conn;
        PgPoll *poll;           /* the connection's socket; NULL: none */
        unsigned n_polls;       /* poll handles not closed yet */
        unsigned setup_step;    /* PG_SETUP: 0 the schema, then 1 + the statement */
        PgCall *current;        /* the call on the wire */
        PGresult *result;       /* its last result so far */
        uint64_t backoff;
        PgAlarm conn_alarm;
        char why[PG_WHY_MAX];
        PgCall *calls;
        size_t n_live;

        LeaseClaim *claims;
        size_t n_claims;
        LeaseWatch *watches;
        PgQuery *queries;
        PgMissed *missed;       /* check_missed() calls, until answered */
        bool no_alarms;         /* solocron_alarms is missing: no missed-firing checks */
        bool closing, timer_closing;
        void (*close_done)(void *userdata);
        void *close_userdata;
        char detail[PG_WHY_MAX];
};

static inline uint64_t lease_pg_now_ms(const PgStore *s) {
        return uv_now(s->loop);
}

/* lease_pg.c */
void lease_pg_alarm_arm(PgStore *s, PgAlarm *a, uint64_t when, void (*fn)(PgAlarm *a));
void lease_pg_alarm_disarm(PgStore *s, PgAlarm *a);
void lease_pg_store_maybe_closed(PgStore *s);
int64_t lease_pg_wall_sec(void);
const char *lease_pg_clean(const char *in, char *buf, size_t n);
/* A call of a prepared statement with n params (NULL: SQL NULL). NULL: out of memory. */
PgCall *lease_pg_call(PgStore *s, PgStmt stmt, const char *const *params, int n,
                      uint64_t deadline, lease_pg_call_done_cb done, void *owner);
void lease_pg_call_cancel(PgCall *k);
/* "no answer from postgres within N ms: …" or the statement's error. */
void lease_pg_call_failure(PgCall *k, int error, char *buf, size_t n);

/* lease_pg_claim.c */
LeaseResult lease_pg_claim(LeaseStore *store, const LeaseRequest *req, const LeaseCallbacks *cb,
                           LeaseClaim **ret_claim, LeaseInfo *ret_info);
void lease_pg_finish(LeaseClaim *c, const LeaseEnd *end);
void lease_pg_cancel(LeaseClaim *c);
void lease_pg_claim_release(LeaseClaim *c);
void lease_pg_history(LeaseStore *store, const char *job, int64_t since, unsigned limit,
                      lease_records_cb done, void *userdata);
void lease_pg_set_paused(LeaseStore *store, const char *job, bool paused, const char *by,
                         lease_done_cb done, void *userdata);
void lease_pg_list_paused(LeaseStore *store, lease_jobs_cb done, void *userdata);
void lease_pg_probe(LeaseStore *store, lease_done_cb done, void *userdata);
void lease_pg_queries_close(PgStore *s);
int lease_pg_watch(LeaseStore *store, const LeaseRequest *req,
                   void (*ended)(bool holder_died, void *userdata), void *userdata,
                   LeaseWatch **ret);
void lease_pg_unwatch(LeaseWatch *w);

/* lease_pg_missed.c */
void lease_pg_check_missed(LeaseStore *store, const LeaseRequest *req, bool raise,
                           lease_missed_cb done, void *userdata);
/* close(): every check still waiting is answered with an error, and freed. */
void lease_pg_missed_close(PgStore *s);
