/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "internal.h"
#include "tz.h"

/* The semantic pass over the parsed files: top-level keys, `lease:`, `defaults:`, every job
 * (jobspec.c), names unique across files, zones loaded once. Builds ctx->config's jobs. */

static const char *const top_keys[] = { "shutdown_grace", "include", "lease", "main", "api",
                                        "defaults", "jobs" };
static const char *const included_keys[] = { "jobs", "include" };

int config_zone_get(ConfigCtx *ctx, const char *name, const Tz **ret) {
        ZoneEntry *z;
        Tz *tz = NULL;
        char *copy;
        int r;

        /* UTC needs no zoneinfo: it works in a minimal container without tzdata. */
        if (strcmp(name, "UTC") == 0) {
                *ret = tz_utc();
                return 0;
        }
        for (size_t i = 0; i < ctx->n_zones; i++)
                if (strcmp(ctx->zones[i].name, name) == 0) {
                        if (!ctx->zones[i].tz)
                                return ctx->zones[i].error;
                        *ret = ctx->zones[i].tz;
                        return 0;
                }

        r = tz_load(name, ctx->opts.tzdir, &tz);
        if (r == -ENOMEM)
                return r;
        copy = strdup(name);
        z = copy ? realloc(ctx->zones, (ctx->n_zones + 1) * sizeof(ZoneEntry)) : NULL;
        if (!z) {
                free(copy);
                tz_free(tz);
                return -ENOMEM;
        }
        ctx->zones = z;
        ctx->zones[ctx->n_zones++] = (ZoneEntry) { .name = copy, .tz = r < 0 ? NULL : tz,
                                                   .error = r < 0 ? r : 0 };
        if (r < 0)
                return r;
        *ret = tz;
        return 0;
}

/* Top-level keys of the main file; returns the `defaults:` mapping, if any. */
static const Node *check_main_keys(const Scope *s, const Node *root) {
        const Node *defaults = NULL;

        for (size_t i = 0; i + 1 < root->n_items; i += 2) {
                const Node *k = root->items[i], *v = root->items[i + 1];

                if (k->invalid)
                        continue;
                if (strcmp(k->value, "shutdown_grace") == 0)
                        (void) config_get_duration(s, v, "shutdown_grace", false,
                                                   &s->ctx->config->shutdown_grace);
                else if (strcmp(k->value, "lease") == 0)
                        config_check_lease(s, v);
                else if (strcmp(k->value, "main") == 0)
                        config_check_main(s, v);
                else if (strcmp(k->value, "api") == 0)
                        config_check_api(s, v);
                else if (strcmp(k->value, "defaults") == 0) {
                        if (v->invalid || v->is_null)
                                continue;
                        if (v->kind != NODE_MAPPING)
                                (void) config_type_error(s, v, "defaults", "a mapping");
                        else
                                defaults = v;
                } else if (strcmp(k->value, "include") != 0 && strcmp(k->value, "jobs") != 0)
                        config_unknown_key(s, k, NULL, top_keys, ELEMENTSOF(top_keys));
        }
        return defaults;
}

static void check_included_keys(const Scope *s, const Node *root) {
        for (size_t i = 0; i + 1 < root->n_items; i += 2) {
                const Node *k = root->items[i];
                bool main_only = false;

                if (k->invalid || strcmp(k->value, "include") == 0 ||
                    strcmp(k->value, "jobs") == 0)
                        continue;
                for (size_t t = 0; t < ELEMENTSOF(top_keys); t++)
                        main_only = main_only || strcmp(k->value, top_keys[t]) == 0;
                if (main_only)
                        config_error(s, k, "'%s' is only allowed in the main file (included files "
                                     "may contain 'jobs' and 'include')", k->value);
                else
                        config_unknown_key(s, k, NULL, included_keys, ELEMENTSOF(included_keys));
        }
}

typedef struct NameRecord {
        const char *name;
        const ConfigFile *file;
        const Node *node;
        size_t seq;
} NameRecord;

typedef struct Validator {
        ConfigCtx *ctx;
        JobSpec defaults;       /* empty (nothing set) without a `defaults:` */
        const Tz *default_tz;
        size_t n_seen;          /* job entries seen in all files, for CONFIG_MAX_JOBS */
        NameRecord *names;
        size_t n_names;
} Validator;

static void add_job(Validator *v, const ConfigFile *f, const Node *m, size_t index) {
        ConfigCtx *ctx = v->ctx;
        Config *c = ctx->config;
        Scope s = { .ctx = ctx, .file = f, .job = m, .job_index = index };
        JobSpec j;

        config_jobspec_parse(&s, m, false, &j);
        if (j.n_env_keep > 0 && (j.user || v->defaults.user)) {
                config_error(&s, j.env_keep_node, "'env_keep' cannot be used with 'user': a job "
                             "run as another user never gets the variables the lease: section "
                             "consumes; set what it needs in 'env:'");
                j.failed = true;
        }
        if (!config_output_check(&s, &v->defaults, &j))
                j.failed = true;
        if (j.name) {
                v->names[v->n_names] = (NameRecord) {
                        .name = j.name, .file = f, .node = j.name_node, .seq = v->n_names,
                };
                v->n_names++;
        }
        if (!j.failed && !ctx->oom && ctx->n_errors == 0 &&
            config_jobspec_build(ctx, f, &v->defaults, &j, v->default_tz,
                                 &c->jobs[c->n_jobs]) >= 0)
                c->n_jobs++;
        config_jobspec_done(&j);
}

static void check_jobs(Validator *v, const ConfigFile *f, const Node *jobs) {
        Scope s = { .ctx = v->ctx, .file = f, .prefix = "" };
        char buf[64];

        if (!jobs || jobs->invalid || jobs->is_null)
                return;
        if (jobs->kind != NODE_SEQUENCE) {
                (void) config_type_error(&s, jobs, "jobs", "a sequence of jobs");
                return;
        }
        for (size_t i = 0; i < jobs->n_items; i++) {
                const Node *m = jobs->items[i];

                if (v->ctx->too_many_jobs)
                        return;
                if (v->n_seen >= CONFIG_MAX_JOBS) {
                        config_error(&s, m, "too many jobs (more than %u)", CONFIG_MAX_JOBS);
                        v->ctx->too_many_jobs = true;
                        return;
                }
                v->n_seen++;
                if (m->invalid)
                        continue;
                if (m->kind != NODE_MAPPING) {
                        config_error(&s, m, "job #%zu must be a mapping, not %s", i + 1,
                                     config_node_describe(m, buf, sizeof(buf)));
                        continue;
                }
                add_job(v, f, m, i);
        }
}

static size_t name_hash(const char *s) {
        return (size_t) fnv1a64(FNV1A64_OFFSET, s, strlen(s));
}

/* Each name after its first use is reported: names in table order into a hash set of the
 * first of each (a sort of 1000 names was a tenth of the validation). */
static void check_names_unique(Validator *v) {
        _cleanup_free_ const NameRecord **first = NULL;
        size_t cap = 16;

        while (cap < 2 * v->n_names)
                cap *= 2;
        first = calloc(cap, sizeof(NameRecord *));
        if (!first) {
                v->ctx->oom = true;
                return;
        }
        for (size_t i = 0; i < v->n_names; i++) {
                const NameRecord *b = &v->names[i];
                char prefix[CONFIG_MAX_JOB_NAME + 16];
                Scope s = { .ctx = v->ctx, .file = b->file, .prefix = prefix };
                size_t h = name_hash(b->name) & (cap - 1);

                while (first[h] && strcmp(first[h]->name, b->name) != 0)
                        h = (h + 1) & (cap - 1);
                if (!first[h]) {
                        first[h] = b;
                        continue;
                }
                (void) snprintf(prefix, sizeof(prefix), "job '%s': ", b->name);
                config_error(&s, b->node, "duplicate job name (first defined at %s:%u)",
                             first[h]->file->path, first[h]->node->line);
        }
}

static void resolve_default_tz(Validator *v, const ConfigFile *main_file) {
        ConfigCtx *ctx = v->ctx;
        const char *name = ctx->opts.default_tz;
        int r;

        v->default_tz = tz_utc();
        if (v->defaults.set & (UINT32_C(1) << JOB_FIELD_TIMEZONE))
                v->default_tz = v->defaults.tz;
        else if (name) {
                r = config_zone_get(ctx, name, &v->default_tz);
                if (r == -ENOMEM)
                        ctx->oom = true;
                else if (r == -ENOENT)
                        config_diag_add(ctx, CONFIG_ERROR, main_file, 0, 0,
                                        "unknown default time zone '%s'", name);
                else if (r < 0)
                        config_diag_add(ctx, CONFIG_ERROR, main_file, 0, 0,
                                        "cannot load default time zone '%s': %s", name,
                                        strerror(-r));
        }
        ctx->config->default_tz = v->default_tz;
}

int config_validate(ConfigCtx *ctx) {
        Config *c = ctx->config;
        ConfigFile *main_file = ctx->files[0];
        Validator v = { .ctx = ctx };
        bool tz_done = false;
        size_t max_jobs = 0;

        c->shutdown_grace = 30 * USEC_PER_SEC;
        config_lease_defaults(&c->lease);

        /* Every job entry of every file, to size the arrays once. */
        for (size_t i = 0; i < ctx->n_files; i++) {
                const Node *jobs = config_node_get(ctx->files[i]->root, "jobs");

                if (jobs && jobs->kind == NODE_SEQUENCE)
                        max_jobs += jobs->n_items;
        }
        if (max_jobs > CONFIG_MAX_JOBS)
                max_jobs = CONFIG_MAX_JOBS;
        c->jobs = calloc(max_jobs + 1, sizeof(JobConfig));
        v.names = calloc(max_jobs + 1, sizeof(NameRecord));
        if (!c->jobs || !v.names) {
                free(v.names);
                ctx->oom = true;
                return -ENOMEM;
        }

        for (size_t i = 0; i < ctx->n_files; i++) {
                const ConfigFile *f = ctx->files[i];
                Scope s = { .ctx = ctx, .file = f, .prefix = "" };
                const Node *root = f->root;
                char buf[64];

                if (!f->parsed || !root || root->invalid || root->is_null)
                        continue;
                if (root->kind != NODE_MAPPING) {
                        config_error(&s, root, "the top level must be a mapping, not %s",
                                     config_node_describe(root, buf, sizeof(buf)));
                        continue;
                }
                if (i == 0) {
                        const Node *d = check_main_keys(&s, root);

                        if (d) {
                                Scope ds = { .ctx = ctx, .file = f, .prefix = "defaults: " };

                                config_jobspec_parse(&ds, d, true, &v.defaults);
                        }
                        resolve_default_tz(&v, main_file);
                        tz_done = true;
                } else
                        check_included_keys(&s, root);
                check_jobs(&v, f, config_node_get(root, "jobs"));
        }
        if (!tz_done)   /* an empty main file */
                resolve_default_tz(&v, main_file);

        check_names_unique(&v);
        config_jobspec_done(&v.defaults);
        free(v.names);
        return 0;
}
