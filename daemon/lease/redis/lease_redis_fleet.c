/* SPDX-License-Identifier: MIT */
/* What the API asks of the Redis lease backend, and takeover watches (see lease_redis.c for
 * the keys):
 *   history   the history script: the job's index from `since` on, newest first, each
 *             firing's record and whether its lease lives (a running record without it is
 *             abandoned)
 *   pause     HSET/HDEL of PREFIX/:paused; the list: HKEYS
 *   probe     PING (after the handshake: the credentials are good)
 *   watch     the watch script every second: the lease gone while the record says running
 *             → ended(true) (the holder died: take over); a final record → ended(false).
 *             A second's poll keeps a takeover within TTL + 1 s of the holder's last renewal
 *             without keyspace notifications, which a server must be configured for. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_record.h"
#include "lease_redis_internal.h"
#include "list.h"
#include "strv.h"
#include "timeutil.h"

#define HISTORY_MAX             1000U   /* records a history answers at most */
#define PAUSED_MAX              10000U  /* pause markers listed at most */
#define WATCH_POLL_MS           1000U

static const char store_closing[] = "the redis lease store is closing";

typedef enum QueryKind {
        QUERY_HISTORY,
        QUERY_SET_PAUSED,
        QUERY_LIST_PAUSED,
        QUERY_PROBE,
} QueryKind;

struct RedisQuery {             /* on store->queries until answered, which frees it */
        RedisStore *store;
        RedisQuery *prev, *next;
        QueryKind kind;
        union {
                lease_records_cb records;
                lease_jobs_cb jobs;
                lease_done_cb done;
        } cb;
        void *userdata;
        int64_t since;          /* QUERY_HISTORY */
        unsigned limit;
        RedisCall *call;
};

char *lease_redis_key(const RedisStore *s, const char *job, const char *what) {
        char *k;

        if ((job ? asprintf(&k, "%s/%s/%s", s->prefix, job, what) :
                   asprintf(&k, "%s/%s", s->prefix, what)) < 0)
                return NULL;
        return k;
}

/* ---- queries ---- */

static void query_answer_error(RedisQuery *q, const char *why) {
        switch (q->kind) {
        case QUERY_HISTORY:
                q->cb.records(NULL, 0, why, q->userdata);
                break;
        case QUERY_LIST_PAUSED:
                q->cb.jobs(NULL, 0, why, q->userdata);
                break;
        case QUERY_SET_PAUSED:
        case QUERY_PROBE:
                q->cb.done(why, q->userdata);
                break;
        }
}

/* Off the store's list and freed, after its answer. */
static void query_free(RedisQuery *q) {
        RedisStore *s = q->store;

        LIST_UNLINK(s->queries, q);
        lease_redis_call_cancel(q->call);
        free(q);
        lease_redis_store_maybe_closed(s);
}

static void query_fail(RedisQuery *q, const char *why) {
        lease_redis_call_cancel(q->call);
        q->call = NULL;
        query_answer_error(q, why);
        query_free(q);
}

static void query_on_reply(RedisCall *k, const redisReply *reply, int error, void *owner);

/* A query sending args; answered at once when it cannot start. */
static void query_start(RedisStore *s, RedisQuery proto, int script, unsigned nkeys,
                        const char *const *args, size_t n) {
        RedisQuery *q = s->closing ? NULL : calloc(1, sizeof(RedisQuery));

        if (!q) {
                query_answer_error(&proto, s->closing ? store_closing : "out of memory");
                return;
        }
        *q = proto;
        q->store = s;
        LIST_PREPEND(s->queries, q);
        for (size_t i = 0; i < n; i++)
                if (!args[i])
                        return query_fail(q, "out of memory");
        q->call = script >= 0 ?
                lease_redis_script(s, (RedisScript) script, nkeys, args, n,
                                   lease_redis_now_ms(s) + s->election_ms, query_on_reply, q) :
                lease_redis_command(s, args, n, lease_redis_now_ms(s) + s->election_ms,
                                    query_on_reply, q);
        if (!q->call)
                query_fail(q, "out of memory");
}

static void history_answer(RedisQuery *q, const redisReply *reply) {
        size_t n = reply->elements / 2, kept = 0;
        LeaseRecord *records = calloc(n ? n : 1, sizeof(LeaseRecord));
        json_t **docs = calloc(n ? n : 1, sizeof(json_t *));

        if (!records || !docs) {
                free(records);
                free(docs);
                return query_fail(q, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                const redisReply *rec = reply->element[2 * i], *live = reply->element[2 * i + 1];

                if (rec->type != REDIS_REPLY_STRING)
                        continue;
                docs[i] = json_loadb(rec->str, rec->len, 0, NULL);
                if (!docs[i] || !lease_record_from_json(docs[i], &records[kept]))
                        continue;
                if (lease_redis_record_is_running(docs[i]) &&
                    !(live->type == REDIS_REPLY_INTEGER && live->integer == 1))
                        records[kept].status = "abandoned";
                kept++;
        }
        kept = lease_records_select(records, kept, q->since, q->limit);
        q->cb.records(records, kept, NULL, q->userdata);
        for (size_t i = 0; i < n; i++)
                json_decref(docs[i]);
        free(docs);
        free(records);
        query_free(q);
}

static void query_on_reply(RedisCall *k, const redisReply *reply, int error, void *owner) {
        RedisQuery *q = owner;
        char why[REDIS_WHY_MAX + 64];

        q->call = NULL;
        if (!reply || reply->type == REDIS_REPLY_ERROR) {
                if (error == -ETIMEDOUT)
                        (void) snprintf(why, sizeof(why), "no answer from redis within %" PRIu64
                                        " ms: %s", q->store->election_ms, k->why);
                else
                        (void) snprintf(why, sizeof(why), "%s",
                                        lease_redis_call_failure(k, reply, error));
                return query_fail(q, why);
        }
        switch (q->kind) {
        case QUERY_HISTORY:
                if (reply->type != REDIS_REPLY_ARRAY)
                        return query_fail(q, "unexpected answer to the history script");
                return history_answer(q, reply);
        case QUERY_LIST_PAUSED: {
                size_t n = reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0;
                char **jobs = calloc(n + 1, sizeof(char *));

                if (!jobs)
                        return query_fail(q, "out of memory");
                for (size_t i = 0, j = 0; i < n && j < PAUSED_MAX; i++)
                        if (reply->element[i]->type == REDIS_REPLY_STRING)
                                jobs[j++] = reply->element[i]->str;
                q->cb.jobs(jobs, strv_length(jobs), NULL, q->userdata);
                free(jobs);
                break;
        }
        case QUERY_SET_PAUSED:
        case QUERY_PROBE:
                q->cb.done(NULL, q->userdata);
                break;
        }
        query_free(q);
}

void lease_redis_queries_close(RedisStore *s) {
        while (s->queries)
                query_fail(s->queries, store_closing);
}

void lease_redis_history(LeaseStore *store, const char *job, int64_t since, unsigned limit,
                         lease_records_cb done, void *userdata) {
        RedisStore *s = container_of(store, RedisStore, store);
        _cleanup_free_ char *index = lease_redis_key(s, job, ":history");
        char from[24], max[24];
        const char *args[] = { index, from, max };

        if (limit > HISTORY_MAX)
                limit = HISTORY_MAX;
        (void) snprintf(from, sizeof(from), "%" PRId64, since > 0 ? since : 0);
        /* Manual runs asked for within a second share a score: a few more, then select. */
        (void) snprintf(max, sizeof(max), "%u", limit + 16);
        query_start(s, (RedisQuery) { .kind = QUERY_HISTORY, .cb.records = done,
                                      .userdata = userdata, .since = since, .limit = limit },
                    SCRIPT_HISTORY, 1, args, ELEMENTSOF(args));
}

void lease_redis_set_paused(LeaseStore *store, const char *job, bool paused, const char *by,
                            lease_done_cb done, void *userdata) {
        RedisStore *s = container_of(store, RedisStore, store);
        _cleanup_free_ char *key = lease_redis_key(s, NULL, ":paused"), *value = NULL;
        char at[RFC3339_UTC_MAX];
        json_t *marker;
        RedisQuery proto = { .kind = QUERY_SET_PAUSED, .cb.done = done, .userdata = userdata };

        marker = json_pack("{s:s,s:s}", "by", by ?: "", "at",
                           format_rfc3339_utc(lease_redis_wall_sec(), at));
        value = marker ? json_dumps(marker, JSON_COMPACT) : NULL;
        json_decref(marker);
        if (paused) {
                const char *args[] = { "HSET", key, job, value };

                query_start(s, proto, -1, 0, args, ELEMENTSOF(args));
        } else {
                const char *args[] = { "HDEL", key, job };

                query_start(s, proto, -1, 0, args, ELEMENTSOF(args));
        }
}

void lease_redis_list_paused(LeaseStore *store, lease_jobs_cb done, void *userdata) {
        RedisStore *s = container_of(store, RedisStore, store);
        _cleanup_free_ char *key = lease_redis_key(s, NULL, ":paused");
        const char *args[] = { "HKEYS", key };

        query_start(s, (RedisQuery) { .kind = QUERY_LIST_PAUSED, .cb.jobs = done,
                                      .userdata = userdata }, -1, 0, args, ELEMENTSOF(args));
}

void lease_redis_probe(LeaseStore *store, lease_done_cb done, void *userdata) {
        RedisStore *s = container_of(store, RedisStore, store);
        const char *args[] = { "PING" };

        query_start(s, (RedisQuery) { .kind = QUERY_PROBE, .cb.done = done,
                                      .userdata = userdata }, -1, 0, args, ELEMENTSOF(args));
}

/* ---- watches ---- */

static void watch_look(RedisAlarm *a);

static void watch_on_reply(RedisCall *k, const redisReply *reply, int error, void *owner) {
        LeaseWatch *w = owner;
        RedisStore *s = w->store;
        const redisReply *live, *rec;
        json_t *j;
        bool running;

        (void) k, (void) error;
        w->call = NULL;
        if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
                lease_redis_alarm_arm(s, &w->alarm, lease_redis_now_ms(s) + WATCH_POLL_MS,
                                      watch_look);
                return;                 /* could not look: again later */
        }
        live = reply->element[0];
        rec = reply->element[1];
        if (live->type == REDIS_REPLY_INTEGER && live->integer == 1) {
                lease_redis_alarm_arm(s, &w->alarm, lease_redis_now_ms(s) + WATCH_POLL_MS,
                                      watch_look);
                return;
        }
        j = rec->type == REDIS_REPLY_STRING && rec->len ?
            json_loadb(rec->str, rec->len, 0, NULL) : NULL;
        running = lease_redis_record_is_running(j);
        json_decref(j);
        w->ended(running, w->userdata); /* the caller's to unwatch(): maybe right now */
}

static void watch_look(RedisAlarm *a) {
        LeaseWatch *w = container_of(a, LeaseWatch, alarm);
        RedisStore *s = w->store;
        const char *args[] = { w->key, w->record_key };

        w->call = lease_redis_script(s, SCRIPT_WATCH, 2, args, ELEMENTSOF(args),
                                     lease_redis_now_ms(s) + s->election_ms, watch_on_reply, w);
        if (!w->call)
                lease_redis_alarm_arm(s, &w->alarm, lease_redis_now_ms(s) + WATCH_POLL_MS,
                                      watch_look);
}

int lease_redis_watch(LeaseStore *store, const LeaseRequest *req,
                      void (*ended)(bool holder_died, void *userdata), void *userdata,
                      LeaseWatch **ret) {
        RedisStore *s = container_of(store, RedisStore, store);
        char when[RFC3339_UTC_MAX];
        LeaseWatch *w;

        if (s->closing)
                return -ESHUTDOWN;
        w = calloc(1, sizeof(LeaseWatch));
        if (!w)
                return -ENOMEM;
        if ((req->manual ? asprintf(&w->key, "%s/%s/manual-%s", s->prefix, req->job, req->manual) :
             asprintf(&w->key, "%s/%s/%s", s->prefix, req->job,
                      format_rfc3339_utc(req->scheduled, when))) < 0)
                w->key = NULL;
        if (!w->key || asprintf(&w->record_key, "%s/record", w->key) < 0) {
                free(w->key);
                free(w);
                return -ENOMEM;
        }
        w->store = s;
        w->ended = ended;
        w->userdata = userdata;
        LIST_PREPEND(s->watches, w);
        lease_redis_alarm_arm(s, &w->alarm, lease_redis_now_ms(s), watch_look);
        *ret = w;
        return 0;
}

void lease_redis_unwatch(LeaseWatch *w) {
        RedisStore *s;

        if (!w)
                return;
        s = w->store;
        lease_redis_alarm_disarm(s, &w->alarm);
        lease_redis_call_cancel(w->call);
        LIST_UNLINK(s->watches, w);
        free(w->key);
        free(w->record_key);
        free(w);
}
