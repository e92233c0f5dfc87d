/* SPDX-License-Identifier: MIT */
/* One claim of the Redis lease backend (see lease_redis.c for the keys): the election (one
 * script), renewal while WON (a script every TTL/3), the final record (a script), and letting
 * go of the lease (a script). Every script compares the run id, so each can be sent again
 * after a lost connection: a claim that had won finds its own run id and wins again. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_record.h"
#include "parse.h"
#include "lease_redis_internal.h"
#include "list.h"
#include "timeutil.h"

/* ---- records ---- */

void lease_redis_record_describe(const json_t *rec, char *buf, size_t n) {
        const char *status = json_string_value(json_object_get(rec, "status"));
        const json_t *holder = json_object_get(rec, "holder");
        const char *hostname = json_string_value(json_object_get(holder, "hostname"));
        char host[96], st[48];

        if (!status)
                (void) snprintf(buf, n, "held by a record solocron cannot read");
        else if (strcmp(status, "running") == 0)
                (void) snprintf(buf, n, "%s pid %" JSON_INTEGER_FORMAT,
                                lease_redis_clean(hostname ?: "?", host, sizeof(host)),
                                json_integer_value(json_object_get(holder, "pid")));
        else
                (void) snprintf(buf, n, "already run: %s",
                                lease_redis_clean(status, st, sizeof(st)));
}

bool lease_redis_record_is_running(const json_t *rec) {
        const char *status = json_string_value(json_object_get(rec, "status"));

        return status && strcmp(status, "running") == 0;
}

static int reply_u64(const redisReply *r, uint64_t *ret) {
        if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
                *ret = (uint64_t) r->integer;
                return 0;
        }
        if (r->type == REDIS_REPLY_STRING)
                return parse_uint64(r->str, UINT64_MAX, ret);
        return -EBADMSG;
}

/* ---- claims ---- */

static void claim_free(LeaseClaim *c) {
        RedisStore *s = c->store;

        lease_redis_alarm_disarm(s, &c->alarm);
        lease_redis_call_cancel(c->call);
        LIST_UNLINK(s->claims, c);
        s->n_claims--;
        free(c->key);
        free(c->record_key);
        free(c->job);
        json_decref(c->record);
        free(c);
        lease_redis_store_maybe_closed(s);
}

static void claim_on_released(RedisCall *k, const redisReply *reply, int error, void *owner) {
        LeaseClaim *c = owner;

        (void) k, (void) reply, (void) error;   /* gone, or unreachable: it expires */
        c->call = NULL;
        claim_free(c);
}

/* Delete the lease if it is still ours (the record stays: a running one is abandoned, and
 * watchers take the firing over), then free the claim. */
void lease_redis_claim_release(LeaseClaim *c) {
        RedisStore *s = c->store;
        const char *args[] = { c->key, c->run };

        c->state = CLAIM_RELEASE;
        lease_redis_alarm_disarm(s, &c->alarm);
        lease_redis_call_cancel(c->call);
        c->call = lease_redis_script(s, SCRIPT_RELEASE, 1, args, ELEMENTSOF(args),
                                     lease_redis_now_ms(s) + s->election_ms, claim_on_released, c);
        if (!c->call)
                claim_free(c);
}

/* The outcome of a PENDING claim other than WON: tell the daemon, then forget it. */
static void claim_conclude(LeaseClaim *c, LeaseResult result, LeaseHeld held,
                           const LeaseRecord *record) {
        LeaseInfo info = { .detail = c->detail, .key = c->key, .held = held, .record = record };

        c->state = CLAIM_DONE;
        c->cb.claimed(c, result, &info, c->cb.userdata);
        /* HELD: the script made nothing of ours. UNAVAILABLE: a claim that did commit
         * unanswered has a lease that expires by itself (its record is then abandoned). */
        claim_free(c);
}

static void claim_on_renew(RedisAlarm *a);

static void claim_won(LeaseClaim *c, uint64_t token) {
        RedisStore *s = c->store;
        LeaseInfo info = { .key = c->key, .fencing_token = token };

        c->state = CLAIM_WON;
        c->token = token;
        lease_redis_alarm_arm(s, &c->alarm, c->renewed + s->ttl_ms / 3, claim_on_renew);
        c->cb.claimed(c, LEASE_WON, &info, c->cb.userdata);
}

/* HELD: the record text found (a live holder's, a final one, or an abandoned one). */
static void claim_held(LeaseClaim *c, const redisReply *rec, bool live) {
        json_t *j = rec->len > 0 ? json_loadb(rec->str, rec->len, 0, NULL) : NULL;
        bool running = lease_redis_record_is_running(j);
        LeaseRecord r;
        bool found;
        size_t n;

        lease_redis_record_describe(j, c->detail, sizeof(c->detail));
        n = strlen(c->detail);
        if (running && !live)
                (void) snprintf(c->detail + n, sizeof(c->detail) - n, " (its lease expired)");
        found = j && lease_record_from_json(j, &r);
        if (found && running && !live)
                r.status = "abandoned";         /* as the history says */
        claim_conclude(c, LEASE_HELD, !running ? LEASE_HELD_DONE :
                       live ? LEASE_HELD_RUNNING : LEASE_HELD_ABANDONED, found ? &r : NULL);
        json_decref(j);
}

static void claim_paused(LeaseClaim *c, const redisReply *marker) {
        json_t *j = json_loadb(marker->str, marker->len, 0, NULL);
        const char *by = json_string_value(json_object_get(j, "by"));
        const char *at = json_string_value(json_object_get(j, "at"));
        char b[128], a[RFC3339_UTC_MAX];

        if (by && at)
                (void) snprintf(c->detail, sizeof(c->detail), "the job is paused (by %s at %s)",
                                lease_redis_clean(by, b, sizeof(b)),
                                lease_redis_clean(at, a, sizeof(a)));
        else
                (void) snprintf(c->detail, sizeof(c->detail), "the job is paused");
        json_decref(j);
        claim_conclude(c, LEASE_HELD, LEASE_HELD_PAUSED, NULL);
}

static void claim_unavailable(LeaseClaim *c, RedisCall *k, const redisReply *reply, int error) {
        if (error == -ETIMEDOUT)
                (void) snprintf(c->detail, sizeof(c->detail), "no answer from redis within %"
                                PRIu64 " ms: %s", c->store->election_ms, k->why);
        else
                (void) snprintf(c->detail, sizeof(c->detail), "%s",
                                lease_redis_call_failure(k, reply, error));
        claim_conclude(c, LEASE_UNAVAILABLE, 0, NULL);
}

/* The claim script's answer: {"won", token}, {"held", record, live}, {"paused", marker}. */
static void claim_on_elected(RedisCall *k, const redisReply *reply, int error, void *owner) {
        LeaseClaim *c = owner;
        const redisReply *what = reply && reply->type == REDIS_REPLY_ARRAY &&
                                 reply->elements >= 2 ? reply->element[0] : NULL;
        uint64_t token;

        c->call = NULL;
        if (!what || what->type != REDIS_REPLY_STRING) {
                if (reply && reply->type != REDIS_REPLY_ERROR)
                        lease_redis_call_why(k, "unexpected answer to the claim script");
                claim_unavailable(c, k, reply && reply->type == REDIS_REPLY_ERROR ? reply : NULL,
                                  error ?: -EBADMSG);
                return;
        }
        if (strcmp(what->str, "won") == 0 && reply_u64(reply->element[1], &token) == 0)
                claim_won(c, token);
        else if (strcmp(what->str, "held") == 0 && reply->elements == 3 &&
                 reply->element[1]->type == REDIS_REPLY_STRING)
                claim_held(c, reply->element[1], reply->element[2]->type == REDIS_REPLY_INTEGER &&
                           reply->element[2]->integer == 1);
        else if (strcmp(what->str, "paused") == 0 && reply->element[1]->type == REDIS_REPLY_STRING)
                claim_paused(c, reply->element[1]);
        else {
                lease_redis_call_why(k, "unexpected answer to the claim script");
                claim_unavailable(c, k, NULL, -EBADMSG);
        }
}

static int claim_elect(LeaseClaim *c) {
        RedisStore *s = c->store;
        _cleanup_free_ char *counter = lease_redis_key(s, NULL, ":token");
        _cleanup_free_ char *paused = lease_redis_key(s, NULL, ":paused");
        _cleanup_free_ char *index = lease_redis_key(s, c->job ?: "", ":history");
        _cleanup_free_ char *rec = json_dumps(c->record, JSON_COMPACT);
        char ttl[24], hist[24], cutoff[24], holder[320];

        if (!counter || !paused || !index || !rec)
                return -ENOMEM;
        (void) snprintf(ttl, sizeof(ttl), "%" PRIu64, s->ttl_ms);
        (void) snprintf(hist, sizeof(hist), "%" PRIu64, s->history_ms);
        (void) snprintf(cutoff, sizeof(cutoff), "%" PRId64,
                        (int64_t) strtoll(c->scheduled, NULL, 10) -
                        (int64_t) (s->history_ms / 1000));
        (void) snprintf(holder, sizeof(holder), "%s pid %" PRId64, s->hostname, s->pid);
        const char *args[] = {
                c->key, c->record_key, counter, paused, index,
                c->run, ttl, hist, rec, c->job && !c->manual ? c->job : "",
                c->takeover ? "1" : "0", c->scheduled, holder, cutoff,
        };
        c->state = CLAIM_ELECT;
        c->renewed = lease_redis_now_ms(s);     /* the lease runs from no earlier */
        c->call = lease_redis_script(s, SCRIPT_CLAIM, 5, args, ELEMENTSOF(args), c->deadline,
                                     claim_on_elected, c);
        return c->call ? 0 : -ENOMEM;
}

/* The running record: who, which run, since when. The script adds the fencing token, and
 * for a takeover the abandoned record as "previous". */
static json_t *record_new(RedisStore *s, const LeaseRequest *req) {
        char sched[RFC3339_UTC_MAX], now[RFC3339_UTC_MAX];
        int64_t started = lease_started_at(req->scheduled, req->manual, lease_redis_wall_sec());

        return json_pack("{s:s,s:s,s:s*,s:{s:s,s:I},s:s,s:I,s:s,s:s}",
                         "job", req->job, "scheduled", format_rfc3339_utc(req->scheduled, sched),
                         "manual", req->manual,
                         "holder", "hostname", s->hostname, "pid", (json_int_t) s->pid,
                         "run", req->run_id ?: "", "attempt", (json_int_t) req->attempt,
                         "status", "running",
                         "started", format_rfc3339_utc(started, now));
}

LeaseResult lease_redis_claim(LeaseStore *store, const LeaseRequest *req, const LeaseCallbacks *cb,
                              LeaseClaim **ret_claim, LeaseInfo *ret_info) {
        RedisStore *s = container_of(store, RedisStore, store);
        char when[RFC3339_UTC_MAX];
        LeaseClaim *c;

        assert(req && req->job && cb && cb->claimed && cb->lost);
        *ret_info = (LeaseInfo) { .detail = s->detail };
        if (s->closing) {
                (void) snprintf(s->detail, sizeof(s->detail), "the redis lease store is closing");
                return LEASE_UNAVAILABLE;
        }
        if (s->n_claims >= REDIS_CLAIMS_MAX) {
                (void) snprintf(s->detail, sizeof(s->detail), "too many redis claims at once (%d)",
                                REDIS_CLAIMS_MAX);
                return LEASE_UNAVAILABLE;
        }
        c = calloc(1, sizeof(LeaseClaim));
        if (!c)
                goto oom;
        *c = (LeaseClaim) { .store = s, .cb = *cb, .takeover = req->takeover,
                            .manual = !!req->manual,
                            .deadline = lease_redis_now_ms(s) + s->election_ms };
        (void) snprintf(c->run, sizeof(c->run), "%s", req->run_id ?: "");
        (void) snprintf(c->scheduled, sizeof(c->scheduled), "%" PRId64, req->scheduled);
        if ((req->manual ? asprintf(&c->key, "%s/%s/manual-%s", s->prefix, req->job, req->manual) :
             asprintf(&c->key, "%s/%s/%s", s->prefix, req->job,
                      format_rfc3339_utc(req->scheduled, when))) < 0)
                c->key = NULL;
        if (c->key && asprintf(&c->record_key, "%s/record", c->key) < 0)
                c->record_key = NULL;
        c->job = strdup(req->job);
        c->record = record_new(s, req);
        if (!c->key || !c->record_key || !c->job || !c->record || claim_elect(c) < 0) {
                json_decref(c->record);
                free(c->key);
                free(c->record_key);
                free(c->job);
                free(c);
                goto oom;
        }
        LIST_PREPEND(s->claims, c);
        s->n_claims++;
        ret_info->key = c->key;
        ret_info->detail = NULL;
        *ret_claim = c;
        return LEASE_PENDING;
oom:
        (void) snprintf(s->detail, sizeof(s->detail), "out of memory");
        return LEASE_UNAVAILABLE;
}

/* lost() once; the claim stays the daemon's until finish() or cancel(). Call last. */
static void claim_lose(LeaseClaim *c, const char *why) {
        if (c->lost)
                return;
        c->lost = true;
        c->cb.lost(c, why, c->cb.userdata);
}

/* The renewal script's answer: 1 renewed; else the record as it is now (another holder's,
 * or ours with the lease gone), or 0: neither the lease nor the record exists. */
static void claim_on_renewed(RedisCall *k, const redisReply *reply, int error, void *owner) {
        LeaseClaim *c = owner;
        RedisStore *s = c->store;
        uint64_t now = lease_redis_now_ms(s), sent = c->renew_sent;
        char who[REDIS_WHY_MAX], why[2 * REDIS_WHY_MAX];
        json_t *j;

        c->call = NULL;
        lease_redis_alarm_arm(s, &c->alarm, now + s->ttl_ms / 3, claim_on_renew);
        if (!reply || reply->type == REDIS_REPLY_ERROR) {
                /* Keep trying: should redis answer while our lease lives, it stays ours. */
                if (now < c->renewed + s->ttl_ms)
                        return;
                (void) snprintf(why, sizeof(why), "renewal failed for %" PRIu64 " s: %s",
                                (now - c->renewed) / 1000,
                                lease_redis_call_failure(k, reply, error));
                return claim_lose(c, why);
        }
        if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
                c->renewed = sent;
                lease_redis_alarm_arm(s, &c->alarm, c->renewed + s->ttl_ms / 3, claim_on_renew);
                return;
        }
        if (reply->type != REDIS_REPLY_STRING)
                return claim_lose(c, "the lease record was deleted");
        j = json_loadb(reply->str, reply->len, 0, NULL);
        if (strcmp(json_string_value(json_object_get(j, "run")) ?: "", c->run) == 0)
                (void) snprintf(why, sizeof(why), "the lease expired: redis no longer has it");
        else {
                lease_redis_record_describe(j, who, sizeof(who));
                (void) snprintf(why, sizeof(why), "the record now names another holder: %s",
                                who);
        }
        json_decref(j);
        claim_lose(c, why);
}

static void claim_on_renew(RedisAlarm *a) {
        LeaseClaim *c = container_of(a, LeaseClaim, alarm);
        RedisStore *s = c->store;
        uint64_t now = lease_redis_now_ms(s), deadline = c->renewed + s->ttl_ms;
        char ttl[24];
        const char *args[] = { c->key, c->record_key, c->run, ttl };

        if (deadline < now + REDIS_BACKOFF_MS)  /* past the TTL already: keep trying a while */
                deadline = now + s->ttl_ms / 3;
        (void) snprintf(ttl, sizeof(ttl), "%" PRIu64, s->ttl_ms);
        c->renew_sent = now;
        c->call = lease_redis_script(s, SCRIPT_RENEW, 2, args, ELEMENTSOF(args), deadline,
                                     claim_on_renewed, c);
        if (!c->call)
                lease_redis_alarm_arm(s, &c->alarm, now + s->ttl_ms / 3, claim_on_renew);
}

static void claim_on_final(RedisCall *k, const redisReply *reply, int error, void *owner) {
        LeaseClaim *c = owner;

        /* Written, and the lease deleted with it (1); or another holder has the firing (0);
         * or redis could not be reached in time: the proof of run is lost, and the lease
         * expires by itself. */
        (void) k, (void) reply, (void) error;
        c->call = NULL;
        claim_free(c);
}

void lease_redis_finish(LeaseClaim *c, const LeaseEnd *end) {
        RedisStore *s = c->store;
        _cleanup_free_ char *index = lease_redis_key(s, c->job, ":history");
        _cleanup_free_ char *rec = NULL;
        char now[RFC3339_UTC_MAX], hist[24];

        assert(c->state == CLAIM_WON);
        lease_redis_alarm_disarm(s, &c->alarm);
        lease_redis_call_cancel(c->call);
        c->call = NULL;
        c->state = CLAIM_FINAL;
        (void) json_object_set_new(c->record, "status", json_string(end->result ?: "finished"));
        (void) json_object_set_new(c->record, "finished",
                                   json_string(format_rfc3339_utc(lease_redis_wall_sec(), now)));
        (void) json_object_set_new(c->record, "exit_status", end->exit_status >= 0 ?
                                   json_integer(end->exit_status) : json_null());
        if (end->duration_msec >= 0)
                (void) json_object_set_new(c->record, "duration_ms",
                                           json_integer(end->duration_msec));
        if (end->output)
                (void) json_object_set_new(c->record, "output", json_string(end->output));
        (void) json_object_set_new(c->record, "fencing_token", json_integer((json_int_t) c->token));
        rec = json_dumps(c->record, JSON_COMPACT);
        (void) snprintf(hist, sizeof(hist), "%" PRIu64, s->history_ms);
        const char *args[] = { c->key, c->record_key, index ?: "", c->run, rec ?: "", hist,
                               c->scheduled };
        if (rec && index)
                c->call = lease_redis_script(s, SCRIPT_FINAL, 3, args, ELEMENTSOF(args),
                                             lease_redis_now_ms(s) + s->election_ms,
                                             claim_on_final, c);
        if (!c->call)
                lease_redis_claim_release(c);
}

void lease_redis_cancel(LeaseClaim *c) {
        assert(c->state == CLAIM_ELECT || c->state == CLAIM_WON);
        lease_redis_claim_release(c);
}
