/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "internal.h"

/* ${VAR} expansion in scalar values (never in keys), done once per file right after parsing,
 * so every later check sees the final text:
 *
 *   text      = { literal | "$$" | "${" name [ ":-" default ] "}" | "$" }
 *   name      = ( letter | "_" ) { letter | digit | "_" }
 *   default   = any characters except "}", taken literally (no nested expansion)
 *
 * "$$" is a literal "$"; a "$" followed by neither "{" nor "$" is kept as is (so "$HOME" in a
 * shell command stays for the shell). ${VAR:-default} uses the default when VAR is unset or
 * empty; ${VAR} with VAR unset is an error, never a silent empty string. */

typedef struct Out {
        char *p;
        size_t n, cap;
        bool too_long;
} Out;

static int out_append(Out *o, const char *s, size_t n) {
        if (o->n + n > CONFIG_MAX_STRING) {
                o->too_long = true;
                return 0;
        }
        if (o->n + n + 1 > o->cap) {
                char *p = grow_buffer(o->p, &o->cap, o->n + n + 1, 64);

                if (!p)
                        return -ENOMEM;
                o->p = p;
        }
        memcpy(o->p + o->n, s, n);
        o->n += n;
        o->p[o->n] = 0;
        return 0;
}

static bool is_name_start(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c) {
        return is_name_start(c) || (c >= '0' && c <= '9');
}

/* A variable the lease: section reads is the daemon's (a password, a token): remember its
 * name, so that jobs do not get it (LeaseConfig.env_used). */
static void expand_note_lease_variable(ConfigCtx *ctx, const char *name) {
        char **l;

        for (size_t i = 0; i < ctx->n_lease_env; i++)
                if (strcmp(ctx->lease_env[i], name) == 0)
                        return;
        l = realloc(ctx->lease_env, (ctx->n_lease_env + 2) * sizeof(char *));
        if (!l) {
                ctx->oom = true;
                return;
        }
        ctx->lease_env = l;
        l[ctx->n_lease_env] = strdup(name);
        if (!l[ctx->n_lease_env]) {
                ctx->oom = true;
                return;
        }
        l[++ctx->n_lease_env] = NULL;
}

static const char *expand_lookup(ConfigCtx *ctx, const char *name) {
        const char *v = ctx->opts.getenv ? ctx->opts.getenv(name, ctx->opts.getenv_userdata)
                                         : getenv(name);

        if (v && ctx->expanding_lease)
                expand_note_lease_variable(ctx, name);
        return v;
}

/* One "${...}" at in[i] into o. Returns how many bytes of in it took, 0 when the rest of the
 * string cannot be read (no '}'), or -ENOMEM; *failed on an error (reported). */
static ssize_t expand_reference(const Scope *s, const Node *n, const char *in, size_t i, Out *o,
                                bool *failed) {
        unsigned col = config_node_column_at(s->file, n, i);
        const char *end = strchr(in + i + 2, '}'), *value, *dflt = NULL;
        _cleanup_free_ char *name = NULL;
        size_t inner_len, name_len = 0;
        int r;

        if (!end) {
                config_error_at(s, n->line, col, "unterminated '${' (missing '}')");
                *failed = true;
                return 0;
        }
        inner_len = (size_t) (end - (in + i + 2));
        if (is_name_start(in[i + 2]))
                while (name_len < inner_len && is_name_char(in[i + 2 + name_len]))
                        name_len++;
        if (name_len == 0) {
                config_error_at(s, n->line, col, "invalid variable name in '${%.*s}'",
                                (int) inner_len, in + i + 2);
                *failed = true;
                return (ssize_t) inner_len + 3;
        }
        if (name_len < inner_len) {
                if (inner_len - name_len < 2 || in[i + 2 + name_len] != ':' ||
                    in[i + 3 + name_len] != '-') {
                        config_error_at(s, n->line, col, "unsupported expansion '${%.*s}'; use "
                                        "${VAR} or ${VAR:-default}", (int) inner_len, in + i + 2);
                        *failed = true;
                        return (ssize_t) inner_len + 3;
                }
                dflt = in + i + 4 + name_len;
        }
        name = strndup(in + i + 2, name_len);
        if (!name)
                return -ENOMEM;
        if (s->ctx->keeping_job && !dflt && strcmp(name, "JOB") == 0) {
                /* ping: ${JOB} is the job's name, put in when a ping is sent. */
                r = out_append(o, "${JOB}", 6);
                return r < 0 ? r : (ssize_t) inner_len + 3;
        }
        value = expand_lookup(s->ctx, name);
        if (dflt && (!value || !*value))
                r = out_append(o, dflt, (size_t) (end - dflt));
        else if (value)
                r = out_append(o, value, strlen(value));
        else {
                config_error_at(s, n->line, col, "variable '%s' is not set; write "
                                "${%s:-default}, or $${%s} for a literal", name, name, name);
                *failed = true;
                r = 0;
        }
        return r < 0 ? r : (ssize_t) inner_len + 3;
}

int config_expand_string(const Scope *s, const Node *n, const char *in, char **ret) {
        Out o = {};
        bool failed = false;
        size_t i = 0;
        ssize_t k;

        while (in[i]) {
                if (in[i] != '$' || (in[i + 1] != '$' && in[i + 1] != '{')) {
                        k = (ssize_t) strcspn(in + i + 1, "$") + 1;
                        if (out_append(&o, in + i, (size_t) k) < 0)
                                goto oom;
                } else if (in[i + 1] == '$') {
                        k = 2;
                        if (out_append(&o, "$", 1) < 0)
                                goto oom;
                } else {
                        k = expand_reference(s, n, in, i, &o, &failed);
                        if (k < 0)
                                goto oom;
                        if (k == 0)
                                break;
                }
                i += (size_t) k;
        }

        if (!failed && o.too_long) {
                config_error(s, n, "string is too long after expanding variables "
                             "(more than %u bytes)", CONFIG_MAX_STRING);
                failed = true;
        }
        if (failed) {
                free(o.p);
                return -EINVAL;
        }
        if (!o.p && !(o.p = strdup("")))
                goto oom;
        *ret = o.p;
        return 0;
oom:
        free(o.p);
        s->ctx->oom = true;
        return -ENOMEM;
}

static void expand_node(const Scope *s, Node *n) {
        char *v;
        int r;

        if (n->walked)
                return;
        n->walked = true;
        switch (n->kind) {
        case NODE_SCALAR:
                if (n->invalid || n->is_null || !strchr(n->value, '$'))
                        return;
                r = config_expand_string(s, n, n->value, &v);
                if (r < 0) {
                        n->invalid = true;
                        return;
                }
                n->changed = strcmp(v, n->value) != 0;
                n->length = strlen(v);
                n->value = pool_strndup(&s->ctx->pool, v, n->length);
                free(v);
                if (!n->value) {
                        s->ctx->oom = true;
                        n->value = (char *) "";
                        n->length = 0;
                        n->invalid = true;
                }
                return;
        case NODE_SEQUENCE:
                for (size_t i = 0; i < n->n_items; i++)
                        expand_node(s, n->items[i]);
                return;
        case NODE_MAPPING:
                for (size_t i = 1; i < n->n_items; i += 2)
                        expand_node(s, n->items[i]);
                return;
        }
}

/* A job's or the defaults' mapping: as expand_node(), but ${JOB} in `ping:` is kept for
 * the notifier (one template shared by every job that inherits it). */
static void expand_spec(const Scope *s, Node *m) {
        if (m->kind != NODE_MAPPING || m->walked) {
                expand_node(s, m);
                return;
        }
        m->walked = true;
        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                const Node *k = m->items[i];

                s->ctx->keeping_job = !k->invalid && strcmp(k->value, "ping") == 0;
                expand_node(s, m->items[i + 1]);
                s->ctx->keeping_job = false;
        }
}

/* A job's values get the job's prefix: its name is expanded first to make it. */
static void expand_job(ConfigCtx *ctx, ConfigFile *f, Node *m, size_t index) {
        Scope s = { .ctx = ctx, .file = f, .prefix = "" };
        Node *name;

        if (m->kind != NODE_MAPPING) {
                expand_node(&s, m);
                return;
        }
        s = (Scope) { .ctx = ctx, .file = f, .job = m, .job_index = index, .by_index = true };
        name = config_node_get(m, "name");
        if (name)
                expand_node(&s, name);
        s.by_index = false;
        expand_spec(&s, m);
}

void config_expand_file(ConfigCtx *ctx, ConfigFile *f) {
        Scope s = { .ctx = ctx, .file = f, .prefix = "" };
        Scope ds = { .ctx = ctx, .file = f, .prefix = "defaults: " };
        Node *root = f->root;

        if (!root)
                return;
        if (root->kind != NODE_MAPPING) {
                expand_node(&s, root);
                return;
        }
        root->walked = true;
        for (size_t i = 0; i + 1 < root->n_items; i += 2) {
                Node *k = root->items[i], *v = root->items[i + 1];

                if (!k->invalid && strcmp(k->value, "jobs") == 0 && v->kind == NODE_SEQUENCE &&
                    !v->walked) {
                        v->walked = true;
                        for (size_t j = 0; j < v->n_items; j++)
                                expand_job(ctx, f, v->items[j], j);
                } else if (!k->invalid && strcmp(k->value, "defaults") == 0)
                        expand_spec(&ds, v);
                else {
                        ctx->expanding_lease = !k->invalid && strcmp(k->value, "lease") == 0;
                        expand_node(&s, v);
                        ctx->expanding_lease = false;
                }
        }
}
