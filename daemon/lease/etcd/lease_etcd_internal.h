/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the files of the etcd lease backend only:
 *   lease_etcd.c          the store: creation, closing
 *   lease_etcd_alarm.c    the alarms on the store's one timer
 *   lease_etcd_call.c     one request: across the endpoints, with authentication and backoff
 *   lease_etcd_record.c   records and their encoding, range replies, the seen cache
 *   lease_etcd_claim.c    a claim: grant and election, renewal, finish, cancel
 *   lease_etcd_watch.c    watching a held firing for its holder's expiry
 *   lease_etcd_fleet.c    what the API asks: the history, pause markers, the probe
 *   lease_etcd_missed.c   the missed-firing alarm: a firing's state, its alarm marker
 *   lease_etcd_session.c  the daemon's session lease, its member key, the members' watch
 *                         and the inbox's
 * The design is described at the top of lease_etcd.c. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "http.h"
#include "lease.h"
#include "lease_etcd.h"
#include "macro.h"

#define ETCD_BACKOFF_MS         200U            /* after a round of failed endpoints; doubles */
#define ETCD_SEEN_MAX           64              /* running records remembered for takeovers */
#define ETCD_WHY_MAX            320

typedef struct EtcdStore EtcdStore;
typedef struct EtcdCall EtcdCall;
typedef struct EtcdQuery EtcdQuery;
typedef struct Alarm Alarm;
typedef struct EtcdMissed EtcdMissed;

struct Alarm {                  /* embedded in its owner; in store->alarms while armed */
        uint64_t when;          /* loop time, ms */
        uint64_t seq;           /* the order of arming: first armed, first run */
        void (*fn)(Alarm *a);
        Alarm *child, *sibling, *prev;  /* the pairing heap (lease_etcd_alarm.c); prev: the
                                         * left sibling, or the parent of a first child */
        bool armed;
};

/* reply: the JSON object of a 200 answer; else NULL, error < 0 and k->why says why. Returns 0,
 * or -EAGAIN after filling k->why to call the reply malformed: the next endpoint is tried. */
typedef int (*lease_etcd_call_done_cb)(EtcdCall *k, json_t *reply, int error, void *owner);
/* A stream's data (lease_etcd_call_stream), from inside libcurl: see http_data_cb. */
typedef bool (*lease_etcd_call_data_cb)(const char *data, size_t size, void *owner);

struct EtcdCall {               /* one request, retried; owned by itself, pointed to by its owner */
        EtcdStore *store;
        const char *path;       /* "/v3/kv/txn" */
        char *body;             /* JSON; borrowed by the transfer */
        char *auth_body;        /* authenticate's body (holds the password): wiped when freed */
        uint64_t deadline;      /* loop time, ms */
        size_t reply_max;       /* bytes; 0: one record's worth (lease_etcd_call.c) */
        uint64_t backoff;       /* ms */
        uint64_t sent;          /* when the last attempt started: a lease runs from no earlier */
        size_t endpoint;        /* the last attempt's */
        size_t failures;        /* in this round of endpoints */
        unsigned reauths;
        bool authenticating, delivering, cancelled;
        HttpTransfer *transfer;
        Alarm alarm;            /* the next attempt */
        lease_etcd_call_done_cb done;
        lease_etcd_call_data_cb on_data;   /* a stream: see lease_etcd_call_stream() */
        uint32_t stream_ms;
        bool streaming;         /* the stream has started: its end goes to done */
        void *owner;
        char why[ETCD_WHY_MAX];
};

typedef struct EtcdTurn {       /* a turn handed to us: a note in our inbox (LeaseTurn) */
        char *job, *from;
        int64_t scheduled;
        unsigned rank;
} EtcdTurn;

typedef struct EtcdClaimed {    /* a firing another member claimed, from a note in our inbox */
        uint64_t hash;          /* FNV-1a of its key; 0: a free slot */
        uint64_t at_ms;         /* when the inbox last saw it (loop time) */
        int64_t pid;            /* its holder's (ranking the missed check, the HELD detail) */
        uint16_t host;          /* its holder's host name, interned (0: not known) */
        bool done;              /* its holder deleted the note with its final record */
} EtcdClaimed;

typedef enum ClaimState {
        CLAIM_GRANT,            /* PENDING: waiting for the session and the history lease */
        CLAIM_TXN,              /* PENDING: the election */
        CLAIM_WON,              /* the daemon's: renewing */
        CLAIM_FINAL,            /* finish(): writing the final record */
        CLAIM_DONE,             /* claimed() is running: released after it */
        CLAIM_RELEASE,          /* revoking what it holds, then freed */
} ClaimState;

typedef enum FinalStep {
        FINAL_UPDATE,           /* txn: mod_revision == token */
        FINAL_CREATE,           /* txn: the key is gone (our lease expired): create_revision == 0 */
} FinalStep;

struct LeaseClaim {             /* on store->claims; the daemon's while PENDING or WON */
        EtcdStore *store;
        LeaseClaim *prev, *next;
        ClaimState state;
        FinalStep step;
        LeaseCallbacks cb;
        char *key, *key64;      /* and in base64 */
        char *mark64;           /* the firing's marker, KEY/claimed, in base64 */
        char *pause64;          /* the job's pause marker in base64; NULL: a manual run's
                                 * claim, which ignores it */
        char **notes64;         /* the notes the claim leaves in the inboxes of the members
                                 * it tells (LeaseRequest.tell), in base64 */
        size_t n_notes;
        char *turn64;           /* a stand-in's: the turn's note in our inbox, which the
                                 * election deletes (LeaseRequest.stand_in); or NULL */
        bool takeover;          /* the claim may win while the marker exists */
        json_t *record;         /* the running record; finish() completes it */
        uint64_t lease;         /* the session lease the claim uses, 0 before it has one */
        uint64_t session_wait;  /* waiting for the session of this session_gen:
                                 * lease_etcd_claim_on_session() follows; 0: not waiting */
        bool lose_pending;      /* the session or the watch found it lost: lost() follows
                                 * from the loop, with detail */
        uint64_t history;       /* the store's history lease for the marker or the final
                                 * record; 0: none yet (never ours to revoke) */
        uint64_t history_wait;  /* waiting for the store's grant of this history_gen:
                                 * lease_etcd_claim_on_history() follows; 0: not waiting */
        uint64_t token;         /* WON: the key's mod_revision */
        uint64_t deadline;      /* election or final write: loop time, ms */
        bool lost;
        EtcdCall *call;
        Alarm alarm;            /* WON: the next renewal */
        char detail[ETCD_WHY_MAX + 64];
};

typedef enum WatchVerdict {
        WATCH_GOING,            /* nothing decided yet */
        WATCH_EXPIRED,          /* the key is gone with its holder's lease: take over */
        WATCH_FINAL,            /* a final record: nothing to take over */
        WATCH_RESYNC,           /* the stream cannot go on (compacted, error): range again */
} WatchVerdict;

struct LeaseWatch {             /* the daemon's; on store->watches */
        EtcdStore *store;
        LeaseWatch *prev, *next;
        char *key, *key64;
        void (*ended)(bool holder_died, void *userdata);
        void *userdata;
        EtcdCall *call;         /* the range, or the watch stream */
        Alarm alarm;            /* the next range (a poll, without a stream) */
        bool streaming;         /* call is a stream: counted in store->n_streams */
        WatchVerdict verdict;   /* what the stream saw, acted on when it has ended */
        uint64_t revision;      /* the store's revision the watch has seen up to */
        char *line;             /* the stream's incomplete line */
        size_t line_len;
};

typedef enum QueryKind {        /* what the API asks (lease_etcd_fleet.c) */
        QUERY_HISTORY,
        QUERY_SET_PAUSED,
        QUERY_LIST_PAUSED,
        QUERY_PROBE,
        QUERY_PASS_TURN,
} QueryKind;

typedef union QueryCallback {
        lease_records_cb records;       /* QUERY_HISTORY */
        lease_jobs_cb jobs;             /* QUERY_LIST_PAUSED */
        lease_done_cb done;             /* the others */
} QueryCallback;

struct EtcdQuery {              /* on store->queries until answered, which frees it */
        EtcdStore *store;
        EtcdQuery *prev, *next;
        QueryKind kind;
        QueryCallback cb;
        void *userdata;
        uint64_t deadline;      /* loop time, ms: the election timeout */
        EtcdCall *call;
};

typedef struct EtcdFollow {     /* one of the session's watch streams */
        EtcdCall *call;         /* its request: the members' first range, then the stream */
        Alarm alarm;            /* its next start */
        bool live;              /* it streams: what it keeps can be trusted */
        char *line;             /* the stream's incomplete line */
        size_t line_len;
        uint64_t revision;      /* the newest revision it has streamed (the inbox's next
                                 * stream resumes after it); 0: none */
} EtcdFollow;

typedef struct Seen {           /* a running record seen in a claim or a watch */
        char *key;
        json_t *record;
        uint64_t mod_revision;
} Seen;

struct EtcdStore {
        LeaseStore store;
        uv_loop_t *loop;
        HttpClient *http;
        uv_timer_t timer;       /* the earliest alarm */
        Alarm *alarms;          /* the heap's root: the earliest */
        uint64_t alarm_seq;
        char *prefix;
        char **endpoints;       /* without a trailing '/' */
        size_t n_endpoints, current;
        char *username, *password, *ca_file, *cert_file, *key_file;
        char *token;            /* auth token; "" when etcd has auth disabled; NULL: none yet */
        uint64_t ttl_ms, history_s, election_ms;
        uint64_t round_trip_ms; /* of the answered requests, a running average (call.c) */
        uint64_t history_lease; /* shared by the markers and final records of this store ... */
        uint64_t history_until; /* ... until then (loop time, ms); see lease_etcd.c */
        EtcdCall *history_call; /* granting the next one, for the claims waiting ... */
        uint64_t history_gen;   /* ... with this number in history_wait */
        /* the session (lease_etcd_session.c) */
        uint64_t session;       /* the session lease; 0: none (being granted, or lost) */
        uint64_t session_renewed; /* loop time, ms: the session runs until this + ttl */
        uint64_t session_gen;   /* claims waiting for it: their session_wait */
        bool session_ready;     /* granted and the member key on it: claims use it */
        EtcdCall *session_call; /* grant, member put, keepalive, or the revoke at close */
        Alarm session_alarm;    /* the next keepalive, or the next try */
        Alarm lost_alarm;       /* lost() for the claims marked lose_pending */
        char member_id[300];    /* HOST:PID */
        char *member_key64, *members_key64, *members_end64;
        char **members;         /* the live members, as the range and the watch saw them */
        size_t n_members;
        char *members_base, *inbox_base; /* PREFIX/:members/, PREFIX/:inbox/MEMBER/ */
        char *inbox64, *inbox_end64;    /* the inbox and its range's end, in base64 */
        EtcdFollow follow_members;      /* the members' range, then their watch */
        EtcdFollow follow_inbox;        /* the watch of our inbox: claimed[] */
        LeaseFleetCallbacks fleet_cb;   /* join()'s: turns handed to us */
        EtcdTurn *turns;        /* turns our inbox was handed, for fleet_cb from the loop */
        size_t n_turns;
        Alarm turns_alarm;      /* their delivery */
        EtcdClaimed *claimed;   /* lease_etcd_claimed.c; NULL until the first */
        size_t claimed_cap, n_claimed;
        char **claimed_strings; /* interned host names and statuses */
        size_t n_claimed_strings;
        LeaseRecord seen_holder; /* seen_claimed()'s answer */
        char seen_who[ETCD_WHY_MAX];
        char hostname[256];
        char boot_id[64];
        int64_t pid;
        LeaseClaim *claims;
        size_t n_claims;
        LeaseWatch *watches;
        EtcdQuery *queries;
        EtcdMissed *missed;     /* check_missed() calls, until answered */
        unsigned n_streams;     /* watches streaming: <= ETCD_WATCH_STREAMS_MAX */
        Seen seen[ETCD_SEEN_MAX];
        size_t n_seen;
        bool closing, http_closing;
        bool in_close;          /* inside etcd_close(): the session's revoke not started yet */
        void (*close_done)(void *userdata);
        void *close_userdata;
        char detail[ETCD_WHY_MAX];      /* claim()'s synchronous UNAVAILABLE */
};

typedef struct Kv {             /* the first kv of a range */
        bool found;             /* false: the range found no key */
        uint64_t mod_revision, lease;
        json_t *record;         /* NULL: the value is not a record of ours */
} Kv;

static inline uint64_t lease_etcd_now_ms(const EtcdStore *s) {
        return uv_now(s->loop);
}

/* The wall clock in seconds, for records: clock_gettime(), not time(), whose vDSO seconds
 * still name the second before right after a boundary (a record "started" before its
 * firing was due). */
static inline int64_t lease_etcd_wall_sec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec;
}

/* lease_etcd.c */
void lease_etcd_alarm_arm(EtcdStore *s, Alarm *a, uint64_t when, void (*fn)(Alarm *a));
void lease_etcd_alarm_disarm(EtcdStore *s, Alarm *a);
void lease_etcd_store_maybe_closed(EtcdStore *s);
/* The store's history lease for c: 1 with *ret set when one is at hand; 0 when it is being
 * granted (c->history_wait: lease_etcd_claim_on_history() follows, from the loop); -ENOMEM. */
int lease_etcd_history_lease(EtcdStore *s, LeaseClaim *c, uint64_t *ret);
/* lease is gone (etcd said "requested lease not found"): grant a fresh one next time. */
void lease_etcd_history_forget(EtcdStore *s, uint64_t lease);

/* lease_etcd_call.c */
EtcdCall *lease_etcd_call_start(EtcdStore *s, const char *path, json_t *body, uint64_t deadline,
                          lease_etcd_call_done_cb done, void *owner);
/* A streaming request (/v3/watch): tried across the endpoints until deadline like any call;
 * once a 200 answer streams, its body goes to on_data piece by piece, and when the stream
 * ends (after stream_ms at most, or when on_data returns false) done runs with reply NULL
 * and error 0, -ETIMEDOUT (stream_ms reached), -ECANCELED (on_data said stop) or the
 * failure. */
EtcdCall *lease_etcd_call_stream(EtcdStore *s, const char *path, json_t *body, uint64_t deadline,
                           uint32_t stream_ms, lease_etcd_call_data_cb on_data, lease_etcd_call_done_cb done,
                           void *owner);
void lease_etcd_call_cancel(EtcdCall *k);
void lease_etcd_call_why(EtcdCall *k, const char *fmt, ...) _printf_(2, 3);
const char *lease_etcd_errno_text(int error, char buf[static 64]);
/* Why call k gave up with error, for people (claims, queries, missed checks): the deadline
 * and k's last problem after -ETIMEDOUT, else k's problem or the error's text. */
void lease_etcd_call_failure(const EtcdStore *s, const EtcdCall *k, int error, char *buf, size_t n);
const char *lease_etcd_clean(const char *in, char *buf, size_t n);

/* lease_etcd_record.c */
char *lease_etcd_b64_encode(const void *data, size_t n);
int lease_etcd_json_u64(const json_t *o, const char *name, uint64_t *ret);
char *lease_etcd_record_to_base64(const json_t *rec);
void lease_etcd_record_describe(const json_t *rec, char *buf, size_t n);
bool lease_etcd_record_is_running(const json_t *rec);
const json_t *lease_etcd_range_kv(const json_t *range);
int lease_etcd_kv_parse(const json_t *kv, Kv *ret, const char **what);
int lease_etcd_range_reply_kv(EtcdCall *k, const json_t *range, Kv *ret);
int lease_etcd_b64_decode(const char *s, size_t max, char **ret, size_t *ret_size);
/* rec, found at a key of mod_revision, read as a LeaseRecord pointing into rec; the fencing
 * token of a running record is the key's mod_revision. false: not a record. */
bool lease_etcd_record_read(json_t *rec, uint64_t mod_revision, LeaseRecord *ret);
json_t *lease_etcd_body_range(const char *key64);
json_t *lease_etcd_body_grant(uint64_t ttl_s);
int lease_etcd_grant_parse(EtcdCall *k, const json_t *reply, uint64_t *ret_id);
void lease_etcd_seen_put(EtcdStore *s, const char *key, json_t *record, uint64_t mod_revision);
json_t *lease_etcd_seen_take(EtcdStore *s, const char *key);

/* lease_etcd_claim.c */
LeaseResult lease_etcd_claim(LeaseStore *store, const LeaseRequest *req, const LeaseCallbacks *cb,
                       LeaseClaim **ret_claim, LeaseInfo *ret_info);
void lease_etcd_finish(LeaseClaim *c, const LeaseEnd *end);
void lease_etcd_cancel(LeaseClaim *c);
void lease_etcd_claim_release(LeaseClaim *c);
/* The session's start is over: error 0 (the store's session is ready), or its failure. */
void lease_etcd_claim_on_session(LeaseClaim *c, EtcdCall *k, int error);
/* lost() once, from the loop. */
void lease_etcd_claim_lose(LeaseClaim *c, const char *why);
/* The store's history grant is over: lease, or 0 and the call's failure. */
void lease_etcd_claim_on_history(LeaseClaim *c, EtcdCall *k, uint64_t lease, int error);

/* lease_etcd_session.c */
int lease_etcd_session_init(EtcdStore *s);
void lease_etcd_join(LeaseStore *store, const LeaseFleetCallbacks *cb);
/* The session for c: 1 with *ret set when it is ready; 0 when it is being granted
 * (c->session_wait: lease_etcd_claim_on_session() follows, from the loop); -ENOMEM. */
int lease_etcd_session_need(EtcdStore *s, LeaseClaim *c, uint64_t *ret);
/* etcd said "lease not found": renew the session now, to find out whether it is gone. */
void lease_etcd_session_check(EtcdStore *s);
/* close(): stop the keepalives and the watch, revoke the session. */
void lease_etcd_session_close(EtcdStore *s);
void lease_etcd_session_free(EtcdStore *s);
/* The firings other members claimed, as the notes in our inbox say (lease_etcd_claimed.c):
 * a note put (record: the holder's running record), a note deleted (its holder finished). */
void lease_etcd_claimed_note(EtcdStore *s, const char *key, size_t n, const json_t *record);
void lease_etcd_claimed_done(EtcdStore *s, const char *key, size_t n);
const EtcdClaimed *lease_etcd_claimed_find(EtcdStore *s, const char *key);
/* An interned string of an entry (host, status); NULL for 0. */
const char *lease_etcd_claimed_string(const EtcdStore *s, uint16_t i);
void lease_etcd_claimed_free(EtcdStore *s);
/* Has the inbox seen key's holder finish it? */
bool lease_etcd_session_seen_done(EtcdStore *s, const char *key);
/* Has the inbox seen key claimed by another member? *ret_who, and *ret_holder: the holder
 * as far as its note says (host and pid; job and scheduled not set), valid until the loop
 * runs again. */
bool lease_etcd_session_seen_claimed(EtcdStore *s, const char *key, LeaseHeld *ret_held,
                                     const char **ret_who, const LeaseRecord **ret_holder);
size_t lease_etcd_members(LeaseStore *store, const char *const **ret_ids,
                          const char **ret_self);

/* lease_etcd_fleet.c */
char *lease_etcd_pause_key64(const EtcdStore *s, const char *job);
/* A pause marker's value (a range's kv) as a HELD detail: "the job is paused (by … at …)". */
void lease_etcd_pause_describe(const Kv *marker, char *buf, size_t n);
void lease_etcd_history(LeaseStore *store, const char *job, int64_t since, unsigned limit,
                        lease_records_cb done, void *userdata);
void lease_etcd_set_paused(LeaseStore *store, const char *job, bool paused, const char *by,
                           lease_done_cb done, void *userdata);
void lease_etcd_list_paused(LeaseStore *store, lease_jobs_cb done, void *userdata);
void lease_etcd_probe(LeaseStore *store, lease_done_cb done, void *userdata);
/* close(): every query still waiting is answered with an error, and freed. */
void lease_etcd_queries_close(EtcdStore *s);

/* lease_etcd_missed.c */
void lease_etcd_check_missed(LeaseStore *store, const LeaseRequest *req, bool raise,
                             lease_missed_cb done, void *userdata);
/* close(): every check still waiting is answered with an error, and freed. */
void lease_etcd_missed_close(EtcdStore *s);

/* A turn's note, PREFIX/:inbox/TO/:turn/JOB/WHEN; NULL when out of memory. */
char *lease_etcd_turn_key(const EtcdStore *s, const char *to, const char *job,
                          int64_t scheduled);
void lease_etcd_pass_turn(LeaseStore *store, const char *to, const LeaseTurn *t, bool own,
                          lease_done_cb done, void *userdata);
/* lease_etcd_watch.c */
int lease_etcd_watch(LeaseStore *store, const LeaseRequest *req,
               void (*ended)(bool holder_died, void *userdata), void *userdata, LeaseWatch **ret);
void lease_etcd_unwatch(LeaseWatch *w);
