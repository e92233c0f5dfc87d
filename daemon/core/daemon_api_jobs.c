/* SPDX-License-Identifier: MIT */
/* GET /v1/jobs and /v1/jobs/NAME: each job's schedule, zone, next firings, pause, running
 * runs and last runs here. Whether a job is paused is the store's to say (a pause asked of
 * another replica): the answer waits for the store's list of paused jobs, which also
 * refreshes what the jobs remember of it; a store that cannot answer leaves the last known
 * state, and the answer says why. */
#include <stdlib.h>
#include <string.h>

#include "daemon_api.h"
#include "strv.h"
#include "tz.h"

#define API_NEXT_FIRINGS 3      /* how many next firings /v1/jobs shows */

json_t *json_time(int64_t t) {
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
                json_array_append_new(a, json_pack("{s:o,s:o,s:b}", "utc", json_time(f.f.t),
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
                                      "scheduled", json_time(r->firing.f.t),
                                      "attempt", (json_int_t) r->attempt,
                                      "phase", r->phase == RUN_ELECTING ? "electing" :
                                               r->phase == RUN_RUNNING ? "running" : "waiting");

                if (o && r->proc_alive)
                        json_object_set_new(o, "pid", json_integer(r->pid));
                if (o && r->manual)
                        json_object_set_new(o, "manual", json_string(r->manual));
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
                json_array_append_new(a, json_pack("{s:s,s:o,s:o,s:s,s:I,s:f,s:i,s:b}",
                                                   "run", rr->id,
                                                   "scheduled", json_time(rr->scheduled),
                                                   "ended", json_time(rr->ended),
                                                   "result", run_result_to_string(rr->result),
                                                   "status", (json_int_t) rr->status,
                                                   "duration_seconds",
                                                   (double) rr->duration_usec / 1e6,
                                                   "attempts", (json_int_t) rr->attempts,
                                                   "manual", rr->manual));
        return a;
}

static json_t *job_json(const Job *j) {
        const JobConfig *c = j->cfg;

        return json_pack("{s:s,s:s,s:s,s:b,s:b,s:b,s:o,s:o,s:o}", "name", j->cfg->name,
                         "schedule", c->schedule_text, "timezone", tz_name(c->tz),
                         "enabled", c->enabled, "paused", j->paused || c->suspend,
                         "suspended", c->suspend,
                         "next", job_next_json(j), "running", job_running_json(j),
                         "recent", job_recent_json(j));
}

typedef struct JobsWait {
        ApiWait w;
        char *name;             /* one job, or NULL: all */
        unsigned pause_epoch;   /* the daemon's when the list was asked for */
} JobsWait;

static void jobs_reply(Daemon *d, ApiExchange *x, const char *name, const char *store_error) {
        json_t *doc, *a;
        Job *j;

        if (name) {
                j = daemon_find_job(d, name);
                if (!j) {
                        reply_error(x, 404, "no such job");
                        return;
                }
                doc = job_json(j);
        } else {
                a = json_array();
                for (size_t i = 0; i < d->n_jobs && a; i++)
                        json_array_append_new(a, job_json(d->jobs[i]));
                doc = json_pack("{s:o}", "jobs", a);
        }
        if (doc)
                json_object_set_new(doc, "host", json_string(daemon_hostname()));
        if (doc && store_error)
                json_object_set_new(doc, "store_error", json_string(store_error));
        reply_json(x, 200, doc);
}

static void jobs_on_paused(char *const *jobs, size_t n, const char *error, void *userdata) {
        JobsWait *jw = userdata;
        Daemon *d = jw->w.d;

        (void) n;
        if (jw->w.x) {
                store_health_note(&d->env.store_health, d->env.now_usec(), error);
                /* A pause learned meanwhile is newer than the list: the jobs keep it. */
                if (!error && jw->pause_epoch == d->env.pause_epoch)
                        for (size_t i = 0; i < d->n_jobs; i++)
                                job_set_paused(d->jobs[i],
                                               strv_contains(jobs, d->jobs[i]->cfg->name));
                jobs_reply(d, jw->w.x, jw->name, error);
        }
        free(jw->name);
        free(jw);
}

void endpoint_jobs(Daemon *d, ApiExchange *x, const char *name) {
        LeaseStore *s = d->env.lease;
        JobsWait *jw;

        if (name && !daemon_find_job(d, name)) {
                reply_error(x, 404, "no such job");
                return;
        }
        if (!s || !s->ops->list_paused) {
                jobs_reply(d, x, name, NULL);
                return;
        }
        jw = api_wait_new(d, x, sizeof(JobsWait));
        if (!jw)
                return;
        if (name && !(jw->name = strdup(name))) {
                reply_error(x, 500, "out of memory");
                free(jw);
                return;
        }
        jw->pause_epoch = d->env.pause_epoch;
        s->ops->list_paused(s, jobs_on_paused, jw);
}
