/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* One job mapping (or `defaults:`) → JobSpec. Every key is checked even after an error, so
 * one pass reports everything wrong with the job. */

typedef enum JobKey {
        KEY_NAME,               /* jobs only: */
        KEY_DESCRIPTION,
        KEY_ENABLED,
        KEY_SUSPEND,
        KEY_SCHEDULE,
        KEY_COMMAND,
        KEY_TIMEZONE,           /* jobs and defaults: */
        KEY_TIMEOUT,
        KEY_KILL_AFTER,
        KEY_OVERLAP,
        KEY_RETRY,
        KEY_RETRY_ON,
        KEY_JITTER,
        KEY_CATCH_UP,
        KEY_ENV,
        KEY_ENV_KEEP,
        KEY_USER,
        KEY_GROUP,
        KEY_WORKDIR,
        KEY_UMASK,
        KEY_NICE,
        KEY_LIMITS,
        KEY_EXCLUDE,
        KEY_LEASE,
        KEY_TAKEOVER,
        KEY_ON_LEASE_LOST,
        KEY_ON_STORE_DOWN,
        KEY_PING,
        KEY_NOTIFY,
        KEY_ON_FAILURE,         /* the hooks: KEY_ON_FAILURE + HookKind */
        KEY_ON_SUCCESS,
        KEY_ON_RETRY,
        KEY_OUTPUT,
        KEY_MISSED_AFTER,
        _KEY_MAX,
} JobKey;

#define KEY_FIRST_DEFAULTS KEY_TIMEZONE

static const char *const job_keys[_KEY_MAX] = {
        "name", "description", "enabled", "suspend", "schedule", "command",
        "timezone", "timeout", "kill_after", "overlap", "retry", "retry_on", "jitter",
        "catch_up", "env", "env_keep", "user", "group", "workdir", "umask", "nice", "limits", "exclude",
        "lease", "takeover", "on_lease_lost", "on_store_down",
        "ping", "notify", "on_failure", "on_success", "on_retry", "output", "missed_after",
};
static const char *const lease_lost_names[] = { "kill", "continue" };
static const char *const store_down_names[] = { "skip", "run" };

/* A job's lease: the table's lease section, or none (every replica runs it). */
static const char *const lease_names[] = { "default", "none" };

static const char *const overlap_names[_OVERLAP_MAX] = {
        [OVERLAP_SKIP] = "skip",
        [OVERLAP_QUEUE] = "queue",
        [OVERLAP_REPLACE] = "replace",
        [OVERLAP_ALLOW] = "allow",
};

static const char *const retry_on_names[] = { "nonzero", "timeout", "signal" };
static const char *const retry_keys[] = { "attempts", "backoff", "max_backoff" };

#define MARK(j, field) ((j)->set |= UINT32_C(1) << (field))
#define FAIL(j, r) ((r) < 0 ? ((j)->failed = true, true) : false)

void config_jobspec_done(JobSpec *j) {
        free(j->argv);
        free(j->schedule_text);
        free(j->env);
        free(j->env_keep);
        free(j->excludes);
        config_notify_spec_done(j);
        *j = (JobSpec) {};
}

static void spec_duration(const Scope *s, const Node *v, const char *key, bool allow_none,
                          JobField field, usec_t *dst, JobSpec *j) {
        int r;

        r = config_get_duration(s, v, key, allow_none, dst);
        if (FAIL(j, r))
                return;
        MARK(j, field);
}

/* missed_after: a duration from 1s to CONFIG_MISSED_AFTER_MAX_SEC, or none (no alarm). */
static void spec_missed_after(const Scope *s, const Node *v, JobSpec *j) {
        usec_t u;
        int r;

        r = config_get_duration(s, v, "missed_after", true, &u);
        if (FAIL(j, r))
                return;
        if (u != USEC_INFINITY && (u < USEC_PER_SEC || u > CONFIG_MISSED_AFTER_MAX_SEC * USEC_PER_SEC)) {
                config_error(s, v, "'missed_after' must be from 1s to 30d, not '%s' (or 'none' "
                             "for no missed-firing alarm)", v->value);
                j->failed = true;
                return;
        }
        j->missed_after = u;
        MARK(j, JOB_FIELD_MISSED_AFTER);
}

static void spec_string(const Scope *s, const Node *v, const char *key, JobField field,
                        const char **dst, JobSpec *j) {
        const char *t;
        int r;

        r = config_get_string(s, v, key, &t);
        if (FAIL(j, r))
                return;
        if (!*t) {
                config_error(s, v, "'%s' must not be empty", key);
                j->failed = true;
                return;
        }
        if (field == JOB_FIELD_WORKDIR && t[0] != '/') {
                config_error(s, v, "'%s' must be an absolute path, not '%s'", key, t);
                j->failed = true;
                return;
        }
        *dst = t;
        MARK(j, field);
}

static void spec_name(const Scope *s, const Node *v, JobSpec *j) {
        const char *t;
        int r;

        j->name_node = v;
        r = config_get_string(s, v, "name", &t);
        if (FAIL(j, r))
                return;
        if (!config_job_name_valid(t)) {
                config_error(s, v, "invalid job name '%.*s%s' (use letters, digits, '_', '.' "
                             "and '-', not '.' or '..', at most %u characters)", 64, t,
                             strlen(t) > 64 ? "..." : "", CONFIG_MAX_JOB_NAME);
                j->failed = true;
                return;
        }
        j->name = t;
}

int config_get_command(const Scope *s, const Node *v, char ***ret_argv, bool *ret_shell) {
        static const char *const expected = "a string or a sequence of strings";
        char **argv;
        bool bad = false;

        if (v->invalid)
                return -EINVAL;
        if (config_node_is_string(v)) {
                if (v->value[strspn(v->value, " \t\n")] == 0) {
                        config_error(s, v, "'command' must not be empty");
                        return -EINVAL;
                }
                argv = calloc(4, sizeof(char *));
                if (!argv) {
                        s->ctx->oom = true;
                        return -ENOMEM;
                }
                argv[0] = (char *) "/bin/sh";
                argv[1] = (char *) "-c";
                argv[2] = v->value;
                *ret_argv = argv;
                *ret_shell = true;
                return 0;
        }
        if (v->kind != NODE_SEQUENCE)
                return config_type_error(s, v, "command", expected);
        if (v->n_items == 0) {
                config_error(s, v, "'command' must not be empty");
                return -EINVAL;
        }
        argv = calloc(v->n_items + 1, sizeof(char *));
        if (!argv) {
                s->ctx->oom = true;
                return -ENOMEM;
        }
        for (size_t i = 0; i < v->n_items; i++) {
                const char *t;
                char key[32];

                (void) snprintf(key, sizeof(key), "command[%zu]", i);
                if (config_get_string(s, v->items[i], key, &t) < 0)
                        bad = true;
                else if (i == 0 && !*t) {
                        config_error(s, v->items[i], "'%s' must not be empty", key);
                        bad = true;
                } else
                        argv[i] = (char *) t;
        }
        if (bad) {
                free(argv);
                return -EINVAL;
        }
        *ret_argv = argv;
        *ret_shell = false;
        return 0;
}

static void spec_command(const Scope *s, const Node *v, JobSpec *j) {
        j->command_node = v;
        if (config_get_command(s, v, &j->argv, &j->shell) < 0)
                j->failed = true;
}

static void spec_schedule(const Scope *s, const Node *v, JobSpec *j) {
        const char *t;
        int r;

        j->schedule_node = v;
        r = config_get_string(s, v, "schedule", &t);
        if (FAIL(j, r))
                return;
        r = config_parse_schedule(s, v, "schedule", j->name ? j->name : "", true, &j->schedule);
        if (FAIL(j, r))
                return;
        j->schedule_text = config_strip(t, NULL);
        if (!j->schedule_text) {
                s->ctx->oom = true;
                j->failed = true;
                return;
        }
        if (cronexpr_check_satisfiable(&j->schedule) < 0) {
                config_error(s, v, "schedule '%s' can never fire", j->schedule_text);
                j->failed = true;
        }
}

static void spec_timezone(const Scope *s, const Node *v, JobSpec *j) {
        const char *t;
        int r;

        r = config_get_string(s, v, "timezone", &t);
        if (FAIL(j, r))
                return;
        r = config_zone_get(s->ctx, t, &j->tz);
        if (r == -ENOMEM)
                s->ctx->oom = true;
        else if (r == -ENOENT)
                config_error(s, v, "unknown time zone '%s'", t);
        else if (r == -EINVAL)
                config_error(s, v, "invalid time zone name '%s'", t);
        else if (r == -EBADMSG)
                config_error(s, v, "time zone file for '%s' is corrupt", t);
        else if (r < 0)
                config_error(s, v, "cannot load time zone '%s': %s", t, strerror(-r));
        if (FAIL(j, r))
                return;
        j->timezone = t;
        MARK(j, JOB_FIELD_TIMEZONE);
}

static void spec_retry(const Scope *s, const Node *v, JobSpec *j) {
        int r;

        if (v->invalid || v->is_null)
                return;
        if (v->kind != NODE_MAPPING) {
                (void) config_type_error(s, v, "retry",
                                         "a mapping (attempts, backoff, max_backoff)");
                j->failed = true;
                return;
        }
        for (size_t i = 0; i + 1 < v->n_items; i += 2) {
                const Node *k = v->items[i], *x = v->items[i + 1];
                int attempts;

                if (k->invalid)
                        continue;
                if (strcmp(k->value, "attempts") == 0) {
                        r = config_get_int(s, x, "retry.attempts", 1, 100, &attempts);
                        if (FAIL(j, r))
                                continue;
                        j->retry_attempts = (unsigned) attempts;
                        MARK(j, JOB_FIELD_RETRY_ATTEMPTS);
                } else if (strcmp(k->value, "backoff") == 0)
                        spec_duration(s, x, "retry.backoff", false, JOB_FIELD_RETRY_BACKOFF,
                                      &j->retry_backoff, j);
                else if (strcmp(k->value, "max_backoff") == 0)
                        spec_duration(s, x, "retry.max_backoff", false,
                                      JOB_FIELD_RETRY_MAX_BACKOFF, &j->retry_max_backoff, j);
                else {
                        config_unknown_key(s, k, "retry", retry_keys, ELEMENTSOF(retry_keys));
                        j->failed = true;
                }
        }
}

static void spec_retry_on_one(const Scope *s, const Node *v, const char *key, RetryOn *mask,
                              JobSpec *j) {
        int i, r;

        r = config_get_enum(s, v, key, "retry_on condition", retry_on_names,
                            ELEMENTSOF(retry_on_names), &i);
        if (FAIL(j, r))
                return;
        *mask |= 1 << i;
}

static void spec_retry_on(const Scope *s, const Node *v, JobSpec *j) {
        RetryOn mask = 0;
        bool failed = j->failed;

        j->failed = false;
        if (v->invalid)
                j->failed = true;
        else if (v->kind == NODE_SEQUENCE)
                for (size_t i = 0; i < v->n_items; i++) {
                        char key[32];

                        (void) snprintf(key, sizeof(key), "retry_on[%zu]", i);
                        spec_retry_on_one(s, v->items[i], key, &mask, j);
                }
        else if (config_node_is_string(v))
                spec_retry_on_one(s, v, "retry_on", &mask, j);
        else {
                (void) config_type_error(s, v, "retry_on", "a string or a sequence of strings");
                j->failed = true;
        }
        if (!j->failed) {
                j->retry_on = mask;
                MARK(j, JOB_FIELD_RETRY_ON);
        }
        j->failed = j->failed || failed;
}

static bool env_name_valid(const char *k) {
        return *k && !strchr(k, '=');
}

static void spec_env(const Scope *s, const Node *v, JobSpec *j) {
        if (v->invalid || v->is_null)
                return;
        if (v->kind != NODE_MAPPING) {
                (void) config_type_error(s, v, "env", "a mapping");
                j->failed = true;
                return;
        }
        if (v->n_items / 2 > CONFIG_MAX_ENV) {
                config_error(s, v, "too many environment variables (more than %u)",
                             CONFIG_MAX_ENV);
                j->failed = true;
                return;
        }
        free(j->env);
        j->n_env = 0;
        j->env = calloc(v->n_items + 1, sizeof(char *));
        if (!j->env) {
                s->ctx->oom = true;
                return;
        }
        for (size_t i = 0; i + 1 < v->n_items; i += 2) {
                const Node *k = v->items[i], *x = v->items[i + 1];
                _cleanup_free_ char *key = NULL;
                const char *t;
                int r;

                if (k->invalid)
                        continue;
                if (!env_name_valid(k->value)) {
                        config_error(s, k, "invalid environment variable name '%s'", k->value);
                        j->failed = true;
                        continue;
                }
                if (asprintf(&key, "env.%s", k->value) < 0) {
                        key = NULL;
                        s->ctx->oom = true;
                        return;
                }
                r = config_get_string(s, x, key, &t);
                if (FAIL(j, r))
                        continue;
                j->env[2 * j->n_env] = k->value;
                j->env[2 * j->n_env + 1] = t;
                j->n_env++;
        }
}

/* env_keep: NAME | [NAME, ...]: variables of the daemon's environment that the lease:
 * section consumes (secrets), passed to this job all the same. */
static void spec_env_keep(const Scope *s, const Node *v, JobSpec *j) {
        const Node *const *items = &v;
        size_t n = 1;

        if (v->invalid || v->is_null)
                return;
        if (v->kind == NODE_SEQUENCE) {
                items = (const Node *const *) v->items;
                n = v->n_items;
        } else if (v->kind != NODE_SCALAR) {
                (void) config_type_error(s, v, "env_keep", "a string or a sequence of strings");
                j->failed = true;
                return;
        }
        if (n > CONFIG_MAX_ENV) {
                config_error(s, v, "too many names in 'env_keep' (more than %u)", CONFIG_MAX_ENV);
                j->failed = true;
                return;
        }
        free(j->env_keep);
        j->n_env_keep = 0;
        j->env_keep_node = v;
        j->env_keep = calloc(n + 1, sizeof(char *));
        if (!j->env_keep) {
                s->ctx->oom = true;
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const char *t;

                if (FAIL(j, config_get_string(s, items[i], "env_keep", &t)))
                        continue;
                if (!env_name_valid(t)) {
                        config_error(s, items[i], "invalid environment variable name '%s'", t);
                        j->failed = true;
                        continue;
                }
                j->env_keep[j->n_env_keep++] = t;
        }
}

/* The keys about the election: lease, takeover, on_lease_lost, on_store_down. */
static void spec_lease_value(const Scope *s, JobKey key, const Node *v, JobSpec *j) {
        int i, r;

        switch (key) {
        case KEY_LEASE:
                r = config_get_enum(s, v, "lease", "job lease", lease_names, ELEMENTSOF(lease_names),
                                    &i);
                if (FAIL(j, r))
                        break;
                j->no_lease = i == 1;
                MARK(j, JOB_FIELD_LEASE);
                break;
        case KEY_TAKEOVER:
                r = config_get_bool(s, v, "takeover", &j->takeover);
                if (FAIL(j, r))
                        break;
                MARK(j, JOB_FIELD_TAKEOVER);
                break;
        case KEY_ON_LEASE_LOST:
                r = config_get_enum(s, v, "on_lease_lost", "on_lease_lost policy", lease_lost_names,
                                    ELEMENTSOF(lease_lost_names), &i);
                if (FAIL(j, r))
                        break;
                j->on_lease_lost = (LeaseLostPolicy) i;
                MARK(j, JOB_FIELD_ON_LEASE_LOST);
                break;
        case KEY_ON_STORE_DOWN:
                r = config_get_enum(s, v, "on_store_down", "on_store_down policy", store_down_names,
                                    ELEMENTSOF(store_down_names), &i);
                if (FAIL(j, r))
                        break;
                j->on_store_down = (StoreDownPolicy) i;
                MARK(j, JOB_FIELD_ON_STORE_DOWN);
                break;
        default:
                break;
        }
}

static void spec_value(const Scope *s, JobKey key, const Node *v, JobSpec *j) {
        int i, r;

        switch (key) {
        case KEY_NAME:
                spec_name(s, v, j);
                break;
        case KEY_DESCRIPTION:
                r = config_get_string(s, v, "description", &j->description);
                (void) FAIL(j, r);
                break;
        case KEY_ENABLED:
                r = config_get_bool(s, v, "enabled", &j->enabled);
                (void) FAIL(j, r);
                break;
        case KEY_SUSPEND:
                r = config_get_bool(s, v, "suspend", &j->suspend);
                (void) FAIL(j, r);
                break;
        case KEY_SCHEDULE:
                spec_schedule(s, v, j);
                break;
        case KEY_COMMAND:
                spec_command(s, v, j);
                break;
        case KEY_TIMEZONE:
                spec_timezone(s, v, j);
                break;
        case KEY_TIMEOUT:
                spec_duration(s, v, "timeout", true, JOB_FIELD_TIMEOUT, &j->timeout, j);
                if (j->timeout == 0)    /* 0 disables, as for jitter and catch_up */
                        j->timeout = USEC_INFINITY;
                break;
        case KEY_KILL_AFTER:
                spec_duration(s, v, "kill_after", false, JOB_FIELD_KILL_AFTER, &j->kill_after, j);
                break;
        case KEY_OVERLAP:
                r = config_get_enum(s, v, "overlap", "overlap policy", overlap_names,
                                    _OVERLAP_MAX, &i);
                if (FAIL(j, r))
                        break;
                j->overlap = (OverlapPolicy) i;
                MARK(j, JOB_FIELD_OVERLAP);
                break;
        case KEY_RETRY:
                spec_retry(s, v, j);
                break;
        case KEY_RETRY_ON:
                spec_retry_on(s, v, j);
                break;
        case KEY_JITTER:
                spec_duration(s, v, "jitter", false, JOB_FIELD_JITTER, &j->jitter, j);
                break;
        case KEY_CATCH_UP:
                spec_duration(s, v, "catch_up", false, JOB_FIELD_CATCH_UP, &j->catch_up, j);
                break;
        case KEY_MISSED_AFTER:
                spec_missed_after(s, v, j);
                break;
        case KEY_ENV:
                spec_env(s, v, j);
                break;
        case KEY_ENV_KEEP:
                spec_env_keep(s, v, j);
                break;
        case KEY_USER:
                spec_string(s, v, "user", JOB_FIELD_USER, &j->user, j);
                break;
        case KEY_GROUP:
                spec_string(s, v, "group", JOB_FIELD_GROUP, &j->group, j);
                break;
        case KEY_WORKDIR:
                spec_string(s, v, "workdir", JOB_FIELD_WORKDIR, &j->workdir, j);
                break;
        case KEY_UMASK:
                r = config_get_umask(s, v, "umask", &j->umask);
                if (FAIL(j, r))
                        break;
                MARK(j, JOB_FIELD_UMASK);
                break;
        case KEY_NICE:
                r = config_get_int(s, v, "nice", -20, 19, &j->nice);
                if (FAIL(j, r))
                        break;
                MARK(j, JOB_FIELD_NICE);
                break;
        case KEY_LIMITS:
                config_spec_limits(s, v, j);
                break;
        case KEY_EXCLUDE:
                config_spec_exclude(s, v, j);
                break;
        case KEY_PING:
                config_spec_ping(s, v, j);
                break;
        case KEY_NOTIFY:
                config_spec_notify(s, v, j);
                break;
        case KEY_ON_FAILURE:
        case KEY_ON_SUCCESS:
        case KEY_ON_RETRY:
                config_spec_hook(s, v, (HookKind) (key - KEY_ON_FAILURE), j);
                break;
        case KEY_OUTPUT:
                config_spec_output(s, v, j);
                break;
        default:
                spec_lease_value(s, key, v, j);
                break;
        }
}

void config_jobspec_parse(const Scope *s, const Node *m, bool is_defaults, JobSpec *ret) {
        const Node *name;
        JobSpec j = {
                .is_defaults = is_defaults,
                .node = m,
                .enabled = true,
        };

        /* The name first: it seeds 'H' in the schedule and excludes, wherever it is written. */
        name = is_defaults ? NULL : config_node_get(m, "name");
        if (name)
                spec_name(s, name, &j);

        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                const Node *k = m->items[i], *v = m->items[i + 1];
                size_t key;

                if (k->invalid)
                        continue;
                for (key = 0; key < _KEY_MAX; key++)     /* the first letter first: cheaper */
                        if (k->value[0] == job_keys[key][0] && strcmp(k->value, job_keys[key]) == 0)
                                break;
                if (key == _KEY_MAX) {
                        if (is_defaults)
                                config_unknown_key(s, k, NULL, job_keys + KEY_FIRST_DEFAULTS,
                                                   _KEY_MAX - KEY_FIRST_DEFAULTS);
                        else
                                config_unknown_key(s, k, NULL, job_keys, _KEY_MAX);
                        j.failed = true;
                        continue;
                }
                if (is_defaults && key < KEY_FIRST_DEFAULTS) {
                        config_error(s, k, "'%s' can only be set in a job", job_keys[key]);
                        j.failed = true;
                        continue;
                }
                if (key == KEY_NAME)
                        continue;       /* done above */
                spec_value(s, (JobKey) key, v, &j);
        }

        if (!is_defaults) {
                if (!j.name_node)
                        config_error(s, m, "missing required key 'name'");
                if (!j.schedule_node)
                        config_error(s, m, "missing required key 'schedule'");
                if (!j.command_node)
                        config_error(s, m, "missing required key 'command'");
                if (!j.name_node || !j.schedule_node || !j.command_node)
                        j.failed = true;
        }
        *ret = j;
}
