/* SPDX-License-Identifier: MIT */
/* The missed-firing alarm of the Redis lease backend (check_missed, see lease.h and
 * daemon/core/missed.c): one script, atomic on the server, whatever it finds:
 *   the lease KEY lives → running; KEY/record final (or not ours to read) → done; the job
 *   paused → paused; a running record without its lease → abandoned; nothing → none; and,
 *   asked to raise, for abandoned or none: SET PREFIX/:missed/JOB/SCHEDULED NX PX history.
 *   Exactly one caller's SET succeeds: raised.
 * One request per check, raising or not. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_redis_internal.h"
#include "lease_record.h"
#include "list.h"
#include "macro.h"
#include "timeutil.h"

static const char store_closing[] = "the redis lease store is closing";

struct RedisMissed {            /* on store->missed until answered, which frees it */
        RedisStore *store;
        RedisMissed *prev, *next;
        RedisCall *call;
        lease_missed_cb done;
        void *userdata;
};

static void missed_answer(RedisMissed *m, LeaseFiringState state, bool raised, const char *error) {
        RedisStore *s = m->store;

        LIST_UNLINK(s->missed, m);
        lease_redis_call_cancel(m->call);
        m->call = NULL;
        m->done(state, raised, error, m->userdata);
        free(m);
        lease_redis_store_maybe_closed(s);
}

static void missed_on_reply(RedisCall *k, const redisReply *reply, int error, void *owner) {
        RedisMissed *m = owner;
        char why[REDIS_WHY_MAX + 64];
        LeaseFiringState state;

        m->call = NULL;
        if (!reply || reply->type == REDIS_REPLY_ERROR) {
                if (error == -ETIMEDOUT)
                        (void) snprintf(why, sizeof(why), "no answer from redis within %" PRIu64
                                        " ms: %s", m->store->election_ms, k->why);
                else
                        (void) snprintf(why, sizeof(why), "%s",
                                        lease_redis_call_failure(k, reply, error));
                return missed_answer(m, LEASE_FIRING_NONE, false, why);
        }
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
            reply->element[0]->type == REDIS_REPLY_STRING &&
            reply->element[1]->type == REDIS_REPLY_INTEGER &&
            lease_firing_state_from_name(reply->element[0]->str, &state))
                return missed_answer(m, state, reply->element[1]->integer == 1, NULL);
        missed_answer(m, LEASE_FIRING_NONE, false, "unexpected answer to the missed script");
}

void lease_redis_check_missed(LeaseStore *store, const LeaseRequest *req, bool raise,
                              lease_missed_cb done, void *userdata) {
        RedisStore *s = container_of(store, RedisStore, store);
        char when[RFC3339_UTC_MAX], at[RFC3339_UTC_MAX], hist[24];
        _cleanup_free_ char *key = NULL, *record_key = NULL, *paused = NULL, *alarm = NULL;
        _cleanup_free_ char *value = NULL;
        RedisMissed *m;
        json_t *v;

        if (s->closing) {
                done(LEASE_FIRING_NONE, false, store_closing, userdata);
                return;
        }
        m = calloc(1, sizeof(RedisMissed));
        if (!m) {
                done(LEASE_FIRING_NONE, false, "out of memory", userdata);
                return;
        }
        *m = (RedisMissed) { .store = s, .done = done, .userdata = userdata };
        LIST_PREPEND(s->missed, m);
        format_rfc3339_utc(req->scheduled, when);
        key = lease_redis_key(s, req->job, when);
        if (key && asprintf(&record_key, "%s/record", key) < 0)
                record_key = NULL;
        paused = lease_redis_key(s, NULL, ":paused");
        if (asprintf(&alarm, "%s/:missed/%s/%s", s->prefix, req->job, when) < 0)
                alarm = NULL;
        v = json_pack("{s:s,s:s,s:s,s:I,s:s}", "job", req->job, "scheduled", when,
                      "by", s->hostname, "pid", (json_int_t) s->pid,
                      "at", format_rfc3339_utc(lease_redis_wall_sec(), at));
        value = v ? json_dumps(v, JSON_COMPACT) : NULL;
        json_decref(v);
        (void) snprintf(hist, sizeof(hist), "%" PRIu64, s->history_ms);
        if (!key || !record_key || !paused || !alarm || !value)
                return missed_answer(m, LEASE_FIRING_NONE, false, "out of memory");
        m->call = lease_redis_script(s, SCRIPT_MISSED, 4,
                                     (const char *const[]) { key, record_key, paused, alarm,
                                                             req->job, raise ? "1" : "0",
                                                             value, hist }, 8,
                                     lease_redis_now_ms(s) + s->election_ms, missed_on_reply, m);
        if (!m->call)
                missed_answer(m, LEASE_FIRING_NONE, false, "out of memory");
}

void lease_redis_missed_close(RedisStore *s) {
        while (s->missed)
                missed_answer(s->missed, LEASE_FIRING_NONE, false, store_closing);
}
