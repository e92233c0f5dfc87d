/* SPDX-License-Identifier: MIT */
/* Claims of the PostgreSQL lease backend, and what the API asks of it (see lease_pg.c). */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_pg_internal.h"
#include "lease_record.h"
#include "list.h"
#include "parse.h"
#include "strv.h"
#include "timeutil.h"

#define HISTORY_MAX             1000U
#define WATCH_POLL_MS           1000U
#define TRIM_EVERY_MS           (3600U * 1000U)

static const char store_closing[] = "the postgres lease store is closing";

static const char *value(const PGresult *res, int row, int col) {
        return sym_PQgetisnull(res, row, col) ? NULL : sym_PQgetvalue(res, row, col);
}

static bool is_true(const PGresult *res, int row, int col) {
        const char *v = value(res, row, col);

        return v && v[0] == 't';
}

/* A row's record (JSON text) read as a LeaseRecord with its token; *ret_doc to free. */
static bool record_read(const char *text, const char *token, json_t **ret_doc, LeaseRecord *ret) {
        uint64_t t = 0;

        *ret_doc = text ? json_loads(text, 0, NULL) : NULL;
        if (!*ret_doc || !lease_record_from_json(*ret_doc, ret))
                return false;
        if (ret->fencing_token == 0 && token && parse_uint64(token, UINT64_MAX, &t) == 0)
                ret->fencing_token = t;
        return true;
}

static void record_describe(const LeaseRecord *r, bool found, char *buf, size_t n) {
        char host[96], st[48];

        if (!found || !r->status)
                (void) snprintf(buf, n, "held by a record solocron cannot read");
        else if (strcmp(r->status, "running") == 0)
                (void) snprintf(buf, n, "%s pid %" PRId64,
                                lease_pg_clean(r->host ?: "?", host, sizeof(host)), r->pid);
        else
                (void) snprintf(buf, n, "already run: %s",
                                lease_pg_clean(r->status, st, sizeof(st)));
}

/* ---- claims ---- */

static void claim_free(LeaseClaim *c) {
        PgStore *s = c->store;

        lease_pg_alarm_disarm(s, &c->alarm);
        lease_pg_call_cancel(c->call);
        LIST_UNLINK(s->claims, c);
        s->n_claims--;
        free(c->job);
        free(c->key);
        free(c->scheduled);
        free(c->record);
        free(c);
        lease_pg_store_maybe_closed(s);
}

static void claim_on_released(PgCall *k, const PGresult *res, int error, void *owner) {
        LeaseClaim *c = owner;

        (void) k, (void) res, (void) error;
        c->call = NULL;
        claim_free(c);
}

/* End the lease if it is still ours (the row stays running: watchers take over). */
void lease_pg_claim_release(LeaseClaim *c) {
        PgStore *s = c->store;
        const char *p[] = { s->prefix, c->job, c->scheduled, c->run };

        c->state = PG_CLAIM_RELEASE;
        lease_pg_alarm_disarm(s, &c->alarm);
        lease_pg_call_cancel(c->call);
        c->call = lease_pg_call(s, STMT_RELEASE, p, 4, lease_pg_now_ms(s) + s->election_ms,
                                claim_on_released, c);
        if (!c->call)
                claim_free(c);
}

static void claim_conclude(LeaseClaim *c, LeaseResult result, LeaseHeld held,
                           const LeaseRecord *record) {
        LeaseInfo info = { .detail = c->detail, .key = c->key, .held = held, .record = record };

        c->state = PG_CLAIM_DONE;
        c->cb.claimed(c, result, &info, c->cb.userdata);
        claim_free(c);
}

static void claim_unavailable(LeaseClaim *c, PgCall *k, int error) {
        lease_pg_call_failure(k, error, c->detail, sizeof(c->detail));
        claim_conclude(c, LEASE_UNAVAILABLE, 0, NULL);
}

static void claim_on_renew(PgAlarm *a);

static void claim_won(LeaseClaim *c, const char *token) {
        PgStore *s = c->store;
        LeaseInfo info = { .key = c->key };

        if (!token || parse_uint64(token, UINT64_MAX, &c->token) < 0) {
                (void) snprintf(c->detail, sizeof(c->detail), "postgres gave no fencing token");
                claim_conclude(c, LEASE_UNAVAILABLE, 0, NULL);
                return;
        }
        info.fencing_token = c->token;
        c->state = PG_CLAIM_WON;
        lease_pg_alarm_arm(s, &c->alarm, c->renewed + s->ttl_ms / 3, claim_on_renew);
        c->cb.claimed(c, LEASE_WON, &info, c->cb.userdata);
}

static int claim_look(LeaseClaim *c);
static int claim_insert(LeaseClaim *c);

static void claim_on_taken(PgCall *k, const PGresult *res, int error, void *owner) {
        LeaseClaim *c = owner;

        c->call = NULL;
        if (!res)
                return claim_unavailable(c, k, error);
        if (sym_PQntuples(res) == 1)
                return claim_won(c, value(res, 0, 0));
        if (claim_look(c) < 0)          /* another replica took it over first */
                claim_unavailable(c, k, -ENOMEM);
}

/* Take over the row of a firing whose holder's lease expired while it ran. */
static int claim_take_over(LeaseClaim *c, const char *previous) {
        PgStore *s = c->store;
        char ttl[24], holder[320];
        _cleanup_free_ char *rec = NULL;
        json_t *doc = json_loads(c->record, 0, NULL);
        json_t *prev = previous ? json_loads(previous, 0, NULL) : NULL;
        const char *p[] = { s->prefix, c->job, c->scheduled, holder, c->run, ttl, NULL };

        if (doc && prev)
                (void) json_object_set_new(doc, "previous", prev);
        else
                json_decref(prev);
        rec = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!rec)
                return -ENOMEM;
        (void) snprintf(ttl, sizeof(ttl), "%" PRIu64, s->ttl_ms);
        (void) snprintf(holder, sizeof(holder), "%s pid %" PRId64, s->hostname, s->pid);
        p[6] = rec;
        c->took_over = true;
        c->renewed = lease_pg_now_ms(s);
        c->call = lease_pg_call(s, STMT_TAKEOVER, p, 7, c->deadline, claim_on_taken, c);
        return c->call ? 0 : -ENOMEM;
}

/* The firing's row: run_id, state, live, record, token, paused. */
static void claim_on_look(PgCall *k, const PGresult *res, int error, void *owner) {
        LeaseClaim *c = owner;
        const char *run, *state, *rec;
        bool live, paused, found;
        LeaseRecord r;
        json_t *doc = NULL;

        c->call = NULL;
        if (!res || sym_PQntuples(res) != 1)
                return claim_unavailable(c, k, res ? -EBADMSG : error);
        run = value(res, 0, 0);
        state = value(res, 0, 1);
        live = is_true(res, 0, 2);
        rec = value(res, 0, 3);
        paused = is_true(res, 0, 5);
        if (run && strcmp(run, c->run) == 0)
                return claim_won(c, value(res, 0, 4));  /* a retry of a claim that won */
        if (!run && !paused) {                          /* gone meanwhile (trimmed) */
                if (claim_insert(c) < 0)
                        claim_unavailable(c, k, -ENOMEM);
                return;
        }
        found = run && record_read(rec, value(res, 0, 4), &doc, &r);
        if (run && (live || strcmp(state, "running") != 0)) {
                bool running = strcmp(state, "running") == 0;

                record_describe(&r, found, c->detail, sizeof(c->detail));
                claim_conclude(c, LEASE_HELD, running ? LEASE_HELD_RUNNING : LEASE_HELD_DONE,
                               found ? &r : NULL);
        } else if (paused) {
                (void) snprintf(c->detail, sizeof(c->detail), "the job is paused");
                claim_conclude(c, LEASE_HELD, LEASE_HELD_PAUSED, NULL);
        } else if (c->takeover && !c->took_over) {
                if (claim_take_over(c, rec) < 0)
                        claim_unavailable(c, k, -ENOMEM);
        } else {
                size_t n;

                record_describe(&r, found, c->detail, sizeof(c->detail));
                n = strlen(c->detail);
                (void) snprintf(c->detail + n, sizeof(c->detail) - n, " (its lease expired)");
                if (found)
                        r.status = "abandoned";
                claim_conclude(c, LEASE_HELD, LEASE_HELD_ABANDONED, found ? &r : NULL);
        }
        json_decref(doc);
}

static int claim_look(LeaseClaim *c) {
        PgStore *s = c->store;
        const char *p[] = { s->prefix, c->job, c->scheduled, c->manual ? "false" : "true" };

        c->call = lease_pg_call(s, STMT_LOOK, p, 4, c->deadline, claim_on_look, c);
        return c->call ? 0 : -ENOMEM;
}

static void claim_on_inserted(PgCall *k, const PGresult *res, int error, void *owner) {
        LeaseClaim *c = owner;

        c->call = NULL;
        if (!res)
                return claim_unavailable(c, k, error);
        if (sym_PQntuples(res) == 1)
                return claim_won(c, value(res, 0, 0));
        if (claim_look(c) < 0)
                claim_unavailable(c, k, -ENOMEM);
}

static void trim_on_done(PgCall *k, const PGresult *res, int error, void *owner) {
        (void) k, (void) res, (void) error, (void) owner;      /* again in an hour */
}

static int claim_insert(LeaseClaim *c) {
        PgStore *s = c->store;
        char ttl[24], holder[320];
        const char *p[] = { s->prefix, c->job, c->scheduled, c->sched_at, holder, c->run, ttl,
                            c->record, c->manual ? "false" : "true" };

        /* The first claim of each hour deletes the rows of firings that ended before
         * `history` (a statement of its own, answered to no one). */
        if (!s->trimmed || lease_pg_now_ms(s) - s->trimmed >= TRIM_EVERY_MS) {
                char cutoff[24];
                const char *t[] = { s->prefix, cutoff };
                PgCall *k;

                (void) snprintf(cutoff, sizeof(cutoff), "%" PRId64,
                                lease_pg_wall_sec() - (int64_t) (s->history_ms / 1000));
                k = lease_pg_call(s, STMT_TRIM, t, 2, lease_pg_now_ms(s) + s->election_ms,
                                  trim_on_done, NULL);
                if (k && !s->no_alarms)
                        (void) lease_pg_call(s, STMT_TRIM_ALARMS, t, 2,
                                             lease_pg_now_ms(s) + s->election_ms, trim_on_done,
                                             NULL);
                if (k)
                        s->trimmed = lease_pg_now_ms(s) ?: 1;
        }
        (void) snprintf(ttl, sizeof(ttl), "%" PRIu64, s->ttl_ms);
        (void) snprintf(holder, sizeof(holder), "%s pid %" PRId64, s->hostname, s->pid);
        c->renewed = lease_pg_now_ms(s);
        c->call = lease_pg_call(s, STMT_CLAIM, p, 9, c->deadline, claim_on_inserted, c);
        return c->call ? 0 : -ENOMEM;
}

static char *record_new(PgStore *s, const LeaseRequest *req) {
        char sched[RFC3339_UTC_MAX], now[RFC3339_UTC_MAX];
        int64_t started = lease_started_at(req->scheduled, req->manual, lease_pg_wall_sec());
        json_t *rec = json_pack("{s:s,s:s,s:s*,s:{s:s,s:I},s:s,s:I,s:s,s:s}",
                                "job", req->job,
                                "scheduled", format_rfc3339_utc(req->scheduled, sched),
                                "manual", req->manual,
                                "holder", "hostname", s->hostname, "pid", (json_int_t) s->pid,
                                "run", req->run_id ?: "", "attempt", (json_int_t) req->attempt,
                                "status", "running",
                                "started", format_rfc3339_utc(started, now));
        char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;

        json_decref(rec);
        return text;
}

LeaseResult lease_pg_claim(LeaseStore *store, const LeaseRequest *req, const LeaseCallbacks *cb,
                           LeaseClaim **ret_claim, LeaseInfo *ret_info) {
        PgStore *s = container_of(store, PgStore, store);
        char when[RFC3339_UTC_MAX];
        LeaseClaim *c;

        assert(req && req->job && cb && cb->claimed && cb->lost);
        *ret_info = (LeaseInfo) { .detail = s->detail };
        if (s->closing) {
                (void) snprintf(s->detail, sizeof(s->detail), "%s", store_closing);
                return LEASE_UNAVAILABLE;
        }
        if (s->n_claims >= PG_CLAIMS_MAX) {
                (void) snprintf(s->detail, sizeof(s->detail), "too many postgres claims at once");
                return LEASE_UNAVAILABLE;
        }
        c = calloc(1, sizeof(LeaseClaim));
        if (!c)
                goto oom;
        *c = (LeaseClaim) { .store = s, .cb = *cb, .takeover = req->takeover,
                            .manual = !!req->manual,
                            .deadline = lease_pg_now_ms(s) + s->election_ms };
        (void) snprintf(c->run, sizeof(c->run), "%s", req->run_id ?: "");
        (void) snprintf(c->sched_at, sizeof(c->sched_at), "%" PRId64, req->scheduled);
        if ((req->manual ? asprintf(&c->scheduled, "manual-%s", req->manual) :
             asprintf(&c->scheduled, "%s", format_rfc3339_utc(req->scheduled, when))) < 0)
                c->scheduled = NULL;
        if (c->scheduled && asprintf(&c->key, "%s/%s/%s", s->prefix, req->job, c->scheduled) < 0)
                c->key = NULL;
        c->job = strdup(req->job);
        c->record = record_new(s, req);
        if (!c->scheduled || !c->key || !c->job || !c->record || claim_insert(c) < 0) {
                free(c->scheduled);
                free(c->key);
                free(c->job);
                free(c->record);
                free(c);
                goto oom;
        }
        LIST_PREPEND(s->claims, c);
        s->n_claims++;
        c->state = PG_CLAIM_ELECT;
        ret_info->key = c->key;
        ret_info->detail = NULL;
        *ret_claim = c;
        return LEASE_PENDING;
oom:
        (void) snprintf(s->detail, sizeof(s->detail), "out of memory");
        return LEASE_UNAVAILABLE;
}

static void claim_lose(LeaseClaim *c, const char *why) {
        if (c->lost)
                return;
        c->lost = true;
        c->cb.lost(c, why, c->cb.userdata);
}

static void claim_on_renewed(PgCall *k, const PGresult *res, int error, void *owner) {
        LeaseClaim *c = owner;
        PgStore *s = c->store;
        uint64_t now = lease_pg_now_ms(s);
        char why[2 * PG_WHY_MAX], e[PG_WHY_MAX + 64];

        c->call = NULL;
        lease_pg_alarm_arm(s, &c->alarm, now + s->ttl_ms / 3, claim_on_renew);
        if (!res) {
                if (now < c->renewed + s->ttl_ms)
                        return;
                lease_pg_call_failure(k, error, e, sizeof(e));
                (void) snprintf(why, sizeof(why), "renewal failed for %" PRIu64 " s: %s",
                                (now - c->renewed) / 1000, e);
                return claim_lose(c, why);
        }
        if (sym_PQntuples(res) == 1) {
                c->renewed = c->renew_sent;
                lease_pg_alarm_arm(s, &c->alarm, c->renewed + s->ttl_ms / 3, claim_on_renew);
                return;
        }
        claim_lose(c, "the firing's row no longer names this run (taken over, or gone)");
}

static void claim_on_renew(PgAlarm *a) {
        LeaseClaim *c = container_of(a, LeaseClaim, alarm);
        PgStore *s = c->store;
        uint64_t now = lease_pg_now_ms(s), deadline = c->renewed + s->ttl_ms;
        char ttl[24];
        const char *p[] = { s->prefix, c->job, c->scheduled, c->run, ttl };

        if (deadline < now + PG_BACKOFF_MS)
                deadline = now + s->ttl_ms / 3;
        (void) snprintf(ttl, sizeof(ttl), "%" PRIu64, s->ttl_ms);
        c->renew_sent = now;
        c->call = lease_pg_call(s, STMT_RENEW, p, 5, deadline, claim_on_renewed, c);
        if (!c->call)
                lease_pg_alarm_arm(s, &c->alarm, now + s->ttl_ms / 3, claim_on_renew);
}

static void claim_on_final(PgCall *k, const PGresult *res, int error, void *owner) {
        LeaseClaim *c = owner;

        (void) k, (void) res, (void) error;     /* written; or the proof of run is lost */
        c->call = NULL;
        claim_free(c);
}

void lease_pg_finish(LeaseClaim *c, const LeaseEnd *end) {
        PgStore *s = c->store;
        _cleanup_free_ char *rec = NULL;
        char now[RFC3339_UTC_MAX], exit_status[24];
        json_t *doc;

        assert(c->state == PG_CLAIM_WON);
        lease_pg_alarm_disarm(s, &c->alarm);
        lease_pg_call_cancel(c->call);
        c->call = NULL;
        c->state = PG_CLAIM_FINAL;
        doc = json_loads(c->record, 0, NULL);
        if (doc) {
                (void) json_object_set_new(doc, "status", json_string(end->result ?: "finished"));
                (void) json_object_set_new(doc, "finished",
                                           json_string(format_rfc3339_utc(lease_pg_wall_sec(),
                                                                          now)));
                (void) json_object_set_new(doc, "exit_status", end->exit_status >= 0 ?
                                           json_integer(end->exit_status) : json_null());
                if (end->duration_msec >= 0)
                        (void) json_object_set_new(doc, "duration_ms",
                                                   json_integer(end->duration_msec));
                if (end->output)
                        (void) json_object_set_new(doc, "output", json_string(end->output));
                (void) json_object_set_new(doc, "fencing_token",
                                           json_integer((json_int_t) c->token));
                rec = json_dumps(doc, JSON_COMPACT);
                json_decref(doc);
        }
        (void) snprintf(exit_status, sizeof(exit_status), "%" PRId64, end->exit_status);
        const char *p[] = { s->prefix, c->job, c->scheduled, c->run, end->result ?: "finished",
                            end->exit_status >= 0 ? exit_status : NULL, rec };
        if (rec)
                c->call = lease_pg_call(s, STMT_FINAL, p, 7,
                                        lease_pg_now_ms(s) + s->election_ms, claim_on_final, c);
        if (!c->call)
                lease_pg_claim_release(c);
}

void lease_pg_cancel(LeaseClaim *c) {
        lease_pg_claim_release(c);
}

/* ---- what the API asks ---- */

typedef enum QueryKind { QUERY_HISTORY, QUERY_DONE, QUERY_JOBS } QueryKind;

struct PgQuery {
        PgStore *store;
        PgQuery *prev, *next;
        QueryKind kind;
        union {
                lease_records_cb records;
                lease_jobs_cb jobs;
                lease_done_cb done;
        } cb;
        void *userdata;
        int64_t since;
        unsigned limit;
        PgCall *call;
};

static void query_answer_error(PgQuery *q, const char *why) {
        if (q->kind == QUERY_HISTORY)
                q->cb.records(NULL, 0, why, q->userdata);
        else if (q->kind == QUERY_JOBS)
                q->cb.jobs(NULL, 0, why, q->userdata);
        else
                q->cb.done(why, q->userdata);
}

static void query_free(PgQuery *q) {
        PgStore *s = q->store;

        LIST_UNLINK(s->queries, q);
        lease_pg_call_cancel(q->call);
        free(q);
        lease_pg_store_maybe_closed(s);
}

static void query_fail(PgQuery *q, const char *why) {
        lease_pg_call_cancel(q->call);
        q->call = NULL;
        query_answer_error(q, why);
        query_free(q);
}

static void history_answer(PgQuery *q, const PGresult *res) {
        int n = sym_PQntuples(res);
        LeaseRecord *records = calloc(n > 0 ? (size_t) n : 1, sizeof(LeaseRecord));
        json_t **docs = calloc(n > 0 ? (size_t) n : 1, sizeof(json_t *));
        size_t kept = 0;

        if (!records || !docs) {
                free(records);
                free(docs);
                return query_fail(q, "out of memory");
        }
        for (int i = 0; i < n; i++) {
                if (!record_read(value(res, i, 0), value(res, i, 1), &docs[i], &records[kept]))
                        continue;
                if (strcmp(value(res, i, 2) ?: "", "running") == 0 && !is_true(res, i, 3))
                        records[kept].status = "abandoned";
                kept++;
        }
        kept = lease_records_select(records, kept, q->since, q->limit);
        q->cb.records(records, kept, NULL, q->userdata);
        for (int i = 0; i < n; i++)
                json_decref(docs[i]);
        free(docs);
        free(records);
        query_free(q);
}

static void query_on_reply(PgCall *k, const PGresult *res, int error, void *owner) {
        PgQuery *q = owner;
        char why[PG_WHY_MAX + 64];

        q->call = NULL;
        if (!res) {
                lease_pg_call_failure(k, error, why, sizeof(why));
                return query_fail(q, why);
        }
        if (q->kind == QUERY_HISTORY)
                return history_answer(q, res);
        if (q->kind == QUERY_JOBS) {
                int n = sym_PQntuples(res);
                char **jobs = calloc((size_t) (n > 0 ? n : 0) + 1, sizeof(char *));

                if (!jobs)
                        return query_fail(q, "out of memory");
                for (int i = 0; i < n; i++)
                        jobs[i] = sym_PQgetvalue(res, i, 0);
                q->cb.jobs(jobs, (size_t) (n > 0 ? n : 0), NULL, q->userdata);
                free(jobs);
        } else
                q->cb.done(NULL, q->userdata);
        query_free(q);
}

static void query_start(PgStore *s, PgQuery proto, PgStmt stmt, const char *const *p, int n) {
        PgQuery *q = s->closing ? NULL : calloc(1, sizeof(PgQuery));

        if (!q) {
                query_answer_error(&proto, s->closing ? store_closing : "out of memory");
                return;
        }
        *q = proto;
        q->store = s;
        LIST_PREPEND(s->queries, q);
        q->call = lease_pg_call(s, stmt, p, n, lease_pg_now_ms(s) + s->election_ms,
                                query_on_reply, q);
        if (!q->call)
                query_fail(q, "out of memory");
}

void lease_pg_queries_close(PgStore *s) {
        while (s->queries)
                query_fail(s->queries, store_closing);
}

void lease_pg_history(LeaseStore *store, const char *job, int64_t since, unsigned limit,
                      lease_records_cb done, void *userdata) {
        PgStore *s = container_of(store, PgStore, store);
        char from[24], max[24];
        const char *p[] = { s->prefix, job, from, max };

        if (limit > HISTORY_MAX)
                limit = HISTORY_MAX;
        (void) snprintf(from, sizeof(from), "%" PRId64, since > 0 ? since : 0);
        (void) snprintf(max, sizeof(max), "%u", limit + 16);
        query_start(s, (PgQuery) { .kind = QUERY_HISTORY, .cb.records = done,
                                   .userdata = userdata, .since = since, .limit = limit },
                    STMT_HISTORY, p, 4);
}

void lease_pg_set_paused(LeaseStore *store, const char *job, bool paused, const char *by,
                         lease_done_cb done, void *userdata) {
        PgStore *s = container_of(store, PgStore, store);
        const char *p[] = { s->prefix, job, by ?: "" };

        query_start(s, (PgQuery) { .kind = QUERY_DONE, .cb.done = done, .userdata = userdata },
                    paused ? STMT_PAUSE : STMT_RESUME, p, paused ? 3 : 2);
}

void lease_pg_list_paused(LeaseStore *store, lease_jobs_cb done, void *userdata) {
        PgStore *s = container_of(store, PgStore, store);
        const char *p[] = { s->prefix };

        query_start(s, (PgQuery) { .kind = QUERY_JOBS, .cb.jobs = done, .userdata = userdata },
                    STMT_PAUSED, p, 1);
}

void lease_pg_probe(LeaseStore *store, lease_done_cb done, void *userdata) {
        PgStore *s = container_of(store, PgStore, store);

        query_start(s, (PgQuery) { .kind = QUERY_DONE, .cb.done = done, .userdata = userdata },
                    STMT_PING, NULL, 0);
}

/* ---- watches ---- */

static void watch_look(PgAlarm *a);

static void watch_on_reply(PgCall *k, const PGresult *res, int error, void *owner) {
        LeaseWatch *w = owner;
        PgStore *s = w->store;
        bool running;

        (void) k, (void) error;
        w->call = NULL;
        if (!res || (sym_PQntuples(res) == 1 && is_true(res, 0, 1))) {
                lease_pg_alarm_arm(s, &w->alarm, lease_pg_now_ms(s) + WATCH_POLL_MS, watch_look);
                return;
        }
        running = sym_PQntuples(res) == 1 && strcmp(value(res, 0, 0) ?: "", "running") == 0;
        w->ended(running, w->userdata);
}

static void watch_look(PgAlarm *a) {
        LeaseWatch *w = container_of(a, LeaseWatch, alarm);
        PgStore *s = w->store;
        const char *p[] = { s->prefix, w->job, w->scheduled };

        w->call = lease_pg_call(s, STMT_WATCH, p, 3, lease_pg_now_ms(s) + s->election_ms,
                                watch_on_reply, w);
        if (!w->call)
                lease_pg_alarm_arm(s, &w->alarm, lease_pg_now_ms(s) + WATCH_POLL_MS, watch_look);
}

int lease_pg_watch(LeaseStore *store, const LeaseRequest *req,
                   void (*ended)(bool holder_died, void *userdata), void *userdata,
                   LeaseWatch **ret) {
        PgStore *s = container_of(store, PgStore, store);
        char when[RFC3339_UTC_MAX];
        LeaseWatch *w;

        if (s->closing)
                return -ESHUTDOWN;
        w = calloc(1, sizeof(LeaseWatch));
        if (!w)
                return -ENOMEM;
        if ((req->manual ? asprintf(&w->scheduled, "manual-%s", req->manual) :
             asprintf(&w->scheduled, "%s", format_rfc3339_utc(req->scheduled, when))) < 0)
                w->scheduled = NULL;
        w->job = strdup(req->job);
        if (!w->scheduled || !w->job) {
                free(w->scheduled);
                free(w->job);
                free(w);
                return -ENOMEM;
        }
        w->store = s;
        w->ended = ended;
        w->userdata = userdata;
        LIST_PREPEND(s->watches, w);
        lease_pg_alarm_arm(s, &w->alarm, lease_pg_now_ms(s), watch_look);
        *ret = w;
        return 0;
}

void lease_pg_unwatch(LeaseWatch *w) {
        PgStore *s;

        if (!w)
                return;
        s = w->store;
        lease_pg_alarm_disarm(s, &w->alarm);
        lease_pg_call_cancel(w->call);
        LIST_UNLINK(s->watches, w);
        free(w->scheduled);
        free(w->job);
        free(w);
}
