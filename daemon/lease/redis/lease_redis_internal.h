/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the files of the Redis lease backend only:
 *   lease_redis.c         the store: creation, endpoints, alarms on its one timer, closing
 *   lease_redis_conn.c    the one connection (hiredis on the loop), its handshake, and calls:
 *                         commands and scripts retried across reconnections until a deadline
 *   lease_redis_claim.c   a claim: the election, renewal, the final record, release
 *   lease_redis_fleet.c   what the API asks (history, pause markers, the probe) and watches
 * The design and the keys are described at the top of lease_redis.c. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lease.h"
#include "lease_redis.h"
#include "macro.h"
#include "redislib.h"

#define REDIS_BACKOFF_MS        200U            /* after a round of failed endpoints; doubles */
#define REDIS_BACKOFF_MAX_MS    5000U
#define REDIS_WHY_MAX           320
#define REDIS_CLAIMS_MAX        4096            /* claims in flight, won, or finishing */

typedef struct RedisStore RedisStore;
typedef struct RedisCall RedisCall;
typedef struct RedisAlarm RedisAlarm;

struct RedisAlarm {             /* embedded in its owner; on store->alarms while armed */
        uint64_t when;          /* loop time, ms */
        void (*fn)(RedisAlarm *a);
        RedisAlarm *next;
        bool armed;
};

typedef enum RedisScript {      /* the Lua scripts (lease_redis_claim.c, lease_redis_fleet.c) */
        SCRIPT_CLAIM,
        SCRIPT_RENEW,
        SCRIPT_FINAL,
        SCRIPT_RELEASE,
        SCRIPT_WATCH,
        SCRIPT_HISTORY,
        SCRIPT_MISSED,          /* lease_redis_missed.c */
        _SCRIPT_MAX,
} RedisScript;

extern const char *const lease_redis_scripts[_SCRIPT_MAX];

/* The answer to a call: reply is the server's (an error reply included: the caller reads
 * it), valid during the callback; or NULL and error < 0 (-ETIMEDOUT: no answer by the
 * deadline, -EACCES: the server refused the credentials), with k->why saying why. The call is
 * freed after the callback. */
typedef void (*lease_redis_call_done_cb)(RedisCall *k, const redisReply *reply, int error,
                                         void *owner);

struct RedisCall {              /* on store->calls; owned by itself, pointed to by its owner */
        RedisStore *store;
        RedisCall *prev, *next;
        int script;             /* RedisScript, or -1: a plain command */
        bool use_eval;          /* the server forgot the script (NOSCRIPT): send its text */
        bool sent;              /* on the wire: its reply (or NULL) comes to the conn */
        bool cancelled;         /* the owner let go: freed when hiredis does */
        int argc;
        char **argv;            /* one allocation with argvlen; a script's 0 and 1 are
                                 * filled when sent (EVALSHA SHA or EVAL TEXT) */
        size_t *argvlen;
        uint64_t deadline;      /* loop time, ms */
        RedisAlarm alarm;       /* the deadline */
        lease_redis_call_done_cb done;
        void *owner;
        char why[REDIS_WHY_MAX];
};

typedef enum ConnState {
        CONN_DOWN,              /* no connection; conn_alarm: the next attempt, if armed */
        CONN_RESOLVING,         /* uv_getaddrinfo() of the endpoint's host */
        CONN_CONNECTING,        /* TCP connect, then the handshake: AUTH, SELECT, SCRIPT LOAD */
        CONN_UP,                /* calls go out at once */
} ConnState;

typedef struct Endpoint {
        char *host;
        char port[8];           /* and as a number: */
        unsigned port_number;
        unsigned db;
} Endpoint;

typedef enum ClaimState {
        CLAIM_ELECT,            /* PENDING: the claim script */
        CLAIM_WON,              /* the daemon's: renewing */
        CLAIM_FINAL,            /* finish(): writing the final record */
        CLAIM_DONE,             /* claimed() is running: released after it */
        CLAIM_RELEASE,          /* deleting its lease, then freed */
} ClaimState;

struct LeaseClaim {             /* on store->claims; the daemon's while PENDING or WON */
        RedisStore *store;
        LeaseClaim *prev, *next;
        ClaimState state;
        LeaseCallbacks cb;
        char *key;              /* PREFIX/JOB/SCHEDULED (the lease), and its record: */
        char *record_key;       /* KEY/record */
        char *job;              /* NULL: a manual run's claim, which ignores the pause */
        char run[64];           /* the run id: what renewal and the final record compare */
        char scheduled[24];     /* Unix seconds: the score in the job's history index */
        bool takeover, manual;
        json_t *record;         /* the running record; finish() completes it */
        uint64_t token;         /* WON: the fencing token */
        uint64_t deadline;      /* election or final write: loop time, ms */
        uint64_t renewed;       /* WON: the lease runs at least until renewed + ttl */
        uint64_t renew_sent;    /* WON: when the renewal in flight went out */
        bool lost;
        RedisCall *call;
        RedisAlarm alarm;       /* WON: the next renewal */
        char detail[REDIS_WHY_MAX + 64];
};

struct LeaseWatch {             /* the daemon's; on store->watches */
        RedisStore *store;
        LeaseWatch *prev, *next;
        char *key, *record_key;
        void (*ended)(bool holder_died, void *userdata);
        void *userdata;
        RedisCall *call;
        RedisAlarm alarm;       /* the next look */
};

typedef struct RedisQuery RedisQuery;
typedef struct RedisMissed RedisMissed;

struct RedisStore {
        LeaseStore store;
        uv_loop_t *loop;
        uv_timer_t timer;       /* the earliest alarm */
        RedisAlarm *alarms;     /* earliest first */
        char *prefix;
        Endpoint *endpoints;
        size_t n_endpoints;
        char *username, *password;
        uint64_t ttl_ms, history_ms, election_ms;
        char hostname[256];
        int64_t pid;

        /* the connection (lease_redis_conn.c) */
        ConnState state;
        redisAsyncContext *ac;
        uv_getaddrinfo_t resolve;
        bool resolving;         /* resolve is in flight: closing waits for it */
        unsigned n_polls;       /* poll handles not closed yet: closing waits for them */
        size_t endpoint, failures;
        uint64_t backoff;       /* ms; 0: none yet */
        unsigned handshake_left; /* replies the handshake still waits for */
        RedisAlarm conn_alarm;  /* the next attempt, or the handshake's deadline */
        char sha[_SCRIPT_MAX][41];
        char why[REDIS_WHY_MAX];  /* the last connection failure */
        RedisCall *calls;
        size_t n_live;          /* calls not cancelled */

        LeaseClaim *claims;
        size_t n_claims;
        LeaseWatch *watches;
        RedisQuery *queries;
        RedisMissed *missed;    /* check_missed() calls, until answered */
        bool closing, timer_closing;
        void (*close_done)(void *userdata);
        void *close_userdata;
        char detail[REDIS_WHY_MAX];     /* claim()'s synchronous UNAVAILABLE */
};

static inline uint64_t lease_redis_now_ms(const RedisStore *s) {
        return uv_now(s->loop);
}

/* lease_redis.c */
void lease_redis_alarm_arm(RedisStore *s, RedisAlarm *a, uint64_t when, void (*fn)(RedisAlarm *a));
void lease_redis_alarm_disarm(RedisStore *s, RedisAlarm *a);
void lease_redis_store_maybe_closed(RedisStore *s);
/* The wall clock in Unix seconds, for records (see lease_etcd_internal.h). */
int64_t lease_redis_wall_sec(void);
/* s with control characters and quotes made harmless, for details. */
const char *lease_redis_clean(const char *in, char *buf, size_t n);

/* lease_redis_conn.c */
/* A script call: n_args strings, the first nkeys of them keys. NULL: out of memory. */
RedisCall *lease_redis_script(RedisStore *s, RedisScript script, unsigned nkeys,
                              const char *const *args, size_t n_args, uint64_t deadline,
                              lease_redis_call_done_cb done, void *owner);
/* A command (args[0] is its name). NULL: out of memory. */
RedisCall *lease_redis_command(RedisStore *s, const char *const *args, size_t n_args,
                               uint64_t deadline, lease_redis_call_done_cb done, void *owner);
/* The owner lets go: done() will not run. NULL is fine. */
void lease_redis_call_cancel(RedisCall *k);
/* A reply that is not the wanted type, as k->why: "unexpected reply to …". */
void lease_redis_call_why(RedisCall *k, const char *fmt, ...) _printf_(2, 3);
/* The failure of a call, for details: k->why, or the error reply's text. */
const char *lease_redis_call_failure(RedisCall *k, const redisReply *reply, int error);
/* Closing and no live call: drop the connection (hiredis answers the cancelled calls). */
void lease_redis_conn_close(RedisStore *s);
/* No poll handle, resolve or connection left. */
bool lease_redis_conn_closed(const RedisStore *s);

/* lease_redis_claim.c */
LeaseResult lease_redis_claim(LeaseStore *store, const LeaseRequest *req, const LeaseCallbacks *cb,
                              LeaseClaim **ret_claim, LeaseInfo *ret_info);
void lease_redis_finish(LeaseClaim *c, const LeaseEnd *end);
void lease_redis_cancel(LeaseClaim *c);
void lease_redis_claim_release(LeaseClaim *c);
/* A record (JSON text) as a HELD detail: "HOST pid N", "already run: STATUS". */
void lease_redis_record_describe(const json_t *rec, char *buf, size_t n);
bool lease_redis_record_is_running(const json_t *rec);

/* lease_redis_fleet.c */
char *lease_redis_key(const RedisStore *s, const char *job, const char *what);
void lease_redis_history(LeaseStore *store, const char *job, int64_t since, unsigned limit,
                         lease_records_cb done, void *userdata);
void lease_redis_set_paused(LeaseStore *store, const char *job, bool paused, const char *by,
                            lease_done_cb done, void *userdata);
void lease_redis_list_paused(LeaseStore *store, lease_jobs_cb done, void *userdata);
void lease_redis_probe(LeaseStore *store, lease_done_cb done, void *userdata);
void lease_redis_queries_close(RedisStore *s);
int lease_redis_watch(LeaseStore *store, const LeaseRequest *req,
                      void (*ended)(bool holder_died, void *userdata), void *userdata,
                      LeaseWatch **ret);
void lease_redis_unwatch(LeaseWatch *w);

/* lease_redis_missed.c */
void lease_redis_check_missed(LeaseStore *store, const LeaseRequest *req, bool raise,
                              lease_missed_cb done, void *userdata);
/* close(): every check still waiting is answered with an error, and freed. */
void lease_redis_missed_close(RedisStore *s);
