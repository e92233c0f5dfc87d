/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "internal.h"
#include "strv.h"
#include "tz.h"

/* The public API: config_load() runs the stages (read + parse, expand, include, validate,
 * build), and owns the JobConfig/Config destructors. */

void config_job_done(JobConfig *j) {
        free(j->name);
        free(j->description);
        free(j->schedule_text);
        free(j->argv);          /* packed */
        strv_free(j->env);
        free(j->env_keep);      /* packed */
        free(j->user);
        free(j->group);
        free(j->workdir);
        free(j->limits);
        for (size_t i = 0; i < j->n_excludes; i++)
                free(j->excludes[i].text);
        free(j->excludes);
        *j = (JobConfig) {};
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_jobs; i++)
                config_job_done(&c->jobs[i]);
        free(c->jobs);
        for (size_t i = 0; i < c->n_zones; i++)
                tz_free(c->zones[i]);
        free(c->zones);
        config_lease_done(&c->lease);
        strv_free(c->main.argv);
        config_api_done(&c->api);
        strv_free(c->files);
        free(c);
        return NULL;
}

const JobConfig *config_find_job(const Config *c, const char *name) {
        if (!c || !name)
                return NULL;
        for (size_t i = 0; i < c->n_jobs; i++)
                if (strcmp(c->jobs[i].name, name) == 0)
                        return &c->jobs[i];
        return NULL;
}

static bool has(const JobSpec *j, JobField f) {
        return j->set & (UINT32_C(1) << f);
}

/* The job's own value, else the defaults', else the built-in default. */
#define PICK(job, dflt, field, f, builtin) \
        (has(job, f) ? (job)->field : has(dflt, f) ? (dflt)->field : (builtin))

static char *strdup_or_null(const char *s, bool *oom) {
        char *c;

        if (!s)
                return NULL;
        c = strdup(s);
        if (!c)
                *oom = true;
        return c;
}

/* defaults' env first, in order; a key the job sets again keeps its place with the job's
 * value; the job's new keys follow. No env at all: NULL, and *ret_oom stays false. */
static char **env_merge(const JobSpec *d, const JobSpec *j, bool *ret_oom) {
        size_t n_max = d->n_env + j->n_env, n = 0;
        const char **keys, **values;
        char **env = NULL;

        if (n_max == 0)
                return NULL;
        keys = calloc(n_max + 1, sizeof(char *));
        values = calloc(n_max + 1, sizeof(char *));
        if (!keys || !values)
                goto finish;
        for (size_t pass = 0; pass < 2; pass++) {
                const JobSpec *src = pass == 0 ? d : j;

                for (size_t i = 0; i < src->n_env; i++) {
                        size_t k;

                        for (k = 0; k < n; k++)
                                if (strcmp(keys[k], src->env[2 * i]) == 0)
                                        break;
                        keys[k] = src->env[2 * i];
                        values[k] = src->env[2 * i + 1];
                        if (k == n)
                                n++;
                }
        }
        env = calloc(n + 1, sizeof(char *));
        if (!env)
                goto finish;
        for (size_t k = 0; k < n; k++)
                if (asprintf(&env[k], "%s=%s", keys[k], values[k]) < 0) {
                        env[k] = NULL;
                        env = strv_free(env);
                        break;
                }
finish:
        free(keys);
        free(values);
        if (!env)
                *ret_oom = true;
        return env;
}

/* The job's env_keep names after the defaults' ones; a job that runs as another user gets
 * none (config_check_job() refuses its own). NULL when there are none. */
static char **env_keep_merge(const JobSpec *d, const JobSpec *j, bool as_user, bool *ret_oom) {
        _cleanup_free_ const char **all = NULL;
        size_t n = 0;
        char **packed;

        if (as_user || d->n_env_keep + j->n_env_keep == 0)
                return NULL;
        all = calloc(d->n_env_keep + j->n_env_keep + 1, sizeof(char *));
        if (!all) {
                *ret_oom = true;
                return NULL;
        }
        for (size_t i = 0; i < d->n_env_keep; i++)
                all[n++] = d->env_keep[i];
        for (size_t i = 0; i < j->n_env_keep; i++)
                all[n++] = j->env_keep[i];
        packed = strv_pack((char *const *) all);
        if (!packed)
                *ret_oom = true;
        return packed;
}

static int excludes_build(const Scope *s, const JobSpec *d, const JobSpec *j, JobConfig *c) {
        size_t n_max = d->n_excludes + j->n_excludes;

        if (n_max == 0)
                return 0;       /* most jobs: no array at all */
        c->excludes = calloc(n_max, sizeof(Exclude));
        if (!c->excludes)
                return -ENOMEM;
        for (size_t pass = 0; pass < 2; pass++) {
                const JobSpec *src = pass == 0 ? d : j;

                for (size_t i = 0; i < src->n_excludes; i++) {
                        Exclude x;

                        /* Checked and reported already; parsed again for this job's 'H'. */
                        if (config_exclude_parse(s, src->excludes[i], c->name, false, &x) < 0) {
                                if (s->ctx->oom)
                                        return -ENOMEM;
                                continue;
                        }
                        c->excludes[c->n_excludes++] = x;
                }
        }
        return 0;
}

int config_jobspec_build(ConfigCtx *ctx, const ConfigFile *f, const JobSpec *d,
                         const JobSpec *j, const Tz *default_tz, JobConfig *ret) {
        Scope s = { .ctx = ctx, .file = f, .prefix = "" };
        JobConfig c = {};
        bool oom = false;

        c.name = strdup_or_null(j->name, &oom);
        c.description = strdup_or_null(j->description, &oom);
        c.enabled = j->enabled;
        c.suspend = j->suspend;
        c.file = ctx->config->files[f->index];
        c.line = j->node->line;
        c.column = j->node->column;
        c.schedule_text = strdup_or_null(j->schedule_text, &oom);
        c.schedule = j->schedule;
        c.tz = PICK(j, d, tz, JOB_FIELD_TIMEZONE, default_tz);
        c.argv = strv_pack(j->argv);
        c.shell = j->shell;
        c.env = env_merge(d, j, &oom);
        c.timeout = PICK(j, d, timeout, JOB_FIELD_TIMEOUT, USEC_INFINITY);
        c.kill_after = PICK(j, d, kill_after, JOB_FIELD_KILL_AFTER, 30 * USEC_PER_SEC);
        c.overlap = PICK(j, d, overlap, JOB_FIELD_OVERLAP, OVERLAP_SKIP);
        c.no_lease = PICK(j, d, no_lease, JOB_FIELD_LEASE, false);
        c.takeover = PICK(j, d, takeover, JOB_FIELD_TAKEOVER, false);
        c.on_lease_lost = PICK(j, d, on_lease_lost, JOB_FIELD_ON_LEASE_LOST, LEASE_LOST_KILL);
        c.on_store_down = PICK(j, d, on_store_down, JOB_FIELD_ON_STORE_DOWN, STORE_DOWN_SKIP);
        c.retry_attempts = PICK(j, d, retry_attempts, JOB_FIELD_RETRY_ATTEMPTS, 1);
        c.retry_backoff = PICK(j, d, retry_backoff, JOB_FIELD_RETRY_BACKOFF, 10 * USEC_PER_SEC);
        c.retry_max_backoff = PICK(j, d, retry_max_backoff, JOB_FIELD_RETRY_MAX_BACKOFF,
                                   300 * USEC_PER_SEC);
        c.retry_on = PICK(j, d, retry_on, JOB_FIELD_RETRY_ON, RETRY_ON_ALL);
        c.jitter = PICK(j, d, jitter, JOB_FIELD_JITTER, 0);
        c.catch_up = PICK(j, d, catch_up, JOB_FIELD_CATCH_UP, 0);
        c.user = strdup_or_null(PICK(j, d, user, JOB_FIELD_USER, NULL), &oom);
        c.env_keep = env_keep_merge(d, j, c.user != NULL, &oom);
        c.group = strdup_or_null(PICK(j, d, group, JOB_FIELD_GROUP, NULL), &oom);
        c.workdir = strdup_or_null(PICK(j, d, workdir, JOB_FIELD_WORKDIR, NULL), &oom);
        c.umask = PICK(j, d, umask, JOB_FIELD_UMASK, -1);
        c.has_nice = has(j, JOB_FIELD_NICE) || has(d, JOB_FIELD_NICE);
        c.nice = PICK(j, d, nice, JOB_FIELD_NICE, 0);

        if (j->limits_set | d->limits_set) {
                c.limits = calloc((size_t) __builtin_popcount(j->limits_set | d->limits_set),
                                  sizeof(JobLimit));
                if (!c.limits)
                        oom = true;
                for (size_t i = 0; c.limits && i < CONFIG_N_LIMITS; i++) {
                        uint32_t bit = UINT32_C(1) << i;

                        if (j->limits_set & bit)
                                c.limits[c.n_limits++] = j->limits[i];
                        else if (d->limits_set & bit)
                                c.limits[c.n_limits++] = d->limits[i];
                }
        }

        if (oom || !c.argv || excludes_build(&s, d, j, &c) < 0) {
                config_job_done(&c);
                ctx->oom = true;
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

static void ctx_done(ConfigCtx *ctx) {
        for (size_t i = 0; i < ctx->n_files; i++)
                config_file_free(ctx->files[i]);
        free(ctx->files);
        pool_done(&ctx->pool);
        for (size_t i = 0; i < ctx->n_diags; i++) {
                free(ctx->diags[i].d.file);
                free(ctx->diags[i].d.message);
        }
        free(ctx->diags);
        for (size_t i = 0; i < ctx->n_zones; i++) {
                free(ctx->zones[i].name);
                tz_free(ctx->zones[i].tz);
        }
        free(ctx->zones);
        strv_free(ctx->lease_env);
        config_free(ctx->config);
}

/* Hands the loaded zones to the Config (config_file_load() has listed the files). */
static int ctx_finish(ConfigCtx *ctx) {
        Config *c = ctx->config;

        c->zones = calloc(ctx->n_zones + 1, sizeof(Tz *));
        if (!c->zones)
                return -ENOMEM;
        for (size_t i = 0; i < ctx->n_zones; i++)
                if (ctx->zones[i].tz)
                        c->zones[c->n_zones++] = TAKE_PTR(ctx->zones[i].tz);
        c->lease.env_used = TAKE_PTR(ctx->lease_env);
        return 0;
}

int config_load(const char *path, const ConfigLoadOptions *opts, Config **ret,
                ConfigDiags *diags) {
        ConfigCtx ctx = {};
        ConfigFile *main_file;
        int r;

        if (opts)
                ctx.opts = *opts;
        ctx.config = calloc(1, sizeof(Config));
        if (!ctx.config)
                return -ENOMEM;

        main_file = config_file_load(&ctx, path, NULL, NULL, NULL, &r);
        if (main_file) {
                if (main_file->parsed) {
                        config_expand_file(&ctx, main_file);
                        config_include_process(&ctx, main_file);
                }
                (void) config_validate(&ctx);
                if (!ctx.oom && ctx_finish(&ctx) < 0)
                        ctx.oom = true;
                r = 0;
        }

        if (config_diags_flush(&ctx, diags) < 0)
                ctx.oom = true;
        if (ctx.oom)
                r = -ENOMEM;
        else if (r >= 0 && ctx.n_errors + ctx.n_dropped > 0)
                r = -EINVAL;
        if (r >= 0)
                *ret = TAKE_PTR(ctx.config);
        ctx_done(&ctx);
        return r;
}
