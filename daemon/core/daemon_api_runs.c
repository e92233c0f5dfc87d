/* SPDX-License-Identifier: MIT */
/* A job's runs through the API: the fleet's history (the store's records, whichever replica
 * ran them), manual runs (elected like a firing under their own key, so that one request sent
 * to every replica runs once), and pause and resume (a marker in the store that every
 * replica's elections honour). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api_parse.h"
#include "daemon_api.h"
#include "lease_record.h"
#include "log.h"
#include "macro.h"
#include "parse.h"

#define RUNS_LIMIT_DEFAULT 50
#define RUNS_LIMIT_MAX 1000
#define MANUAL_POLL_MSEC 1000   /* ?wait=1 on a run another replica has: its record, again */

/* The store cannot do it: which one, and that it is not supported. */
static bool store_can(ApiExchange *x, const LeaseStore *s, const void *op) {
        char why[128];

        if (s && op)
                return true;
        (void) snprintf(why, sizeof(why), "the %s lease store does not support this",
                        s ? s->ops->name : "(no)");
        reply_error(x, 501, why);
        return false;
}

/* ---- the history ---- */

typedef struct RunsWait {
        ApiWait w;
        char *job;
} RunsWait;

static json_t *record_json(const LeaseRecord *r) {
        json_t *o = json_pack("{s:o,s:s?,s:s?,s:s?,s:s?,s:i,s:I,s:o,s:o}",
                              "scheduled", json_time(r->scheduled), "manual", r->manual,
                              "host", r->host, "run", r->run_id, "result", r->status,
                              "attempt", (json_int_t) r->attempt,
                              "fencing_token", (json_int_t) r->fencing_token,
                              "started", json_time(r->started), "finished", json_time(r->finished));

        if (o)
                json_object_set_new(o, "exit_status", r->exit_status >= 0 ?
                                    json_integer(r->exit_status) : json_null());
        if (o)
                json_object_set_new(o, "duration_seconds", r->duration_msec >= 0 ?
                                    json_real((double) r->duration_msec / 1000) : json_null());
        if (o && r->output)
                json_object_set_new(o, "output", json_string(r->output));
        return o;
}

static void runs_on_records(const LeaseRecord *records, size_t n, const char *error,
                            void *userdata) {
        RunsWait *rw = userdata;
        Daemon *d = rw->w.d;
        json_t *a;

        if (rw->w.x) {
                store_health_note(&d->env.store_health, d->env.now_usec(), error);
                if (error)
                        reply_error(rw->w.x, 503, error);
                else {
                        a = json_array();
                        for (size_t i = 0; i < n && a; i++)
                                json_array_append_new(a, record_json(&records[i]));
                        reply_json(rw->w.x, 200, json_pack("{s:s,s:s,s:o}", "job", rw->job,
                                                           "source", d->env.lease->ops->name,
                                                           "runs", a));
                }
        }
        free(rw->job);
        free(rw);
}

/* since: RFC 3339, "@UNIX", or a date ("2026-12-01", UTC); limit: 1 to RUNS_LIMIT_MAX. */
static int runs_query(ApiExchange *x, const char *query, int64_t *ret_since,
                      unsigned *ret_limit) {
        char buf[64];
        uint64_t limit = RUNS_LIMIT_DEFAULT;
        bool abs;

        *ret_since = 0;
        if (api_query_get(query, "since", buf, sizeof(buf)) && *buf &&
            parse_timestamp(buf, ret_since, &abs) < 0) {
                reply_error(x, 400, "since: use a time like 2026-12-01T06:00:00Z or @1796000000");
                return -EINVAL;
        }
        if (api_query_get(query, "limit", buf, sizeof(buf)) && *buf &&
            (parse_uint64(buf, RUNS_LIMIT_MAX, &limit) < 0 || limit == 0)) {
                reply_error(x, 400, "limit: a number from 1 to 1000");
                return -EINVAL;
        }
        *ret_limit = (unsigned) limit;
        return 0;
}

void endpoint_job_runs(Daemon *d, ApiExchange *x, Job *j, const char *query) {
        LeaseStore *s = d->env.lease;
        unsigned limit;
        int64_t since;
        RunsWait *rw;

        if (runs_query(x, query, &since, &limit) < 0 || !store_can(x, s, s ? s->ops->history : NULL))
                return;
        rw = api_wait_new(d, x, sizeof(RunsWait));
        if (!rw)
                return;
        rw->job = strdup(j->cfg->name);
        if (!rw->job) {
                reply_error(x, 500, "out of memory");
                free(rw);
                return;
        }
        s->ops->history(s, j->cfg->name, since, limit, runs_on_records, rw);
}

/* ---- manual runs ---- */

typedef struct ManualWait {
        ApiWait w;
        RunWatch watch;
        bool wait;              /* ?wait=1: answer with the result */
        bool decided;
        bool polling;           /* waiting for another replica's record (outlives the run) */
        char *job, *key, *run_id;
        int64_t since;          /* the held record's scheduled instant, for the history */
        uv_timer_t timer;       /* the next look at the record (polling only) */
} ManualWait;

static void manual_free(ManualWait *mw) {
        free(mw->job);
        free(mw->key);
        free(mw->run_id);
        free(mw);
}

static void manual_on_timer_closed(uv_handle_t *h) {
        manual_free(h->data);
}

/* The answer about a run: state "running" (202), or "finished" with how it ended (200). */
static void manual_reply(ManualWait *mw, const char *host, const char *run_id, const char *result,
                         int64_t exit_status, int64_t duration_msec) {
        json_t *o = json_pack("{s:s,s:s,s:s?,s:s?,s:s}", "job", mw->job, "key", mw->key,
                              "run", run_id, "host", host, "state", result ? "finished" : "running");

        if (o && result) {
                json_object_set_new(o, "result", json_string(result));
                json_object_set_new(o, "exit_status", exit_status >= 0 ?
                                    json_integer(exit_status) : json_null());
                json_object_set_new(o, "duration_seconds", duration_msec >= 0 ?
                                    json_real((double) duration_msec / 1000) : json_null());
        }
        reply_json(mw->w.x, result ? 200 : 202, o);
        mw->w.x = NULL;
}

static void manual_poll(ManualWait *mw);

static void manual_on_records(const LeaseRecord *records, size_t n, const char *error,
                              void *userdata) {
        ManualWait *mw = userdata;

        if (!mw->w.x) {                 /* gone: stop */
                uv_close((uv_handle_t *) &mw->timer, manual_on_timer_closed);
                return;
        }
        for (size_t i = 0; !error && i < n; i++)
                if (records[i].run_id && strcmp(records[i].run_id, mw->run_id) == 0 &&
                    records[i].status && strcmp(records[i].status, "running") != 0) {
                        manual_reply(mw, records[i].host, mw->run_id, records[i].status,
                                     records[i].exit_status, records[i].duration_msec);
                        uv_close((uv_handle_t *) &mw->timer, manual_on_timer_closed);
                        return;
                }
        manual_poll(mw);
}

static void manual_on_timer(uv_timer_t *t) {
        ManualWait *mw = t->data;
        LeaseStore *s = mw->w.d->env.lease;

        if (!mw->w.x) {
                uv_close((uv_handle_t *) &mw->timer, manual_on_timer_closed);
                return;
        }
        s->ops->history(s, mw->job, mw->since, RUNS_LIMIT_MAX, manual_on_records, mw);
}

static void manual_poll(ManualWait *mw) {
        (void) uv_timer_start(&mw->timer, manual_on_timer, MANUAL_POLL_MSEC, 0);
}

static void manual_on_decided(Run *r, bool here, void *userdata) {
        ManualWait *mw = userdata;
        const ElectHeld *h = &r->election.held;
        Daemon *d = mw->w.d;

        mw->decided = true;
        if (!mw->w.x)
                return;
        if (here) {
                if (!mw->wait)
                        manual_reply(mw, daemon_hostname(), r->id, NULL, -1, -1);
                return;
        }
        if (r->election.outcome != ELECT_HELD) {        /* the store did not answer */
                reply_error(mw->w.x, 503, "the lease store could not elect the run "
                            "(on_store_down: skip); try again");
                mw->w.x = NULL;
                return;
        }
        /* Another replica (or an earlier request) has this key: its run is the answer. */
        if (!h->status || strcmp(h->status, "running") != 0 || !mw->wait || !h->run_id ||
            !d->env.lease->ops->history || uv_timer_init(d->loop, &mw->timer) < 0) {
                manual_reply(mw, h->host, h->run_id,
                             h->status && strcmp(h->status, "running") != 0 ? h->status : NULL,
                             h->exit_status, h->duration_msec);
                return;
        }
        mw->polling = true;             /* mw goes with its timer */
        mw->timer.data = mw;
        mw->run_id = strdup(h->run_id);
        if (!mw->run_id) {
                reply_error(mw->w.x, 500, "out of memory");
                mw->w.x = NULL;
                uv_close((uv_handle_t *) &mw->timer, manual_on_timer_closed);
                return;
        }
        mw->since = h->scheduled;
        manual_poll(mw);
}

static void manual_on_finished(Run *r, const char *result, void *userdata) {
        ManualWait *mw = userdata;

        if (mw->w.x)
                manual_reply(mw, daemon_hostname(), r->id, result,
                             r->term_signal ? 128 + r->term_signal : r->exit_status,
                             (r->env->now_usec() - r->run_start_usec) / 1000);
}

static void manual_on_ended(Run *r, void *userdata) {
        ManualWait *mw = userdata;

        (void) r;
        if (mw->w.x && !mw->polling) {
                reply_error(mw->w.x, 503, mw->decided ? "the run was stopped"
                                                      : "the run was cancelled (shutdown)");
                mw->w.x = NULL;
        }
        if (!mw->polling)
                manual_free(mw);        /* else the poll frees it */
}

/* The request's key: its Idempotency-Key, or a new one (each request a new run). */
static int manual_key(ApiExchange *x, const ApiRequest *req, char **ret) {
        uint8_t b[8];
        char key[17];

        if (req->idempotency_key) {
                if (!lease_manual_key_valid(req->idempotency_key)) {
                        reply_error(x, 400, "Idempotency-Key: use 1 to 64 letters, digits, "
                                    "'_', '.' or '-'");
                        return -EINVAL;
                }
                *ret = strdup(req->idempotency_key);
        } else {
                if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b)) {
                        reply_error(x, 500, "no random bytes for a key");
                        return -EIO;
                }
                for (size_t i = 0; i < sizeof(b); i++)
                        (void) snprintf(key + 2 * i, 3, "%02x", b[i]);
                *ret = strdup(key);
        }
        if (!*ret) {
                reply_error(x, 500, "out of memory");
                return -ENOMEM;
        }
        return 0;
}

void endpoint_job_run(Daemon *d, ApiExchange *x, Job *j, const ApiRequest *req) {
        char wait[8] = "";
        ManualWait *mw;
        Run *r;
        int k;

        if (d->env.stopping) {
                reply_error(x, 503, "the daemon is stopping");
                return;
        }
        mw = api_wait_new(d, x, sizeof(ManualWait));
        if (!mw)
                return;
        mw->watch = (RunWatch) { .decided = manual_on_decided, .finished = manual_on_finished,
                                 .ended = manual_on_ended, .userdata = mw };
        mw->wait = api_query_get(req->query, "wait", wait, sizeof(wait)) &&
                   strcmp(wait, "0") != 0 && strcmp(wait, "false") != 0;
        if (manual_key(x, req, &mw->key) < 0 || !(mw->job = strdup(j->cfg->name))) {
                if (mw->key && !mw->job)
                        reply_error(x, 500, "out of memory");
                manual_free(mw);
                return;
        }
        log_event(LOG_INFO, "manual_run", j->cfg->name, NULL, NULL, "manual run %s asked for%s",
                  mw->key, req->idempotency_key ? " (Idempotency-Key)" : "");
        k = job_run_manual(j, mw->key, daemon_now_sec(), &mw->watch, &r);
        if (k == -EBUSY)
                reply_error(x, 409, "a run is in progress and the job's overlap policy allows "
                            "no other (overlap: allow would)");
        else if (k < 0)
                reply_error(x, k == -ESHUTDOWN ? 503 : 500, strerror(-k));
        if (k < 0)
                manual_free(mw);
        /* else the watch answers, and frees mw (possibly already) */
}

/* ---- pause, resume ---- */

typedef struct PauseWait {
        ApiWait w;
        char *job;
        bool pause;
} PauseWait;

static void pause_on_done(const char *error, void *userdata) {
        PauseWait *pw = userdata;
        Daemon *d = pw->w.d;
        Job *j;

        if (pw->w.x) {
                store_health_note(&d->env.store_health, d->env.now_usec(), error);
                j = daemon_find_job(d, pw->job);
                if (error)
                        reply_error(pw->w.x, 503, error);
                else {
                        if (j)
                                job_set_paused(j, pw->pause);
                        d->env.pause_epoch++;
                        log_event(LOG_NOTICE, pw->pause ? "job_paused" : "job_resumed", pw->job,
                                  NULL, NULL, "%s %s", pw->pause ? "paused" : "resumed",
                                  d->env.lease->ops->local ? "on this host" : "fleet-wide");
                        reply_json(pw->w.x, 200, json_pack("{s:s,s:b,s:b,s:s}", "job", pw->job,
                                                           "paused", pw->pause,
                                                           "suspended", j && j->cfg->suspend,
                                                           "scope", d->env.lease->ops->local ?
                                                                    "host" : "fleet"));
                }
        }
        free(pw->job);
        free(pw);
}

void endpoint_job_pause(Daemon *d, ApiExchange *x, Job *j, bool pause) {
        LeaseStore *s = d->env.lease;
        char by[300];
        PauseWait *pw;

        if (!store_can(x, s, s ? s->ops->set_paused : NULL))
                return;
        pw = api_wait_new(d, x, sizeof(PauseWait));
        if (!pw)
                return;
        pw->pause = pause;
        pw->job = strdup(j->cfg->name);
        if (!pw->job) {
                reply_error(x, 500, "out of memory");
                free(pw);
                return;
        }
        (void) snprintf(by, sizeof(by), "api on %s", daemon_hostname());
        s->ops->set_paused(s, j->cfg->name, pause, by, pause_on_done, pw);
}
