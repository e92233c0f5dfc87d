/* SPDX-License-Identifier: MIT */
#include <assert.h>
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
        free(j->shell ? (void *) j->command : (void *) j->argv);   /* packed, with name,
                                                                     * description, schedule */
        strv_free(j->env);
        for (size_t i = 0; i < j->n_excludes; i++)
                free(j->excludes[i].text);
        free(j->excludes);
        *j = (JobConfig) {};
}

static void policy_done(JobPolicy *p) {
        free(p->user);
        free(p->group);
        free(p->workdir);
        free(p->env_keep);      /* packed */
        free(p->limits);
}

static bool str_equal(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

static bool policy_equal(const JobPolicy *a, const JobPolicy *b) {
        return a->timeout == b->timeout && a->kill_after == b->kill_after &&
               a->retry_backoff == b->retry_backoff && a->retry_max_backoff == b->retry_max_backoff &&
               a->jitter == b->jitter && a->catch_up == b->catch_up &&
               a->retry_attempts == b->retry_attempts && a->overlap == b->overlap &&
               a->on_lease_lost == b->on_lease_lost && a->on_store_down == b->on_store_down &&
               a->retry_on == b->retry_on && a->umask == b->umask && a->nice == b->nice &&
               a->has_nice == b->has_nice && a->no_lease == b->no_lease && a->takeover == b->takeover &&
               a->notify == b->notify &&       /* interned: one pointer per distinct setting */
               a->output == b->output &&
               a->missed_after_sec == b->missed_after_sec &&
               str_equal(a->user, b->user) && str_equal(a->group, b->group) &&
               str_equal(a->workdir, b->workdir) && strv_equal(a->env_keep, b->env_keep) &&
               a->n_limits == b->n_limits &&
               (a->n_limits == 0 || memcmp(a->limits, b->limits, a->n_limits * sizeof(JobLimit)) == 0);
}

/* The Config's copy of p (taken over: *p is emptied either way); NULL when out of memory.
 * Newest first: the jobs of one file and one defaults: section come one after another. */
static const JobPolicy *policy_intern(Config *c, JobPolicy *p) {
        JobPolicy **l, *n;

        for (size_t i = c->n_policies; i-- > 0;)
                if (policy_equal(c->policies[i], p)) {
                        policy_done(p);
                        return c->policies[i];
                }
        l = reallocarray(c->policies, c->n_policies + 1, sizeof(JobPolicy *));
        if (l)
                c->policies = l;
        n = l ? malloc(sizeof(JobPolicy)) : NULL;
        if (!n) {
                policy_done(p);
                return NULL;
        }
        *n = *p;
        c->policies[c->n_policies++] = n;
        return n;
}

/* argv packed (strv_pack()) with name, description and schedule_text after its strings: one
 * block per job instead of four. */
/* The job's command and its name, description and schedule text in one allocation: a string
 * command is kept as the string alone (/bin/sh and -c are added when it runs). Returns the
 * block, which is c->argv or c->command. */
static void *job_pack(char *const *argv, bool shell, const char *name, const char *description,
                      const char *schedule_text, JobConfig *c) {
        const char *extra[3] = { name, description, schedule_text };
        char **extra_ret[3] = { &c->name, &c->description, &c->schedule_text };
        size_t n = shell ? 0 : strv_length(argv), size = shell ? 0 : (n + 1) * sizeof(char *);
        char **l, *p, *command = NULL;

        assert(!shell || strv_length(argv) == 3);       /* /bin/sh -c COMMAND */
        if (shell)
                size += strlen(argv[2]) + 1;
        for (size_t i = 0; i < n; i++)
                size += strlen(argv[i]) + 1;
        for (size_t i = 0; i < 3; i++)
                size += extra[i] ? strlen(extra[i]) + 1 : 0;
        l = malloc(size);
        if (!l)
                return NULL;
        p = shell ? (char *) l : (char *) (l + n + 1);
        if (shell) {
                command = p;
                p = stpcpy(p, argv[2]) + 1;
        }
        for (size_t i = 0; i < n; i++) {
                l[i] = p;
                p = stpcpy(p, argv[i]) + 1;
        }
        if (!shell)
                l[n] = NULL;
        for (size_t i = 0; i < 3; i++) {
                *extra_ret[i] = extra[i] ? p : NULL;
                if (extra[i])
                        p = stpcpy(p, extra[i]) + 1;
        }
        if (shell)
                c->command = command;
        else
                c->argv = l;
        return l;
}

const char *const *config_job_argv(const JobConfig *j, const char *buf[static 4]) {
        if (!j->shell)
                return (const char *const *) j->argv;
        buf[0] = "/bin/sh";
        buf[1] = "-c";
        buf[2] = j->command;
        buf[3] = NULL;
        return buf;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_jobs; i++)
                config_job_done(&c->jobs[i]);
        free(c->jobs);
        for (size_t i = 0; i < c->n_policies; i++) {
                policy_done(c->policies[i]);
                free(c->policies[i]);
        }
        free(c->policies);
        for (size_t i = 0; i < c->n_notifies; i++)
                config_notify_free(c->notifies[i]);
        free(c->notifies);
        for (size_t i = 0; i < c->n_outputs; i++)
                config_output_free(c->outputs[i]);
        free(c->outputs);
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
        JobPolicy p = {};
        bool oom = false;

        c.shell = j->shell;
        oom = !job_pack(j->argv, j->shell, j->name, j->description, j->schedule_text, &c);
        c.enabled = j->enabled;
        c.suspend = j->suspend;
        c.file = ctx->config->files[f->index];
        c.line = j->node->line;
        c.column = j->node->column;
        c.schedule = j->schedule;
        c.tz = PICK(j, d, tz, JOB_FIELD_TIMEZONE, default_tz);
        c.env = env_merge(d, j, &oom);

        p.timeout = PICK(j, d, timeout, JOB_FIELD_TIMEOUT, USEC_INFINITY);
        p.kill_after = PICK(j, d, kill_after, JOB_FIELD_KILL_AFTER, 30 * USEC_PER_SEC);
        p.overlap = PICK(j, d, overlap, JOB_FIELD_OVERLAP, OVERLAP_SKIP);
        p.no_lease = PICK(j, d, no_lease, JOB_FIELD_LEASE, false);
        p.takeover = PICK(j, d, takeover, JOB_FIELD_TAKEOVER, false);
        p.on_lease_lost = PICK(j, d, on_lease_lost, JOB_FIELD_ON_LEASE_LOST, LEASE_LOST_KILL);
        p.on_store_down = PICK(j, d, on_store_down, JOB_FIELD_ON_STORE_DOWN, STORE_DOWN_SKIP);
        p.retry_attempts = PICK(j, d, retry_attempts, JOB_FIELD_RETRY_ATTEMPTS, 1);
        p.retry_backoff = PICK(j, d, retry_backoff, JOB_FIELD_RETRY_BACKOFF, 10 * USEC_PER_SEC);
        p.retry_max_backoff = PICK(j, d, retry_max_backoff, JOB_FIELD_RETRY_MAX_BACKOFF,
                                   300 * USEC_PER_SEC);
        p.retry_on = PICK(j, d, retry_on, JOB_FIELD_RETRY_ON, RETRY_ON_ALL);
        p.jitter = PICK(j, d, jitter, JOB_FIELD_JITTER, 0);
        p.catch_up = PICK(j, d, catch_up, JOB_FIELD_CATCH_UP, 0);
        {
                usec_t m = PICK(j, d, missed_after, JOB_FIELD_MISSED_AFTER, 0);

                p.missed_after_sec = m == USEC_INFINITY ? MISSED_AFTER_NONE :
                                     (uint32_t) (m / USEC_PER_SEC);
        }
        p.user = strdup_or_null(PICK(j, d, user, JOB_FIELD_USER, NULL), &oom);
        p.env_keep = env_keep_merge(d, j, p.user != NULL, &oom);
        p.group = strdup_or_null(PICK(j, d, group, JOB_FIELD_GROUP, NULL), &oom);
        p.workdir = strdup_or_null(PICK(j, d, workdir, JOB_FIELD_WORKDIR, NULL), &oom);
        p.umask = PICK(j, d, umask, JOB_FIELD_UMASK, -1);
        p.has_nice = has(j, JOB_FIELD_NICE) || has(d, JOB_FIELD_NICE);
        p.nice = PICK(j, d, nice, JOB_FIELD_NICE, 0);

        if (j->limits_set | d->limits_set) {
                p.limits = calloc((size_t) __builtin_popcount(j->limits_set | d->limits_set),
                                  sizeof(JobLimit));
                if (!p.limits)
                        oom = true;
                for (size_t i = 0; p.limits && i < CONFIG_N_LIMITS; i++) {
                        uint32_t bit = UINT32_C(1) << i;

                        if (j->limits_set & bit)
                                p.limits[p.n_limits++] = j->limits[i];
                        else if (d->limits_set & bit)
                                p.limits[p.n_limits++] = d->limits[i];
                }
        }
        if (!oom && config_notify_build(ctx, d, j, &p.notify) < 0)
                oom = true;
        if (!oom && config_output_build(ctx, d, j, &p.output) < 0)
                oom = true;
        if (oom)
                policy_done(&p);
        else
                c.policy = policy_intern(ctx->config, &p);

        if (oom || !c.policy || excludes_build(&s, d, j, &c) < 0) {
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
        /* The cache is used by this load only if its directory is (or now is) ours, and no
         * one else's to write in: checked once here for every file. */
        if (ctx.opts.cache_dir && yamlcache_dir_make(ctx.opts.cache_dir) < 0)
                ctx.opts.cache_dir = NULL;
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
        if (r >= 0 && ctx.opts.cache_dir)
                yamlcache_prune(ctx.opts.cache_dir, ctx.config->files);
        if (r >= 0)
                *ret = TAKE_PTR(ctx.config);
        ctx_done(&ctx);
        return r;
}
