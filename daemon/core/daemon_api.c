/* SPDX-License-Identifier: MIT */
/* The API's endpoints (the HTTP server is api/): the routes, health and readiness, the
 * metrics, a reload; the jobs are daemon_api_jobs.c's, their runs and pauses
 * daemon_api_runs.c's. Answers are JSON (jansson), built from the daemon's own state. */
#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_api.h"
#include "log.h"
#include "macro.h"
#include "secretfile.h"
#include "parse.h"
#include "status_page.h"
#include "testhook.h"

/* /healthz and /readyz ask the store again when it was last heard of longer ago. */
#define HEALTH_FRESH_USEC (5 * USEC_PER_SEC)

void reply_json(ApiExchange *x, int status, json_t *doc) {
        _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9))
                                        : NULL;

        json_decref(doc);
        if (!x)
                return;
        if (!text) {
                api_respond(x, 500, "application/json", "{\"error\":\"out of memory\"}\n", 26);
                return;
        }
        api_respondf(x, status, "application/json", "%s\n", text);
}

void reply_error(ApiExchange *x, int status, const char *message) {
        reply_json(x, status, json_pack("{s:s}", "error", message));
}

static void api_wait_on_abort(ApiExchange *x, void *userdata) {
        ApiWait *w = userdata;

        (void) x;
        w->x = NULL;
}

void *api_wait_new(Daemon *d, ApiExchange *x, size_t size) {
        ApiWait *w = calloc(1, size);

        if (!w) {
                reply_error(x, 500, "out of memory");
                return NULL;
        }
        w->d = d;
        w->x = x;
        api_exchange_on_abort(x, api_wait_on_abort, w);
        return w;
}

/* ---- health ---- */

typedef struct HealthWait {
        ApiWait w;
        bool ready;             /* /readyz, else /healthz */
} HealthWait;

/* The answer from what is known of the store. Unhealthy: a fleet store that has not
 * answered for longer than the lease's TTL (a replica that cannot win firings; a local lease
 * that cannot record is degraded, not dead: restarting would not help it). Not ready: still
 * starting, stopping, or a fleet store never reached yet. */
static void health_reply(Daemon *d, ApiExchange *x, bool ready) {
        const StoreHealth *h = &d->env.store_health;
        bool local = !d->env.lease || d->env.lease->ops->local;
        int64_t now = d->env.now_usec();
        int64_t down = h->failing_since_usec ? now - h->failing_since_usec : 0;
        const char *backend = d->env.lease ? d->env.lease->ops->name : "none";
        char reason[400] = "";

        if (h->failing_since_usec)
                (void) snprintf(reason, sizeof(reason), "the %s lease store has not answered for "
                                "%llds: %s", backend, (long long) (down / USEC_PER_SEC), h->why);
        if (ready) {
                const char *state = d->env.stopping ? "stopping" : !d->ready ? "starting" :
                                    !local && !h->ok_usec ? "waiting for the lease store" :
                                    "ready";
                bool ok = strcmp(state, "ready") == 0;

                reply_json(x, ok ? 200 : 503, json_pack("{s:s,s:s*}", "status", state,
                                                        "reason", *reason ? reason : NULL));
                return;
        }
        if (!local && h->failing_since_usec &&
            down > (int64_t) d->table->config->lease.ttl) {
                reply_json(x, 503, json_pack("{s:s,s:s}", "status", "unhealthy", "reason", reason));
                return;
        }
        reply_json(x, 200, json_pack("{s:s,s:s*}", "status", *reason ? "degraded" : "ok",
                                     "reason", *reason ? reason : NULL));
}

static void health_on_probe(const char *error, void *userdata) {
        HealthWait *hw = userdata;
        Daemon *d = hw->w.d;

        if (hw->w.x) {
                store_health_note(&d->env.store_health, d->env.now_usec(), error);
                health_reply(d, hw->w.x, hw->ready);
        }
        free(hw);
}

/* /healthz, /readyz: ask the store first when it has not been heard of lately (an answer or
 * a failure: during an outage too, the store is asked every HEALTH_FRESH_USEC, not at every
 * request, each of which would wait election_timeout). */
static void endpoint_health(Daemon *d, ApiExchange *x, bool ready) {
        const StoreHealth *h = &d->env.store_health;
        LeaseStore *s = d->env.lease;
        int64_t last = h->noted_usec;
        HealthWait *hw;

        if (!s || !s->ops->probe || (last && d->env.now_usec() - last < (int64_t) HEALTH_FRESH_USEC) ||
            (ready && (!d->ready || d->env.stopping))) {
                health_reply(d, x, ready);
                return;
        }
        hw = api_wait_new(d, x, sizeof(HealthWait));
        if (!hw)
                return;
        hw->ready = ready;
        s->ops->probe(s, health_on_probe, hw);
}

/* ---- the routes ---- */

/* ---- the metrics, streamed ---- */

/* Job cells rendered per loop iteration: about half a millisecond (1000 jobs are some 9000
 * cells, 20 ms in all), so that a firing due meanwhile waits no longer than that. */
#define METRICS_CELLS_PER_STEP 256

typedef struct MetricsWait {
        ApiWait w;
        uv_idle_t idle;         /* a step per loop iteration */
        MetricsCursor cursor;
        uint64_t reloads;       /* the table the exposition began with */
        /* One memory stream for the whole exposition, rewound after each step: a stream
         * per step left its small blocks in glibc's per-thread cache, which kept about
         * 60 KiB of pages after a few scrapes. */
        FILE *f;
        char *text;
        size_t size;
} MetricsWait;

static void metrics_on_closed(uv_handle_t *h) {
        MetricsWait *mw = h->data;

        if (mw->f)
                (void) fclose(mw->f);
        free(mw->text);
        free(mw);
        (void) malloc_trim(0);  /* an exposition's buffers are freed last: give them back */
}

static void metrics_on_idle(uv_idle_t *h) {
        MetricsWait *mw = h->data;
        Daemon *d = mw->w.d;
        bool done = false;

        if (mw->w.x && d->reloads_ok != mw->reloads) {
                /* A reload changed the jobs midway: the client gets a cut answer (and
                 * scrapes again), not a mix of two tables. */
                api_stream_abort(mw->w.x);
                mw->w.x = NULL;
        }
        if (mw->w.x) {
                bool ok = false;

                if (!mw->f)
                        mw->f = open_memstream(&mw->text, &mw->size);
                if (mw->f) {
                        done = metrics_render_step(d, &mw->cursor, mw->f, METRICS_CELLS_PER_STEP);
                        ok = fflush(mw->f) == 0 && !ferror(mw->f);
                }
                if (ok) {
                        api_stream_write(mw->w.x, mw->text, mw->size);
                        rewind(mw->f);          /* the next step writes over it */
                } else {
                        api_stream_abort(mw->w.x);      /* out of memory */
                        mw->w.x = NULL;
                }
        }
        if (mw->w.x && !done)
                return;
        if (mw->w.x)
                api_stream_end(mw->w.x);
        uv_close((uv_handle_t *) &mw->idle, metrics_on_closed);
}

static void endpoint_metrics(Daemon *d, ApiExchange *x) {
        MetricsWait *mw = api_wait_new(d, x, sizeof(MetricsWait));

        if (!mw)
                return;
        if (uv_idle_init(d->loop, &mw->idle) < 0) {
                reply_error(x, 500, "out of memory");
                free(mw);
                return;
        }
        mw->idle.data = mw;
        mw->reloads = d->reloads_ok;
        api_stream_begin(x, 200, "text/plain; version=0.0.4; charset=utf-8");
        (void) uv_idle_start(&mw->idle, metrics_on_idle);
}

/* "/v1/jobs/NAME" or "/v1/jobs/NAME/ACTION": the job's name (in buf), and the action (""
 * for none). false: not such a path. */
static bool job_path(const char *path, char *buf, size_t size, const char **ret_action) {
        const char *name = path + strlen("/v1/jobs/"), *slash;
        size_t n;

        if (strncmp(path, "/v1/jobs/", 9) != 0)
                return false;
        slash = strchr(name, '/');
        n = slash ? (size_t) (slash - name) : strlen(name);
        if (n == 0 || n >= size || (slash && (!slash[1] || strchr(slash + 1, '/'))))
                return false;
        memcpy(buf, name, n);
        buf[n] = 0;
        *ret_action = slash ? slash + 1 : "";
        return true;
}

static void route_job(Daemon *d, ApiExchange *x, const ApiRequest *req, bool get, bool post) {
        char name[256];
        const char *action;
        Job *j;

        if (!job_path(req->path, name, sizeof(name), &action)) {
                reply_error(x, 404, "not found");
                return;
        }
        if (!*action && get) {
                endpoint_jobs(d, x, name);
                return;
        }
        if (strcmp(action, "runs") != 0 && strcmp(action, "run") != 0 &&
            strcmp(action, "pause") != 0 && strcmp(action, "resume") != 0 && *action) {
                reply_error(x, 404, "not found");
                return;
        }
        if ((!*action || strcmp(action, "runs") == 0) ? !get : !post) {
                reply_error(x, 405, "method not allowed");
                return;
        }
        j = daemon_find_job(d, name);
        if (!j) {
                reply_error(x, 404, "no such job");
                return;
        }
        if (strcmp(action, "runs") == 0)
                endpoint_job_runs(d, x, j, req->query);
        else if (strcmp(action, "run") == 0)
                endpoint_job_run(d, x, j, req);
        else
                endpoint_job_pause(d, x, j, strcmp(action, "pause") == 0);
}

static void api_on_request(ApiExchange *x, const ApiRequest *req, void *userdata) {
        Daemon *d = userdata;
        bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
        bool post = strcmp(req->method, "POST") == 0;
        static const char *const paths[] = { "/", "/healthz", "/readyz", "/metrics",
                                             "/v1/jobs", "/v1/reload" };

        if (strcmp(req->path, "/") == 0 && get) {
                status_page_respond(d, x);
                return;
        }
        if (strncmp(req->path, "/v1/jobs/", 9) == 0) {
                route_job(d, x, req, get, post);
                return;
        }
        if (strcmp(req->path, "/healthz") == 0 && get)
                endpoint_health(d, x, false);
        else if (strcmp(req->path, "/readyz") == 0 && get)
                endpoint_health(d, x, true);
        else if (strcmp(req->path, "/metrics") == 0 && get)
                endpoint_metrics(d, x);
        else if (strcmp(req->path, "/v1/jobs") == 0 && get)
                endpoint_jobs(d, x, NULL);
        else if (strcmp(req->path, "/v1/reload") == 0 && post) {
                bool ok = !d->env.stopping && daemon_reload(d);

                reply_json(x, ok ? 200 : 409, json_pack("{s:b,s:i}", "reloaded", ok, "jobs",
                                                        (json_int_t) d->n_jobs));
        } else {
                for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                        if (strcmp(req->path, paths[i]) == 0) {
                                reply_error(x, 405, "method not allowed");
                                return;
                        }
                reply_error(x, 404, "not found");
        }
}

/* The token: the file's first line, which only the daemon's user may read; trailing blanks
 * are not part of it. */
static int read_token(const char *path, char **ret) {
        _cleanup_free_ char *line = NULL, *why = NULL;
        size_t n;
        int r;

        r = secret_file_read(path, "api.token_file", &line, &why);
        if (r < 0) {
                log_event(LOG_ERR, "api_failed", NULL, NULL, NULL, "%s", why ?: strerror(-r));
                return r;
        }
        for (n = strlen(line); n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\r');)
                line[--n] = 0;
        if (n == 0) {
                log_event(LOG_ERR, "api_failed", NULL, NULL, NULL, "api.token_file '%s' is empty",
                          path);
                return -EINVAL;
        }
        *ret = TAKE_PTR(line);
        return 0;
}

static void api_on_first_probe(const char *error, void *userdata) {
        Daemon *d = userdata;

        store_health_note(&d->env.store_health, d->env.now_usec(), error);
}

int daemon_api_start(Daemon *d) {
        const ApiConfig *a = &d->table->config->api;
        _cleanup_free_ char *token = NULL, *err = NULL;
        gid_t gid = (gid_t) -1;
        uint64_t head_timeout = 0;
        const char *hook;
        int r;

        if (!a->listen && !a->socket)
                return 0;
        if (a->token_file) {
                r = read_token(a->token_file, &token);
                if (r < 0)
                        return r;
        }
        if (a->socket_group) {
                struct group *gr = getgrnam(a->socket_group);

                if (!gr) {
                        log_event(LOG_ERR, "api_failed", NULL, NULL, NULL,
                                  "api.socket_group: no group '%s'", a->socket_group);
                        return -ESRCH;
                }
                gid = gr->gr_gid;
        }
        /* Tests wait less for a slow client (testhook.h). */
        hook = test_hook_getenv("SOLOCRON_TEST_API_HEAD_TIMEOUT_MSEC");
        if (hook && parse_uint64(hook, 600000, &head_timeout) < 0)
                head_timeout = 0;
        r = api_server_new(d->loop, &(ApiServerConfig) { .listen = a->listen, .socket = a->socket,
                                                         .socket_gid = gid, .token = token,
                                                         .public_read = a->public_read,
                                                         .head_timeout_msec = (unsigned) head_timeout },
                           api_on_request, d, &d->api, &err);
        if (r < 0) {
                log_event(LOG_ERR, "api_failed", NULL, NULL, NULL, "%s", err ? err : strerror(-r));
                return r;
        }
        log_event(LOG_INFO, "api_listening", NULL, NULL, NULL, "API on %s%s%s", a->listen ?: "",
                  a->listen && a->socket ? " and " : "", a->socket ?: "");
        /* /readyz waits for a fleet store's first answer: ask it now, not at the first
         * firing. */
        if (d->env.lease && !d->env.lease->ops->local && d->env.lease->ops->probe)
                d->env.lease->ops->probe(d->env.lease, api_on_first_probe, d);
        return 0;
}
