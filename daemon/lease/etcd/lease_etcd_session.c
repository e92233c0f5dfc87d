/* SPDX-License-Identifier: MIT */
/* The session of the etcd lease backend (see lease_etcd.c for the design): one lease per
 * daemon for its life, kept alive every TTL/3, with the daemon's member key on it,
 * PREFIX/:members/HOST:PID; and two watch streams: one over PREFIX/:members/ that keeps the
 * list of live members (for ranking firings, core/elect.c), one over the daemon's inbox,
 * PREFIX/:inbox/HOST:PID/, where a member that wins a firing this daemon would look at
 * leaves a note, and deletes it with its final record (so that a lower rank, and a
 * missed-firing check, do not ask etcd). Losing the session (no renewal for TTL, or etcd no
 * longer has it) is lost() for every claim won on it. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "lease_etcd_internal.h"
#include "macro.h"
#include "strv.h"

#define ETCD_MEMBERS_MAX        4096U           /* members listed; more are not ranked */
#define ETCD_SESSION_LINE_MAX   (256U * 1024U)  /* one watch message */
#define ETCD_MEMBERS_REPLY_MAX  (1024U * 1024U)
#define ETCD_TURNS_MAX          1024U           /* turns waiting for the loop; more: dropped */
#define ETCD_TURN_VALUE_MAX     (4U * 1024U)    /* a turn's note */

static void session_start(Alarm *a);
static void session_keepalive(Alarm *a);
static void members_sync(Alarm *a);
static void inbox_follow(Alarm *a);
static void follow_stop(EtcdStore *s, EtcdFollow *f);
static void turns_free(EtcdStore *s);

/* ---- claims the inbox was told of (lease_etcd_claimed.c) ---- */

bool lease_etcd_session_seen_done(EtcdStore *s, const char *key) {
        const EtcdClaimed *e;

        if (!s->follow_inbox.live)
                return false;
        e = lease_etcd_claimed_find(s, key);
        return e && e->done;
}

bool lease_etcd_session_seen_claimed(EtcdStore *s, const char *key, LeaseHeld *ret_held,
                                     const char **ret_who, const LeaseRecord **ret_holder) {
        const char *host;
        const EtcdClaimed *e;
        char clean[96];

        if (!s->follow_inbox.live)
                return false;
        e = lease_etcd_claimed_find(s, key);
        if (!e)
                return false;
        host = lease_etcd_claimed_string(s, e->host);
        /* As lease_etcd_record_describe() says it of the record; a deleted note does not
         * say how the run ended. */
        (void) snprintf(s->seen_who, sizeof(s->seen_who), "%s%s pid %" PRIi64,
                        e->done ? "already run by " : "",
                        lease_etcd_clean(host ?: "?", clean, sizeof(clean)), e->pid);
        *ret_held = e->done ? LEASE_HELD_DONE : LEASE_HELD_RUNNING;
        *ret_who = s->seen_who;
        s->seen_holder = (LeaseRecord) { .host = host, .pid = e->pid,
                                         .status = e->done ? "done" : "running",
                                         .exit_status = -1, .duration_msec = -1 };
        *ret_holder = &s->seen_holder;
        return true;
}

/* ---- lost(): delivered from the loop ---- */

static void session_on_lost_alarm(Alarm *a) {
        EtcdStore *s = container_of(a, EtcdStore, lost_alarm);
        LeaseClaim *c;

        /* One at a time, from the head again: lost() may finish or cancel claims. */
        for (;;) {
                for (c = s->claims; c && !c->lose_pending; c = c->next)
                        ;
                if (!c)
                        return;
                c->lose_pending = false;
                lease_etcd_claim_lose(c, c->detail);
        }
}

static void claim_mark_lost(EtcdStore *s, LeaseClaim *c, const char *why) {
        if (c->state != CLAIM_WON || c->lost || c->lose_pending)
                return;
        c->lose_pending = true;
        (void) snprintf(c->detail, sizeof(c->detail), "%s", why);
        lease_etcd_alarm_arm(s, &s->lost_alarm, lease_etcd_now_ms(s), session_on_lost_alarm);
}

/* The session is gone: every claim won on it is lost; a new one is granted. */
static void session_lost(EtcdStore *s, const char *why) {
        uint64_t old = s->session;

        s->session = 0;
        s->session_ready = false;
        for (LeaseClaim *c = s->claims; c; c = c->next)
                if (c->lease == old)
                        claim_mark_lost(s, c, why);
        lease_etcd_alarm_arm(s, &s->session_alarm, lease_etcd_now_ms(s), session_start);
}

/* ---- the session lease ---- */

/* The claims waiting for the session hear how its start went: a session, or error. */
static void session_wake(EtcdStore *s, EtcdCall *k, int error) {
        uint64_t gen = s->session_gen;
        LeaseClaim *c;

        for (;;) {
                for (c = s->claims; c && c->session_wait != gen; c = c->next)
                        ;
                if (!c)
                        break;
                c->session_wait = 0;
                lease_etcd_claim_on_session(c, k, error);
        }
}

static void session_failed(EtcdStore *s, EtcdCall *k, int error) {
        s->session_call = NULL;
        session_wake(s, k, error ? error : -EIO);
        /* Try again later: the members must know this daemon once etcd is back. */
        if (!s->closing)
                lease_etcd_alarm_arm(s, &s->session_alarm, lease_etcd_now_ms(s) + s->ttl_ms / 3,
                                     session_start);
        lease_etcd_store_maybe_closed(s);
}

static int session_on_put(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdStore *s = owner;

        if (!reply) {
                session_failed(s, k, error);
                return 0;
        }
        s->session_call = NULL;
        s->session_ready = true;
        if (s->follow_inbox.revision == 0)      /* the inbox's first watch starts there */
                (void) lease_etcd_json_u64(json_object_get(reply, "header"), "revision",
                                           &s->follow_inbox.revision);
        lease_etcd_alarm_arm(s, &s->session_alarm, s->session_renewed + s->ttl_ms / 3,
                             session_keepalive);
        if (!s->follow_members.call && !s->follow_members.alarm.armed)
                lease_etcd_alarm_arm(s, &s->follow_members.alarm, lease_etcd_now_ms(s),
                                     members_sync);
        if (!s->follow_inbox.call && !s->follow_inbox.alarm.armed)
                lease_etcd_alarm_arm(s, &s->follow_inbox.alarm, lease_etcd_now_ms(s),
                                     inbox_follow);
        session_wake(s, k, 0);
        lease_etcd_store_maybe_closed(s);
        return 0;
}

/* Register: PREFIX/:members/ID on the session lease, its value who and since when. */
static void session_register(EtcdStore *s, uint64_t deadline) {
        char l[21], now[RFC3339_UTC_MAX];
        _cleanup_free_ char *value = NULL, *value64 = NULL;
        json_t *v;

        v = json_pack("{s:s,s:I,s:s}", "hostname", s->hostname, "pid", (json_int_t) s->pid,
                      "since", format_rfc3339_utc(lease_etcd_wall_sec(), now));
        value = v ? json_dumps(v, JSON_COMPACT) : NULL;
        json_decref(v);
        value64 = value ? lease_etcd_b64_encode(value, strlen(value)) : NULL;
        (void) snprintf(l, sizeof(l), "%" PRIu64, s->session);
        s->session_call = value64 ?
                lease_etcd_call_start(s, "/v3/kv/put",
                                      json_pack("{s:s,s:s,s:s}", "key", s->member_key64,
                                                "value", value64, "lease", l),
                                      deadline, session_on_put, s) : NULL;
}

static int session_on_grant(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdStore *s = owner;
        uint64_t id;

        if (reply && lease_etcd_grant_parse(k, reply, &id) < 0)
                return -EAGAIN;
        if (!reply) {
                session_failed(s, k, error);
                return 0;
        }
        s->session = id;
        s->session_renewed = k->sent;   /* the lease runs from no earlier than the request */
        session_register(s, k->deadline);
        if (!s->session_call) {
                lease_etcd_call_why(k, "out of memory");
                session_failed(s, k, -ENOMEM);
        }
        return 0;
}

static void session_start(Alarm *a) {
        EtcdStore *s = container_of(a, EtcdStore, session_alarm);

        if (s->closing || s->session_call)
                return;
        s->session_gen++;
        s->session_call = lease_etcd_call_start(s, "/v3/lease/grant",
                                                lease_etcd_body_grant(s->ttl_ms / 1000),
                                                lease_etcd_now_ms(s) + s->election_ms,
                                                session_on_grant, s);
        if (!s->session_call)
                lease_etcd_alarm_arm(s, &s->session_alarm, lease_etcd_now_ms(s) + s->ttl_ms / 3,
                                     session_start);
}

int lease_etcd_session_need(EtcdStore *s, LeaseClaim *c, uint64_t *ret) {
        if (s->session_ready) {
                *ret = s->session;
                return 1;
        }
        if (!s->session_call) {
                lease_etcd_alarm_disarm(s, &s->session_alarm);
                session_start(&s->session_alarm);
                if (!s->session_call)
                        return -ENOMEM;
        }
        c->session_wait = s->session_gen;
        return 0;
}

static int session_on_keepalive(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdStore *s = owner;
        const json_t *result = json_object_get(reply, "result");
        char why[ETCD_WHY_MAX + 64];
        uint64_t now = lease_etcd_now_ms(s), ttl;

        (void) error;
        if (reply && (!json_is_object(result) ||
                      lease_etcd_json_u64(result, "TTL", &ttl) == -EBADMSG)) {
                lease_etcd_call_why(k, "malformed reply to /v3/lease/keepalive");
                return -EAGAIN;
        }
        s->session_call = NULL;
        if (!reply) {
                /* The call tried until the session's end: it is over. */
                (void) snprintf(why, sizeof(why), "the session's renewal failed for %" PRIu64
                                " s: %s", (now - s->session_renewed) / 1000, k->why);
                session_lost(s, why);
                lease_etcd_store_maybe_closed(s);
                return 0;
        }
        if (ttl == 0) {                 /* proto3: no TTL, the lease is gone */
                session_lost(s, "the session expired: etcd no longer has its lease (revoked?)");
                return 0;
        }
        if (k->sent > s->session_renewed)
                s->session_renewed = k->sent;
        lease_etcd_alarm_arm(s, &s->session_alarm, s->session_renewed + s->ttl_ms / 3,
                             session_keepalive);
        return 0;
}

/* Every TTL/3: one lease/keepalive through the gateway, which answers one request with one
 * response (a streamed request body would keep one HTTP request open; net/http has none).
 * It tries until the session's end (renewed + TTL). */
static void session_keepalive(Alarm *a) {
        EtcdStore *s = container_of(a, EtcdStore, session_alarm);
        uint64_t now = lease_etcd_now_ms(s), deadline = s->session_renewed + s->ttl_ms;
        char l[21];

        if (s->closing)
                return;
        if (deadline < now + ETCD_BACKOFF_MS)
                deadline = now + ETCD_BACKOFF_MS;
        (void) snprintf(l, sizeof(l), "%" PRIu64, s->session);
        s->session_call = lease_etcd_call_start(s, "/v3/lease/keepalive",
                                                json_pack("{s:s}", "ID", l), deadline,
                                                session_on_keepalive, s);
        if (!s->session_call)
                lease_etcd_alarm_arm(s, &s->session_alarm, now + s->ttl_ms / 3,
                                     session_keepalive);
}

void lease_etcd_session_check(EtcdStore *s) {
        if (!s->session_ready || s->session_call || s->closing)
                return;
        lease_etcd_alarm_disarm(s, &s->session_alarm);
        session_keepalive(&s->session_alarm);
}

static int session_on_revoked(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdStore *s = owner;

        (void) k, (void) reply, (void) error;   /* or it expires on its own */
        s->session_call = NULL;
        lease_etcd_store_maybe_closed(s);
        return 0;
}

void lease_etcd_session_close(EtcdStore *s) {
        char l[21];

        lease_etcd_alarm_disarm(s, &s->session_alarm);
        lease_etcd_alarm_disarm(s, &s->lost_alarm);
        lease_etcd_alarm_disarm(s, &s->turns_alarm);
        turns_free(s);
        follow_stop(s, &s->follow_members);
        follow_stop(s, &s->follow_inbox);
        lease_etcd_call_cancel(s->session_call);
        s->session_call = NULL;
        if (!s->session)
                return;
        /* Revoking the session deletes the member key and the running records on it: the
         * others rank without us at once, and watchers take over what we ran (the notes we
         * left are on the history lease: they still say that those runs did not finish). */
        (void) snprintf(l, sizeof(l), "%" PRIu64, s->session);
        s->session = 0;
        s->session_ready = false;
        s->session_call = lease_etcd_call_start(s, "/v3/lease/revoke",
                                                json_pack("{s:s}", "ID", l),
                                                lease_etcd_now_ms(s) + s->election_ms,
                                                session_on_revoked, s);
}

/* ---- the members, and the session's two watch streams ---- */

static void members_set(EtcdStore *s, char **list) {
        strv_free(s->members);
        s->members = list;
        s->n_members = strv_length(list);
}

static void member_add(EtcdStore *s, const char *id, size_t n) {
        _cleanup_free_ char *x = strndup(id, n);

        if (!x || s->n_members >= ETCD_MEMBERS_MAX)
                return;
        for (size_t i = 0; i < s->n_members; i++)
                if (strcmp(s->members[i], x) == 0)
                        return;
        (void) strv_push(&s->members, &s->n_members, TAKE_PTR(x));
}

static void member_remove(EtcdStore *s, const char *id, size_t n) {
        for (size_t i = 0; i < s->n_members; i++)
                if (strlen(s->members[i]) == n && memcmp(s->members[i], id, n) == 0) {
                        free(s->members[i]);
                        memmove(s->members + i, s->members + i + 1,
                                (s->n_members - i) * sizeof(char *));
                        s->n_members--;
                        return;
                }
}

size_t lease_etcd_members(LeaseStore *store, const char *const **ret_ids,
                          const char **ret_self) {
        EtcdStore *s = container_of(store, EtcdStore, store);

        if (!s->follow_members.live && !s->session_ready)
                return 0;
        *ret_ids = (const char *const *) s->members;
        *ret_self = s->member_id;
        return s->n_members;
}

/* An event's key, decoded, if it is under base (which ends in '/') with more after it:
 * *ret_rest points past base, *ret_n is the rest's length. NULL: not such a key. */
static char *event_key(const json_t *kvj, const char *base, const char **ret_rest,
                       size_t *ret_n) {
        const char *key64 = json_string_value(json_object_get(kvj, "key"));
        size_t n, blen = strlen(base);
        char *key;

        if (!key64 || lease_etcd_b64_decode(key64, 4096, &key, &n) < 0)
                return NULL;
        if (n <= blen || memcmp(key, base, blen) != 0 || strlen(key) != n) {
                free(key);
                return NULL;
        }
        *ret_rest = key + blen;
        *ret_n = n - blen;
        return key;
}

/* One event of the members' watch, from inside libcurl: no requests, only notes. */
static void members_on_event(EtcdStore *s, const json_t *ev) {
        const char *type = json_string_value(json_object_get(ev, "type")), *id;
        _cleanup_free_ char *key = NULL;
        size_t n;

        key = event_key(json_object_get(ev, "kv"), s->members_base, &id, &n);
        if (!key)
                return;
        if (type && strcmp(type, "DELETE") == 0)
                member_remove(s, id, n);
        else
                member_add(s, id, n);
}

/* ---- turns handed to us ---- */

static void turns_free(EtcdStore *s) {
        for (size_t i = 0; i < s->n_turns; i++) {
                free(s->turns[i].job);
                free(s->turns[i].from);
        }
        s->turns = mfree(s->turns);
        s->n_turns = 0;
}

/* From the loop: to the daemon, which may claim at once (no requests from inside libcurl). */
static void turns_deliver(Alarm *a) {
        EtcdStore *s = container_of(a, EtcdStore, turns_alarm);
        EtcdTurn *turns = TAKE_PTR(s->turns);
        size_t n = s->n_turns;

        s->n_turns = 0;
        for (size_t i = 0; i < n; i++) {
                if (!s->closing && s->fleet_cb.turn)
                        s->fleet_cb.turn(&(LeaseTurn) { .job = turns[i].job,
                                                        .scheduled = turns[i].scheduled,
                                                        .rank = turns[i].rank,
                                                        .from = turns[i].from },
                                         s->fleet_cb.userdata);
                free(turns[i].job);
                free(turns[i].from);
        }
        free(turns);
}

/* A turn's note put in our inbox: {"job", "scheduled" (Unix seconds), "rank", "from"}. One
 * whose value is not that is ignored (and goes with its sender's session). */
static void turn_noted(EtcdStore *s, const json_t *kvj) {
        const char *value64 = json_string_value(json_object_get(kvj, "value"));
        _cleanup_free_ char *text = NULL;
        json_t *v = NULL;
        const char *job = NULL, *from = NULL;
        json_int_t scheduled = 0, rank = -1;
        EtcdTurn *p;
        size_t n;

        if (s->n_turns >= ETCD_TURNS_MAX || !value64 ||
            lease_etcd_b64_decode(value64, ETCD_TURN_VALUE_MAX, &text, &n) < 0)
                return;
        v = json_loadb(text, n, 0, NULL);
        if (json_unpack(v, "{s:s,s:I,s:I,s:s}", "job", &job, "scheduled", &scheduled,
                        "rank", &rank, "from", &from) < 0 || rank < 0 || rank > UINT16_MAX ||
            scheduled < 0 || scheduled > INT64_MAX / 1000 ||
            !(p = realloc(s->turns, (s->n_turns + 1) * sizeof(EtcdTurn)))) {
                json_decref(v);
                return;
        }
        s->turns = p;
        p[s->n_turns] = (EtcdTurn) { .job = strdup(job), .from = strdup(from),
                                     .scheduled = scheduled, .rank = (unsigned) rank };
        if (p[s->n_turns].job && p[s->n_turns].from)
                s->n_turns++;
        else {
                free(p[s->n_turns].job);
                free(p[s->n_turns].from);
        }
        json_decref(v);
        if (s->n_turns > 0 && !s->turns_alarm.armed)
                lease_etcd_alarm_arm(s, &s->turns_alarm, lease_etcd_now_ms(s), turns_deliver);
}

/* One event of the inbox's watch: a note PREFIX/:inbox/SELF/JOB/WHEN put (with its holder's
 * running record) or deleted (by its holder's final record) says so of the firing
 * PREFIX/JOB/WHEN. A note on the history lease also goes when that lease expires, long after
 * this daemon has forgotten its firing (lease_etcd_claimed.c). */
static void inbox_on_event(EtcdStore *s, const json_t *ev) {
        const char *type = json_string_value(json_object_get(ev, "type")), *rest, *what;
        const json_t *kvj = json_object_get(ev, "kv");
        _cleanup_free_ char *key = NULL, *firing = NULL;
        size_t n;
        Kv kv = {};

        key = event_key(kvj, s->inbox_base, &rest, &n);
        if (key && n > 6 && memcmp(rest, ":turn/", 6) == 0) {
                uint64_t version = 0;

                /* Its deletion: the turn was taken. Put again (the sender's txn tried again
                 * after its reply was lost): told already. */
                if ((!type || strcmp(type, "DELETE") != 0) &&
                    lease_etcd_json_u64(kvj, "version", &version) == 0 && version == 1)
                        turn_noted(s, kvj);
                return;
        }
        /* JOB/WHEN: one '/', no ':' in JOB */
        if (!key || rest[0] == ':' || !memchr(rest, '/', n) ||
            asprintf(&firing, "%s/%s", s->prefix, rest) < 0)
                return;
        if (type && strcmp(type, "DELETE") == 0) {
                lease_etcd_claimed_done(s, firing, strlen(firing));
                return;
        }
        if (lease_etcd_kv_parse(kvj, &kv, &what) < 0)
                return;
        if (kv.record)
                lease_etcd_claimed_note(s, firing, strlen(firing), kv.record);
        json_decref(kv.record);
}

/* A stream's data, line by line (one JSON message each), to on_event. false: stop it (too
 * long a line, compacted past its revision, an error), and it starts again. */
static bool follow_on_data(EtcdStore *s, EtcdFollow *f, const char *data, size_t size,
                           void (*on_event)(EtcdStore *s, const json_t *ev)) {
        /* Only the inbox resumes from what it saw; the members' stream starts after its own
         * range (members_on_range()), and all it streams is new to it. */
        bool resumes = f == &s->follow_inbox;

        while (size > 0) {
                const char *nl = memchr(data, '\n', size);
                size_t take = nl ? (size_t) (nl - data) : size;
                json_t *msg, *result;
                const json_t *ev;
                uint64_t seen;
                size_t i;
                char *p;

                if (f->line_len + take > ETCD_SESSION_LINE_MAX) {
                        f->revision = 0;        /* resumed, it would come again: from now */
                        return false;
                }
                p = realloc(f->line, f->line_len + take + 1);
                if (!p)
                        return false;
                f->line = p;
                memcpy(f->line + f->line_len, data, take);
                f->line_len += take;
                if (!nl)
                        break;
                msg = json_loadb(f->line, f->line_len, 0, NULL);
                f->line_len = 0;
                data = nl + 1;
                size -= take + 1;
                result = json_object_get(msg, "result");
                if (!json_is_object(result) || json_is_true(json_object_get(result, "canceled"))) {
                        uint64_t compacted = 0;

                        /* Asked to resume before what etcd still has: from its oldest. */
                        if (lease_etcd_json_u64(result, "compact_revision", &compacted) == 0 &&
                            compacted > 0)
                                f->revision = compacted - 1;
                        json_decref(msg);
                        return false;
                }
                if (json_is_true(json_object_get(result, "created"))) {
                        f->live = true;
                        if (resumes && f->revision == 0)        /* from now */
                                (void) lease_etcd_json_u64(json_object_get(result, "header"),
                                                           "revision", &f->revision);
                }
                seen = resumes ? f->revision : 0;
                json_array_foreach(json_object_get(result, "events"), i, ev) {
                        uint64_t rev = 0;

                        if (lease_etcd_json_u64(json_object_get(ev, "kv"), "mod_revision",
                                                &rev) == 0 && seen > 0 && rev <= seen)
                                continue;       /* seen already: told once, not twice */
                        on_event(s, ev);
                        if (rev > f->revision)
                                f->revision = rev;
                }
                json_decref(msg);
        }
        return true;
}

static bool members_on_data(const char *data, size_t size, void *owner) {
        EtcdStore *s = owner;

        return follow_on_data(s, &s->follow_members, data, size, members_on_event);
}

static bool inbox_on_data(const char *data, size_t size, void *owner) {
        EtcdStore *s = owner;

        return follow_on_data(s, &s->follow_inbox, data, size, inbox_on_event);
}

/* The stream is over: start it again, at once when its time was up, else TTL/3 later. */
static void follow_ended(EtcdStore *s, EtcdFollow *f, int error, void (*start)(Alarm *a)) {
        f->call = NULL;
        f->live = false;
        free(f->line);
        f->line = NULL;
        f->line_len = 0;
        lease_etcd_alarm_arm(s, &f->alarm, lease_etcd_now_ms(s) +
                             (error == -ETIMEDOUT ? 0 : s->ttl_ms / 3), start);
        lease_etcd_store_maybe_closed(s);
}

static void follow_stop(EtcdStore *s, EtcdFollow *f) {
        lease_etcd_alarm_disarm(s, &f->alarm);
        lease_etcd_call_cancel(f->call);
        f->call = NULL;
        f->live = false;
}

static int members_on_stream_end(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdStore *s = owner;

        (void) k, (void) reply;
        follow_ended(s, &s->follow_members, error, members_sync);
        return 0;
}

static int inbox_on_stream_end(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdStore *s = owner;

        (void) k, (void) reply;
        follow_ended(s, &s->follow_inbox, error, inbox_follow);
        return 0;
}

/* A watch of [key64, end64) for an hour; rev: from that revision (NULL: from now). */
static EtcdCall *follow_start(EtcdStore *s, const char *key64, const char *end64,
                              const char *rev, lease_etcd_call_data_cb on_data,
                              lease_etcd_call_done_cb on_end) {
        json_t *req = json_pack("{s:s,s:s}", "key", key64, "range_end", end64);

        if (req && rev)
                (void) json_object_set_new(req, "start_revision", json_string(rev));
        return lease_etcd_call_stream(s, "/v3/watch", json_pack("{s:o}", "create_request", req),
                                      lease_etcd_now_ms(s) + s->election_ms,
                                      HTTP_TIMEOUT_MAX_MS, on_data, on_end, s);
}

static int members_on_range(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdStore *s = owner;
        char rev[24];
        _cleanup_strv_free_ char **list = NULL;
        size_t n_list = 0, plen = strlen(s->prefix) + strlen("/:members/");
        const json_t *kv;
        uint64_t revision;
        size_t i;

        (void) error;
        if (reply && lease_etcd_json_u64(json_object_get(reply, "header"), "revision",
                                         &revision) < 0) {
                lease_etcd_call_why(k, "malformed range reply: no revision");
                return -EAGAIN;         /* k tries again: still ours */
        }
        s->follow_members.call = NULL;
        if (!reply) {
                lease_etcd_alarm_arm(s, &s->follow_members.alarm,
                                     lease_etcd_now_ms(s) + s->ttl_ms / 3, members_sync);
                lease_etcd_store_maybe_closed(s);
                return 0;
        }
        json_array_foreach(json_object_get(reply, "kvs"), i, kv) {
                _cleanup_free_ char *key = NULL;
                size_t n;

                if (i >= ETCD_MEMBERS_MAX)
                        break;
                if (lease_etcd_b64_decode(json_string_value(json_object_get(kv, "key")) ?: "",
                                          4096, &key, &n) < 0 || n <= plen)
                        continue;
                if (strv_push(&list, &n_list, strdup(key + plen)) < 0)
                        break;
        }
        if (list || i == 0)
                members_set(s, TAKE_PTR(list));
        /* Follow the members from the revision this answer reflects. */
        (void) snprintf(rev, sizeof(rev), "%" PRIu64, revision + 1);
        s->follow_members.call = follow_start(s, s->members_key64, s->members_end64, rev,
                                              members_on_data, members_on_stream_end);
        if (!s->follow_members.call)
                lease_etcd_alarm_arm(s, &s->follow_members.alarm,
                                     lease_etcd_now_ms(s) + s->ttl_ms / 3, members_sync);
        return 0;
}

static void members_sync(Alarm *a) {
        EtcdStore *s = container_of(a, EtcdStore, follow_members.alarm);

        if (s->closing)
                return;
        s->follow_members.call = lease_etcd_call_start(s, "/v3/kv/range",
                                                       json_pack("{s:s,s:s,s:b}", "key",
                                                                 s->members_key64, "range_end",
                                                                 s->members_end64, "keys_only",
                                                                 1),
                                                       lease_etcd_now_ms(s) + s->election_ms,
                                                       members_on_range, s);
        if (s->follow_members.call)
                s->follow_members.call->reply_max = ETCD_MEMBERS_REPLY_MAX;
        else
                lease_etcd_alarm_arm(s, a, lease_etcd_now_ms(s) + s->ttl_ms / 3, members_sync);
}

/* The inbox, from where its last stream left off (the first: from our member key's put, so
 * that no note put once the others can rank us goes unseen); a turn handed on has no other
 * way to us. Etcd replays what came meanwhile; when it has compacted that, from its oldest
 * revision left. */
static void inbox_follow(Alarm *a) {
        EtcdStore *s = container_of(a, EtcdStore, follow_inbox.alarm);
        char rev[24];

        if (s->closing)
                return;
        (void) snprintf(rev, sizeof(rev), "%" PRIu64, s->follow_inbox.revision + 1);
        s->follow_inbox.call = follow_start(s, s->inbox64, s->inbox_end64,
                                            s->follow_inbox.revision ? rev : NULL,
                                            inbox_on_data, inbox_on_stream_end);
        if (!s->follow_inbox.call)
                lease_etcd_alarm_arm(s, a, lease_etcd_now_ms(s) + s->ttl_ms / 3, inbox_follow);
}

/* "BASE/" and the key just after every key under it, "BASE0", in base64. */
static int range_keys(const char *prefix, char **ret_key64, char **ret_end64) {
        _cleanup_free_ char *k = NULL;
        size_t n;

        if (asprintf(&k, "%s", prefix) < 0)
                return -ENOMEM;
        n = strlen(k);
        *ret_key64 = lease_etcd_b64_encode(k, n);
        k[n - 1]++;                     /* '/' → '0' */
        *ret_end64 = lease_etcd_b64_encode(k, n);
        return *ret_key64 && *ret_end64 ? 0 : -ENOMEM;
}

int lease_etcd_session_init(EtcdStore *s) {
        _cleanup_free_ char *mk = NULL;

        (void) snprintf(s->member_id, sizeof(s->member_id), "%s:%" PRIi64, s->hostname, s->pid);
        if (asprintf(&s->inbox_base, "%s/:inbox/%s/", s->prefix, s->member_id) < 0)
                s->inbox_base = NULL;
        if (asprintf(&s->members_base, "%s/:members/", s->prefix) < 0)
                s->members_base = NULL;
        if (!s->inbox_base || !s->members_base ||
            asprintf(&mk, "%s/:members/%s", s->prefix, s->member_id) < 0)
                return -ENOMEM;
        if (range_keys(s->inbox_base, &s->inbox64, &s->inbox_end64) < 0 ||
            range_keys(s->members_base, &s->members_key64, &s->members_end64) < 0)
                return -ENOMEM;
        s->member_key64 = lease_etcd_b64_encode(mk, strlen(mk));
        return s->member_key64 ? 0 : -ENOMEM;
}

void lease_etcd_join(LeaseStore *store, const LeaseFleetCallbacks *cb) {
        EtcdStore *s = container_of(store, EtcdStore, store);

        if (cb)
                s->fleet_cb = *cb;
        /* From the loop: the session, then the members and the watch. A store that is not
         * joined opens its session at its first claim. */
        if (!s->closing && !s->session && !s->session_call)
                lease_etcd_alarm_arm(s, &s->session_alarm, lease_etcd_now_ms(s), session_start);
}

void lease_etcd_session_free(EtcdStore *s) {
        turns_free(s);
        strv_free(s->members);
        free(s->follow_members.line);
        free(s->follow_inbox.line);
        lease_etcd_claimed_free(s);
        free(s->inbox_base);
        free(s->inbox64);
        free(s->inbox_end64);
        free(s->members_base);
        free(s->members_key64);
        free(s->members_end64);
        free(s->member_key64);
}
