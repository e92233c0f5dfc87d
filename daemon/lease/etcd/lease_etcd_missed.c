/* SPDX-License-Identifier: MIT */
/* The missed-firing alarm of the etcd lease backend (check_missed, see lease.h and
 * daemon/core/missed.c). Kept apart from the claims so that a change to how claims are
 * made touches this file only where a claim's keys are read:
 *
 *   read     one kv/txn without a compare: range KEY, KEY/claimed, PREFIX/:missed/JOB/
 *            SCHEDULED and PREFIX/:paused/JOB. The key with a running record (on its holder's
 *            lease) → RUNNING, with a final one → DONE; no key: the marker alone →
 *            ABANDONED (the holder's lease went), nothing → NONE; a pause marker → PAUSED.
 *   raise    only for NONE or ABANDONED with no alarm marker yet (rare): lease/grant the
 *            history period, then kv/txn "if the key and the alarm marker were never created
 *            and the job is not paused, put the alarm marker on that lease, else range the
 *            three". Exactly one caller's txn succeeds: raised. A lost race (a takeover claim
 *            made the key, another replica the marker) is read from the failure ranges.
 * Steady state: one request per check; three when the alarm is raised. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_etcd_internal.h"
#include "list.h"
#include "macro.h"
#include "timeutil.h"

static const char store_closing[] = "the etcd lease store is closing";

typedef enum MissedStep {
        MISSED_READ,
        MISSED_GRANT,
        MISSED_CREATE,
} MissedStep;

struct EtcdMissed {             /* on store->missed until answered, which frees it */
        EtcdStore *store;
        EtcdMissed *prev, *next;
        MissedStep step;
        bool raise;
        char *job;
        int64_t scheduled;
        char *key64, *mark64, *alarm64, *pause64;
        uint64_t lease;         /* MISSED_CREATE: the alarm marker's, granted for history */
        uint64_t deadline;      /* loop time, ms: the election timeout */
        EtcdCall *call;
        lease_missed_cb done;
        void *userdata;
};

static char *key64_printf(const char *fmt, ...) _printf_(1, 2);
static char *key64_printf(const char *fmt, ...) {
        _cleanup_free_ char *key = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&key, fmt, ap);
        va_end(ap);
        if (r < 0) {
                key = NULL;
                return NULL;
        }
        return lease_etcd_b64_encode(key, strlen(key));
}

static void missed_free(EtcdMissed *m) {
        EtcdStore *s = m->store;

        free(m->job);
        free(m->key64);
        free(m->mark64);
        free(m->alarm64);
        free(m->pause64);
        free(m);
        lease_etcd_store_maybe_closed(s);
}

/* Answer once: off the list first, so that close() cannot answer it again. */
static void missed_answer(EtcdMissed *m, LeaseFiringState state, bool raised, const char *error) {
        LIST_UNLINK(m->store->missed, m);
        lease_etcd_call_cancel(m->call);        /* safe from inside the call's done() */
        m->call = NULL;
        m->done(state, raised, error, m->userdata);
        missed_free(m);
}

static void missed_fail_call(EtcdMissed *m, EtcdCall *k, int error) {
        char why[ETCD_WHY_MAX + 64];

        lease_etcd_call_failure(m->store, k, error, why, sizeof(why));
        missed_answer(m, LEASE_FIRING_NONE, false, why);
}

static json_t *range(const char *key64) {
        return json_pack("{s:{s:s}}", "request_range", "key", key64);
}

static json_t *compare_created(const char *key64, const char *target, const char *field) {
        return json_pack("{s:s,s:s,s:s}", "key", key64, "target", target, field, "0");
}

static json_t *body_read(const EtcdMissed *m) {
        return json_pack("{s:[o,o,o,o]}", "success", range(m->key64), range(m->mark64),
                         range(m->alarm64), range(m->pause64));
}

static json_t *body_create(const EtcdMissed *m, const char *value64) {
        char l[21];

        (void) snprintf(l, sizeof(l), "%" PRIu64, m->lease);
        return json_pack("{s:[o,o,o],s:[{s:{s:s,s:s,s:s}}],s:[o,o,o]}",
                         "compare", compare_created(m->key64, "CREATE", "create_revision"),
                                    compare_created(m->alarm64, "CREATE", "create_revision"),
                                    compare_created(m->pause64, "VERSION", "version"),
                         "success", "request_put", "key", m->alarm64, "value", value64,
                                    "lease", l,
                         "failure", range(m->key64), range(m->alarm64), range(m->pause64));
}

/* The alarm marker's value: which replica raised it, and when. */
static char *alarm_value64(const EtcdMissed *m) {
        EtcdStore *s = m->store;
        char when[RFC3339_UTC_MAX], at[RFC3339_UTC_MAX];
        json_t *v = json_pack("{s:s,s:s,s:s,s:I,s:s}", "job", m->job,
                              "scheduled", format_rfc3339_utc(m->scheduled, when),
                              "by", s->hostname, "pid", (json_int_t) s->pid,
                              "at", format_rfc3339_utc(lease_etcd_wall_sec(), at));
        char *r = v ? lease_etcd_record_to_base64(v) : NULL;

        json_decref(v);
        return r;
}

/* A range response of the txn: found, and, with ret_running, whether its value is a running
 * record. -EAGAIN (k->why filled): malformed. */
static int kv_of(EtcdCall *k, const json_t *responses, size_t i, bool *ret_found,
                 bool *ret_running) {
        const json_t *rr = json_object_get(json_array_get(responses, i), "response_range");
        Kv kv;
        int r;

        if (!json_is_object(rr)) {
                lease_etcd_call_why(k, "malformed txn reply: no range %zu", i);
                return -EAGAIN;
        }
        r = lease_etcd_range_reply_kv(k, rr, &kv);
        if (r < 0)
                return r;
        *ret_found = kv.found;
        if (ret_running)
                *ret_running = kv.record && lease_etcd_record_is_running(kv.record);
        json_decref(kv.record);
        return 0;
}

static int missed_on_create(EtcdCall *k, json_t *reply, int error, void *owner);

static int missed_on_grant(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdMissed *m = owner;
        _cleanup_free_ char *value64 = NULL;
        json_t *body;

        if (reply && lease_etcd_grant_parse(k, reply, &m->lease) < 0)
                return -EAGAIN;
        m->call = NULL;
        if (!reply) {
                missed_fail_call(m, k, error);
                return 0;
        }
        m->step = MISSED_CREATE;
        value64 = alarm_value64(m);
        body = value64 ? body_create(m, value64) : NULL;
        m->call = body ? lease_etcd_call_start(m->store, "/v3/kv/txn", body, m->deadline,
                                               missed_on_create, m) : NULL;
        if (!m->call)
                missed_answer(m, LEASE_FIRING_NONE, false, "out of memory");
        return 0;
}

/* The read's answer: decide, or go on to raise. */
static int missed_on_read(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdMissed *m = owner;
        const json_t *responses = json_object_get(reply, "responses");
        bool key, running = false, mark, alarm, paused;
        LeaseFiringState state;

        if (reply && (kv_of(k, responses, 0, &key, &running) < 0 ||
                      kv_of(k, responses, 1, &mark, NULL) < 0 ||
                      kv_of(k, responses, 2, &alarm, NULL) < 0 ||
                      kv_of(k, responses, 3, &paused, NULL) < 0))
                return -EAGAIN;
        m->call = NULL;
        if (!reply) {
                missed_fail_call(m, k, error);
                return 0;
        }
        state = key ? (running ? LEASE_FIRING_RUNNING : LEASE_FIRING_DONE) :
                paused ? LEASE_FIRING_PAUSED :
                mark ? LEASE_FIRING_ABANDONED : LEASE_FIRING_NONE;
        if (!m->raise || alarm || key || paused) {
                missed_answer(m, state, false, NULL);
                return 0;
        }
        m->step = MISSED_GRANT;
        m->call = lease_etcd_call_start(m->store, "/v3/lease/grant",
                                        lease_etcd_body_grant(m->store->history_s), m->deadline,
                                        missed_on_grant, m);
        if (!m->call)
                missed_answer(m, LEASE_FIRING_NONE, false, "out of memory");
        return 0;
}

static int missed_on_create(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdMissed *m = owner;
        const json_t *responses = json_object_get(reply, "responses");
        bool key = false, running = false, alarm = false, paused = false;
        bool won = json_is_true(json_object_get(reply, "succeeded"));

        if (reply && !won && (kv_of(k, responses, 0, &key, &running) < 0 ||
                              kv_of(k, responses, 1, &alarm, NULL) < 0 ||
                              kv_of(k, responses, 2, &paused, NULL) < 0))
                return -EAGAIN;
        m->call = NULL;
        if (!reply) {
                missed_fail_call(m, k, error);
                return 0;
        }
        /* The marker the read saw decides NONE or ABANDONED; a takeover since then made the
         * key again. Our alarm lease stays unused when we lost: it expires on its own. */
        if (won)
                missed_answer(m, LEASE_FIRING_NONE, true, NULL);
        else
                missed_answer(m, key ? (running ? LEASE_FIRING_RUNNING : LEASE_FIRING_DONE) :
                                 paused ? LEASE_FIRING_PAUSED : LEASE_FIRING_NONE, false, NULL);
        return 0;
}

void lease_etcd_check_missed(LeaseStore *store, const LeaseRequest *req, bool raise,
                             lease_missed_cb done, void *userdata) {
        EtcdStore *s = container_of(store, EtcdStore, store);
        char when[RFC3339_UTC_MAX], key[1024];
        EtcdMissed *m;

        if (s->closing) {
                done(LEASE_FIRING_NONE, false, store_closing, userdata);
                return;
        }
        /* Its holder deleted its note in our inbox with its final record: it ran, no
         * request needed. */
        (void) snprintf(key, sizeof(key), "%s/%s/%s", s->prefix, req->job,
                        format_rfc3339_utc(req->scheduled, when));
        if (lease_etcd_session_seen_done(s, key)) {
                done(LEASE_FIRING_DONE, false, NULL, userdata);
                return;
        }
        m = calloc(1, sizeof(EtcdMissed));
        if (!m) {
                done(LEASE_FIRING_NONE, false, "out of memory", userdata);
                return;
        }
        *m = (EtcdMissed) { .store = s, .raise = raise, .scheduled = req->scheduled,
                            .done = done, .userdata = userdata,
                            .deadline = lease_etcd_now_ms(s) + s->election_ms };
        format_rfc3339_utc(req->scheduled, when);
        m->job = strdup(req->job);
        m->key64 = key64_printf("%s/%s/%s", s->prefix, req->job, when);
        m->mark64 = key64_printf("%s/%s/%s/claimed", s->prefix, req->job, when);
        m->alarm64 = key64_printf("%s/:missed/%s/%s", s->prefix, req->job, when);
        m->pause64 = lease_etcd_pause_key64(s, req->job);
        LIST_PREPEND(s->missed, m);
        if (!m->job || !m->key64 || !m->mark64 || !m->alarm64 || !m->pause64) {
                missed_answer(m, LEASE_FIRING_NONE, false, "out of memory");
                return;
        }
        m->call = lease_etcd_call_start(s, "/v3/kv/txn", body_read(m), m->deadline,
                                        missed_on_read, m);
        if (!m->call)
                missed_answer(m, LEASE_FIRING_NONE, false, "out of memory");
}

void lease_etcd_missed_close(EtcdStore *s) {
        while (s->missed)
                missed_answer(s->missed, LEASE_FIRING_NONE, false, store_closing);
}
