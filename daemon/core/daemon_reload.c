/* SPDX-License-Identifier: MIT */
/* Applying a table: the first one at start-up, a new one on SIGHUP. Runtime jobs of the same
 * name are kept (their new definition applies from their next firing), new ones are
 * planned, removed ones are retired while their runs finish under the old definition. The
 * lease store is not replaced: changing it under running jobs would break their claims
 * (logged as needing a restart). */
#include <errno.h>
#include <assert.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_internal.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "strv.h"

/* Room for n more retired jobs, so that retiring cannot fail half-way through a reload. */
static int daemon_reserve_retired(Daemon *d, size_t n) {
        Job **l;

        if (d->n_retired + n <= d->allocated_retired)
                return 0;
        l = reallocarray(d->retired, d->n_retired + n, sizeof(Job *));
        if (!l)
                return -ENOMEM;
        d->retired = l;
        d->allocated_retired = d->n_retired + n;
        return 0;
}

static void daemon_retire(Daemon *d, Job *j) {
        heap_remove(&d->heap, &j->entry);
        if (j->n_runs == 0) {
                job_free(j);
                return;
        }
        assert(d->n_retired < d->allocated_retired);    /* daemon_reserve_retired() */
        d->retired[d->n_retired++] = j;
        job_retire(j, d->opts.reload_kills_removed);
}

static bool daemon_job_kept(Job *const *jobs, size_t n, const Job *j) {
        for (size_t k = 0; k < n; k++)
                if (jobs[k] == j)
                        return true;
        return false;
}

/* The jobs of table t, in its order: those d has already, new ones for the rest (fresh). */
static int daemon_match_jobs(Daemon *d, Table *t, Job ***ret_jobs, bool **ret_fresh) {
        const Config *c = t->config;
        _cleanup_free_ bool *fresh = calloc(c->n_jobs + 1, sizeof(bool));
        _cleanup_free_ Job **jobs = calloc(c->n_jobs + 1, sizeof(Job *));

        if (!jobs || !fresh)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_jobs; i++) {
                jobs[i] = daemon_find_job(d, c->jobs[i].name);
                if (jobs[i])
                        continue;
                jobs[i] = job_new(&d->job_owner, t, &c->jobs[i]);
                fresh[i] = true;
                if (!jobs[i]) {
                        for (size_t k = 0; k < i; k++)
                                if (fresh[k])
                                        job_free(jobs[k]);
                        return -ENOMEM;
                }
        }
        *ret_jobs = TAKE_PTR(jobs);
        *ret_fresh = TAKE_PTR(fresh);
        return 0;
}

int daemon_apply(Daemon *d, Table *t, bool initial) {
        const Config *c = t->config;
        _cleanup_free_ bool *fresh = NULL;
        Job **jobs = NULL;
        size_t added = 0, removed = 0;
        int64_t now = daemon_now_sec();
        int r;

        r = daemon_match_jobs(d, t, &jobs, &fresh);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_jobs; i++)
                removed += !daemon_job_kept(jobs, c->n_jobs, d->jobs[i]);
        if (daemon_reserve_retired(d, removed) < 0) {
                for (size_t i = 0; i < c->n_jobs; i++)
                        if (fresh[i])
                                job_free(jobs[i]);
                free(jobs);
                return -ENOMEM;
        }
        for (size_t i = 0; i < d->n_jobs; i++)
                if (!daemon_job_kept(jobs, c->n_jobs, d->jobs[i]))
                        daemon_retire(d, d->jobs[i]);
        free(d->jobs);
        d->jobs = jobs;
        d->n_jobs = c->n_jobs;
        table_unref(d->table);
        d->table = t;

        for (size_t i = 0; i < d->n_jobs; i++) {
                Job *j = d->jobs[i];

                if (fresh[i]) {
                        daemon_plan_job(d, j, now);
                        added++;
                        continue;
                }
                /* A kept job: its new definition applies from its next firing. */
                job_set_config(j, t, &c->jobs[i]);
                if (!j->cfg->enabled) {
                        heap_remove(&d->heap, &j->entry);
                        continue;
                }
                /* From the newest firing handled, or from just before now: a firing due this
                 * very second and not yet handled is kept. */
                j->next.has = firing_next(j->cfg, j->last_fired > now - 1 ? j->last_fired : now - 1,
                                          &j->next.firing) == 0;
                daemon_requeue(d, j);
        }
        if (!initial)
                log_event(LOG_INFO, "reloaded", NULL, NULL, NULL,
                          "reloaded '%s': %zu job%s (%zu added, %zu kept, %zu removed)",
                          d->opts.config_path, d->n_jobs, d->n_jobs == 1 ? "" : "s", added,
                          d->n_jobs - added, removed);
        daemon_arm(d);
        return 0;
}

bool daemon_reload(Daemon *d) {
        Table *t;
        bool ok;

        log_event(LOG_INFO, "reloading", NULL, NULL, NULL, "SIGHUP: reloading '%s'",
                  d->opts.config_path);
        notify_reloading();
        t = table_load(d->opts.config_path, d->opts.state_dir);
        if (!t) {
                log_event(LOG_ERR, "reload_failed", NULL, NULL, NULL,
                          "the new table is invalid; keeping the current one (%zu jobs)", d->n_jobs);
                notify_ready(d->status);
                d->reloads_failed++;
                return false;
        }
        if (!config_lease_equal(&t->config->lease, &d->table->config->lease))
                log_event(LOG_NOTICE, "lease_changed", NULL, NULL, NULL,
                          "the lease: section changed; it takes effect when solocron restarts");
        if (!d->opts.main_argv && !strv_equal(t->config->main.argv, d->table->config->main.argv))
                log_event(LOG_NOTICE, "main_process", NULL, NULL, NULL,
                          "the main: section changed; it takes effect when solocron restarts");
        ok = daemon_apply(d, t, false) >= 0;
        if (!ok) {
                log_event(LOG_ERR, "reload_failed", NULL, NULL, NULL,
                          "out of memory; keeping the current table");
                table_unref(t);
                d->reloads_failed++;
        } else {
                d->reloads_ok++;
                d->last_reload_ok = daemon_now_sec();
        }
        (void) malloc_trim(0);  /* the old table and the new YAML trees are gone */
        daemon_next_status(d, d->status, sizeof(d->status));
        notify_ready(d->status);
        return ok;
}
