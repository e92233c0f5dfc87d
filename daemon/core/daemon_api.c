/* SPDX-License-Identifier: MIT */
/* The API's endpoints (the HTTP server is api/): health, readiness, the metrics, the jobs,
 * a reload. Answers are JSON (jansson), built from the daemon's own state. */
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_internal.h"
#include "log.h"
#include "macro.h"
#include "parse.h"
#include "status_page.h"
#include "testhook.h"
#include "tz.h"

#define API_NEXT_FIRINGS 3      /* how many next firings /v1/jobs shows */

static void respond_json(ApiExchange *x, int status, json_t *doc) {
        _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9))
                                        : NULL;

        json_decref(doc);
        if (!text) {
                api_respond(x, 500, "application/json", "{\"error\":\"out of memory\"}\n", 26);
                return;
        }
        api_respondf(x, status, "application/json", "%s\n", text);
}

static void respond_error(ApiExchange *x, int status, const char *message) {
        respond_json(x, status, json_pack("{s:s}", "error", message));
}

static json_t *time_json(int64_t t) {
        char utc[RFC3339_UTC_MAX];

        return t > 0 ? json_string(format_rfc3339_utc(t, utc)) : json_null();
}

static json_t *local_time_json(const Tz *tz, int64_t t) {
        char local[RFC3339_LOCAL_MAX];
        TzOffset off;

        tz_offset_at(tz, t, &off);
        return json_string(format_rfc3339_offset(t, off.utoff, local));
}

static json_t *job_next_json(const Job *j) {
        json_t *a = json_array();
        JobFiring f;
        int64_t after;

        if (!a || !j->cfg->enabled || !j->next.has)
                return a;
        f = j->next.firing;
        for (unsigned i = 0; i < API_NEXT_FIRINGS; i++) {
                json_array_append_new(a, json_pack("{s:o,s:o,s:b}", "utc", time_json(f.f.t),
                                                   "local", local_time_json(j->cfg->tz, f.f.t),
                                                   "excluded", f.excluded != NULL));
                after = f.f.t;
                if (firing_next(j->cfg, after, &f) < 0)
                        break;
        }
        return a;
}

static json_t *job_running_json(const Job *j) {
        json_t *a = json_array();

        for (const Run *r = j->runs; r && a; r = r->next) {
                json_t *o = json_pack("{s:s,s:o,s:i,s:s}", "run", r->id,
                                      "scheduled", time_json(r->firing.f.t),
                                      "attempt", (json_int_t) r->attempt,
                                      "phase", r->phase == RUN_ELECTING ? "electing" :
                                               r->phase == RUN_RUNNING ? "running" : "waiting");

                if (o && r->proc_alive)
                        json_object_set_new(o, "pid", json_integer(r->pid));
                if (o && r->election.state == RUN_LEASE_WON && r->election.lease_key) {
                        json_object_set_new(o, "lease_key", json_string(r->election.lease_key));
                        json_object_set_new(o, "fencing_token",
                                            json_integer((json_int_t) r->election.fencing_token));
                }
                json_array_append_new(a, o);
        }
        return a;
}

static json_t *job_recent_json(const Job *j) {
        json_t *a = json_array();
        const RecentRun *rr;

        for (unsigned i = 0; a && (rr = job_stats_recent(j->stats, i)); i++)
                json_array_append_new(a, json_pack("{s:s,s:o,s:o,s:s,s:I,s:f,s:i}",
                                                   "run", rr->id, "scheduled", time_json(rr->scheduled),
                                                   "ended", time_json(rr->ended),
                                                   "result", run_result_to_string(rr->result),
                                                   "status", (json_int_t) rr->status,
                                                   "duration_seconds", (double) rr->duration_usec / 1e6,
                                                   "attempts", (json_int_t) rr->attempts));
        return a;
}

static json_t *job_json(const Job *j) {
        const JobConfig *c = j->cfg;

        return json_pack("{s:s,s:s,s:s,s:b,s:b,s:o,s:o,s:o}", "name", j->name,
                         "schedule", c->schedule_text, "timezone", tz_name(c->tz),
                         "enabled", c->enabled, "paused", false,
                         "next", job_next_json(j), "running", job_running_json(j),
                         "recent", job_recent_json(j));
}

static void api_jobs(Daemon *d, ApiExchange *x) {
        json_t *a = json_array();

        for (size_t i = 0; i < d->n_jobs && a; i++)
                json_array_append_new(a, job_json(d->jobs[i]));
        respond_json(x, 200, json_pack("{s:s,s:o}", "host", daemon_hostname(), "jobs", a));
}

static void api_metrics(Daemon *d, ApiExchange *x) {
        _cleanup_free_ char *text = NULL;
        size_t size;

        if (metrics_render(d, &text, &size) < 0) {
                respond_error(x, 500, "out of memory");
                return;
        }
        api_respond(x, 200, "text/plain; version=0.0.4; charset=utf-8", text, size);
}

/* A path some method answers (so another method is 405, not 404). */
static bool route_known(const char *path) {
        static const char *const paths[] = { "/", "/healthz", "/readyz", "/metrics", "/v1/jobs",
                                             "/v1/reload" };

        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                if (strcmp(path, paths[i]) == 0)
                        return true;
        return strncmp(path, "/v1/jobs/", 9) == 0 && path[9] && !strchr(path + 9, '/');
}

static void api_on_request(ApiExchange *x, const ApiRequest *req, void *userdata) {
        Daemon *d = userdata;
        bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
        bool post = strcmp(req->method, "POST") == 0;
        const char *name;
        Job *j;

        if (strcmp(req->path, "/") == 0 && get) {
                status_page_respond(d, x);
                return;
        }
        if (strcmp(req->path, "/healthz") == 0 && get) {
                respond_json(x, 200, json_pack("{s:s}", "status", "ok"));
                return;
        }
        if (strcmp(req->path, "/readyz") == 0 && get) {
                bool ready = d->ready && !d->env.stopping;

                respond_json(x, ready ? 200 : 503, json_pack("{s:s}", "status",
                                                             ready ? "ready" : d->env.stopping ?
                                                             "stopping" : "starting"));
                return;
        }
        if (strcmp(req->path, "/metrics") == 0 && get) {
                api_metrics(d, x);
                return;
        }
        if (strcmp(req->path, "/v1/jobs") == 0 && get) {
                api_jobs(d, x);
                return;
        }
        if (strncmp(req->path, "/v1/jobs/", 9) == 0 && get && !strchr(req->path + 9, '/')) {
                name = req->path + 9;
                j = daemon_find_job(d, name);
                if (!j)
                        respond_error(x, 404, "no such job");
                else {
                        json_t *o = job_json(j);

                        if (o)
                                json_object_set_new(o, "host", json_string(daemon_hostname()));
                        respond_json(x, 200, o);
                }
                return;
        }
        if (strcmp(req->path, "/v1/reload") == 0 && post) {
                bool ok = !d->env.stopping && daemon_reload(d);

                respond_json(x, ok ? 200 : 409, json_pack("{s:b,s:i}", "reloaded", ok, "jobs",
                                                          (json_int_t) d->n_jobs));
                return;
        }
        if (route_known(req->path))
                respond_error(x, 405, "method not allowed");
        else
                respond_error(x, 404, "not found");
}

/* The token: the file's first line, which only the daemon's user may read. */
static int read_token(const char *path, char **ret) {
        _cleanup_free_ char *line = NULL;
        struct stat st;
        size_t cap = 0;
        ssize_t n;
        FILE *f;

        f = fopen(path, "re");
        if (!f) {
                int r = -errno;

                log_event(LOG_ERR, "api_failed", NULL, NULL, NULL, "api.token_file '%s': %s", path,
                          strerror(-r));
                return r;
        }
        if (fstat(fileno(f), &st) < 0 || (st.st_mode & 0077)) {
                fclose(f);
                log_event(LOG_ERR, "api_failed", NULL, NULL, NULL, "api.token_file '%s' may be "
                          "read by others (mode %03o): chmod 600 it", path,
                          (unsigned) (st.st_mode & 0777));
                return -EPERM;
        }
        n = getline(&line, &cap, f);
        fclose(f);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
                line[--n] = 0;
        if (n <= 0) {
                log_event(LOG_ERR, "api_failed", NULL, NULL, NULL, "api.token_file '%s' is empty",
                          path);
                return -EINVAL;
        }
        *ret = TAKE_PTR(line);
        return 0;
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
        return 0;
}
