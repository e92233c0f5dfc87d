/* SPDX-License-Identifier: MIT */
/* The job table at run time: shared Tables, loading one (diagnostics to the log), and
 * applying a new one on reload (reusing the runtime Jobs of the same name, retiring the
 * removed ones while their runs finish). */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "strv.h"

/* --- tables ------------------------------------------------------------------------ */

Table *table_new(Config *c) {
        Table *t = calloc(1, sizeof(Table));

        if (!t)
                return NULL;
        t->config = c;
        t->n_ref = 1;
        return t;
}

Table *table_ref(Table *t) {
        t->n_ref++;
        return t;
}

Table *table_unref(Table *t) {
        if (t && --t->n_ref == 0) {
                config_free(t->config);
                free(t);
        }
        return NULL;
}

/* Load the table, logging every diagnostic. Returns NULL when it is invalid. */
Table *daemon_load_table(const char *path) {
        ConfigLoadOptions opts = {};
        ConfigDiags diags = {};
        const char *tz = getenv("CRON_TZ");
        Config *c = NULL;
        Table *t = NULL;
        int r;

        if (!tz || !*tz)
                tz = getenv("TZ");
        if (tz && *tz)
                opts.default_tz = tz[0] == ':' ? tz + 1 : tz;
        r = config_load(path, &opts, &c, &diags);
        for (size_t i = 0; i < diags.n; i++) {
                _cleanup_free_ char *line = config_diag_format(&diags.items[i]);

                log_event(diags.items[i].severity == CONFIG_ERROR ? LOG_ERR : LOG_WARNING,
                          "config_error", NULL, NULL, NULL, "%s", line ? line : "(out of memory)");
        }
        if (r < 0 && diags.n == 0)
                log_event(LOG_ERR, "config_error", NULL, NULL, NULL, "%s: cannot load: %s", path,
                          strerror(-r));
        config_diags_done(&diags);
        if (r < 0)
                return NULL;
        t = table_new(c);
        if (!t)
                config_free(c);
        return t;
}

/* The lease store of the table's lease section. A reload does not replace it: changing the
 * store under running jobs would break their claims (logged as needing a restart). */
/* --- reload ------------------------------------------------------------------------ */

Job *daemon_find_job(Daemon *d, const char *name) {
        for (size_t i = 0; i < d->n_jobs; i++)
                if (d->jobs[i] && strcmp(d->jobs[i]->name, name) == 0)
                        return d->jobs[i];
        return NULL;
}

static void daemon_retire(Daemon *d, Job *j) {
        heap_remove(&d->heap, &j->entry);
        j->queued = false;
        if (j->n_runs == 0) {
                job_free(j);
                return;
        }
        j->retired = true;
        j->cfg = NULL;          /* the table it pointed into may go away; runs keep their own */
        j->retired_next = d->retired;
        d->retired = j;
        if (d->opts.reload_kills_removed)
                for (Run *r = j->runs, *next; r; r = next) {
                        next = r->next;
                        run_terminate(r, SIGTERM, r->cfg->kill_after);
                }
}

/* Build the runtime jobs for table t, reusing those of the same name, and make t the
 * current table. On failure nothing has changed. */
int daemon_apply(Daemon *d, Table *t, bool initial) {
        const Config *c = t->config;
        _cleanup_free_ bool *fresh = calloc(c->n_jobs + 1, sizeof(bool));
        Job **jobs = calloc(c->n_jobs + 1, sizeof(Job *));
        size_t added = 0, removed = 0;
        int64_t now = daemon_now_sec();

        if (!jobs || !fresh) {
                free(jobs);
                return -ENOMEM;
        }
        for (size_t i = 0; i < c->n_jobs; i++) {
                jobs[i] = daemon_find_job(d, c->jobs[i].name);
                if (jobs[i])
                        continue;
                jobs[i] = job_new(d, &c->jobs[i]);
                fresh[i] = true;
                if (!jobs[i]) {
                        for (size_t k = 0; k < i; k++)
                                if (fresh[k])
                                        job_free(jobs[k]);
                        free(jobs);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < d->n_jobs; i++) {
                bool still = false;

                for (size_t k = 0; k < c->n_jobs && !still; k++)
                        still = jobs[k] == d->jobs[i];
                if (!still) {
                        daemon_retire(d, d->jobs[i]);
                        removed++;
                }
        }
        free(d->jobs);
        d->jobs = jobs;
        d->n_jobs = c->n_jobs;
        table_unref(d->table);
        d->table = t;

        for (size_t i = 0; i < d->n_jobs; i++) {
                Job *j = d->jobs[i];

                j->cfg = &c->jobs[i];
                if (fresh[i]) {
                        daemon_plan_job(d, j, now);
                        added++;
                        continue;
                }
                /* A kept job: its new definition applies from its next firing. */
                if (!j->cfg->enabled) {
                        heap_remove(&d->heap, &j->entry);
                        continue;
                }
                /* From the newest firing handled, or from just before now: a firing due this
                 * very second and not yet handled is kept. */
                j->next.has = job_next_firing(j->cfg, j->last_fired > now - 1 ? j->last_fired : now - 1,
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

void daemon_reload(Daemon *d) {
        Table *t;

        log_event(LOG_INFO, "reloading", NULL, NULL, NULL, "SIGHUP: reloading '%s'", d->opts.config_path);
        notify_reloading();
        t = daemon_load_table(d->opts.config_path);
        if (!t) {
                log_event(LOG_ERR, "reload_failed", NULL, NULL, NULL,
                          "the new table is invalid; keeping the current one (%zu jobs)", d->n_jobs);
                notify_ready(d->status);
                return;
        }
        if (!config_lease_equal(&t->config->lease, &d->table->config->lease))
                log_event(LOG_NOTICE, "lease_changed", NULL, NULL, NULL,
                          "the lease: section changed; it takes effect when solocron restarts");
        if (!d->opts.main_argv && !strv_equal(t->config->main.argv, d->table->config->main.argv))
                log_event(LOG_NOTICE, "main_process", NULL, NULL, NULL,
                          "the main: section changed; it takes effect when solocron restarts");
        if (daemon_apply(d, t, false) < 0) {
                log_event(LOG_ERR, "reload_failed", NULL, NULL, NULL,
                          "out of memory; keeping the current table");
                table_unref(t);
        }
        (void) malloc_trim(0);  /* the old table and the new YAML trees are gone */
        daemon_next_status(d, d->status, sizeof(d->status));
        notify_ready(d->status);
}

