/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "secretfile.h"
#include "strv.h"

/* Who is told of a job's runs: `ping:`, `notify:` (webhooks), `on_failure:`, `on_success:`,
 * `on_retry:` (hooks), in a job or in `defaults:`. Each key of a job replaces the defaults'
 * one as a whole; `~` (null) says "none" and so turns a default off. The settings of a job
 * are interned in the Config (Config.notifies): most tables have one or a few. */

static const char *const notify_on_names[] = { "failure", "missed", "recovered", "success" };
static const char *const webhook_format_names[_WEBHOOK_FORMAT_MAX] = { "json", "slack" };
static const char *const webhook_keys[] = { "url", "on", "format", "secret_file" };
static const char *const hook_keys[] = { "command", "timeout", "every_attempt" };
static const char *const hook_names[_HOOK_KIND_MAX] = { "on_failure", "on_success", "on_retry" };

#define MARK(j, field) ((j)->set |= UINT32_C(1) << (field))

const char *notify_on_to_string(NotifyOn on) {
        for (size_t i = 0; i < ELEMENTSOF(notify_on_names); i++)
                if (on == 1u << i)
                        return notify_on_names[i];
        return NULL;
}

char *notify_ping_url(const char *tmpl, const char *name, const char *suffix, const char *run) {
        size_t n = strlen(tmpl) + strlen(suffix) + (run ? strlen(run) + 5 : 0) + 1, k = 0;
        char *out;

        for (const char *p = tmpl; (p = strstr(p, "${JOB}")); p += 6)
                n += strlen(name);
        out = malloc(n);
        if (!out)
                return NULL;
        for (const char *p = tmpl; *p;) {
                if (strncmp(p, "${JOB}", 6) == 0) {
                        k += (size_t) sprintf(out + k, "%s", name);
                        p += 6;
                } else
                        out[k++] = *p++;
        }
        /* "https://hc-ping.com/UUID/" + "/start": one slash */
        if (*suffix == '/' && k > 0 && out[k - 1] == '/')
                suffix++;
        k += (size_t) sprintf(out + k, "%s", suffix);
        if (run)
                (void) sprintf(out + k, "?rid=%s", run);
        return out;
}

/* An http:// or https:// URL with a host and nothing a request line cannot carry. */
static int check_url(const Scope *s, const Node *v, const char *key, const char *t, bool ping) {
        const char *host;

        if (strncasecmp(t, "http://", 7) == 0)
                host = t + 7;
        else if (strncasecmp(t, "https://", 8) == 0)
                host = t + 8;
        else {
                config_error(s, v, "'%s' must be an http:// or https:// URL, not '%.80s'", key, t);
                return -EINVAL;
        }
        if (*host == '\0' || *host == '/' || *host == '?' || *host == '#') {
                config_error(s, v, "'%s' has no host: '%.80s'", key, t);
                return -EINVAL;
        }
        for (const char *p = t; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f) {
                        config_error(s, v, "'%s' must not contain blanks or control characters "
                                     "(percent-encode them: %%20 for a space)", key);
                        return -EINVAL;
                }
        if (ping && strpbrk(t, "?#")) {
                config_error(s, v, "'ping' must not have a query or a fragment ('%.80s'): "
                             "solocron adds /start, /fail and ?rid=RUN_ID to it", t);
                return -EINVAL;
        }
        return 0;
}

void config_spec_ping(const Scope *s, const Node *v, JobSpec *j) {
        const char *t;

        if (v->invalid) {
                j->failed = true;
                return;
        }
        if (v->is_null) {
                j->ping = NULL;
                MARK(j, JOB_FIELD_PING);
                return;
        }
        if (config_get_string(s, v, "ping", &t) < 0 || check_url(s, v, "ping", t, true) < 0) {
                j->failed = true;
                return;
        }
        j->ping = t;
        MARK(j, JOB_FIELD_PING);
}

static int spec_notify_on(const Scope *s, const Node *v, NotifyOn *ret) {
        const Node *const *items = &v;
        NotifyOn mask = 0;
        size_t n = 1;
        bool bad = false;

        if (v->kind == NODE_SEQUENCE) {
                items = (const Node *const *) v->items;
                n = v->n_items;
                if (n == 0) {
                        config_error(s, v, "'notify[].on' must not be empty; leave it out for "
                                     "the default [failure, missed, recovered]");
                        return -EINVAL;
                }
        } else if (v->invalid || !config_node_is_string(v))
                return config_type_error(s, v, "notify[].on", "a string or a sequence of strings");
        for (size_t i = 0; i < n; i++) {
                int k;

                if (config_get_enum(s, items[i], "notify[].on", "notify event", notify_on_names,
                                    ELEMENTSOF(notify_on_names), &k) < 0)
                        bad = true;
                else
                        mask |= 1u << k;
        }
        if (bad)
                return -EINVAL;
        *ret = mask;
        return 0;
}

static int spec_secret_file(const Scope *s, const Node *v, const char **ret) {
        _cleanup_free_ char *secret = NULL, *error = NULL;
        const char *t;
        int r;

        r = config_get_string(s, v, "notify[].secret_file", &t);
        if (r < 0)
                return r;
        if (t[0] != '/') {
                config_error(s, v, "'secret_file' must be an absolute path, not '%s'", t);
                return -EINVAL;
        }
        /* Read now, so that `solocron check` and a reload say what is wrong with it; read
         * again for every delivery (a rotated secret needs no reload). */
        r = secret_file_read(t, "notify secret_file", &secret, &error);
        if (r == -ENOMEM) {
                s->ctx->oom = true;
                return r;
        }
        if (r < 0) {
                config_error(s, v, "%s", error ? error : strerror(-r));
                return r;
        }
        *ret = t;
        return 0;
}

static int spec_webhook(const Scope *s, const Node *m, WebhookSpec *ret) {
        WebhookSpec w = { .on = NOTIFY_ON_DEFAULT, .format = WEBHOOK_JSON };
        bool bad = false;

        if (m->kind != NODE_MAPPING) {
                (void) config_type_error(s, m, "notify[]",
                                         "a mapping (url, on, format, secret_file)");
                return -EINVAL;
        }
        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                const Node *k = m->items[i], *x = m->items[i + 1];
                const char *t;
                int f;

                if (k->invalid)
                        continue;
                if (strcmp(k->value, "url") == 0) {
                        if (config_get_string(s, x, "notify[].url", &t) < 0 ||
                            check_url(s, x, "notify[].url", t, false) < 0)
                                bad = true;
                        else
                                w.url = t;
                } else if (strcmp(k->value, "on") == 0) {
                        if (spec_notify_on(s, x, &w.on) < 0)
                                bad = true;
                } else if (strcmp(k->value, "format") == 0) {
                        if (config_get_enum(s, x, "notify[].format", "webhook format",
                                            webhook_format_names, _WEBHOOK_FORMAT_MAX, &f) < 0)
                                bad = true;
                        else
                                w.format = (WebhookFormat) f;
                } else if (strcmp(k->value, "secret_file") == 0) {
                        if (spec_secret_file(s, x, &w.secret_file) < 0)
                                bad = true;
                } else {
                        config_unknown_key(s, k, "notify[]", webhook_keys,
                                           ELEMENTSOF(webhook_keys));
                        bad = true;
                }
        }
        if (!w.url && !bad) {
                config_error(s, m, "a 'notify' entry needs a 'url'");
                bad = true;
        }
        if (bad)
                return -EINVAL;
        *ret = w;
        return 0;
}

void config_spec_notify(const Scope *s, const Node *v, JobSpec *j) {
        bool bad = false;

        if (v->invalid) {
                j->failed = true;
                return;
        }
        j->webhooks = mfree(j->webhooks);
        j->n_webhooks = 0;
        if (v->is_null) {
                MARK(j, JOB_FIELD_NOTIFY);
                return;
        }
        if (v->kind != NODE_SEQUENCE) {
                (void) config_type_error(s, v, "notify", "a sequence of webhooks "
                                         "([{url: …, on: [failure], format: json}])");
                j->failed = true;
                return;
        }
        if (v->n_items > NOTIFY_MAX_WEBHOOKS) {
                config_error(s, v, "too many webhooks in 'notify' (more than %u)",
                             NOTIFY_MAX_WEBHOOKS);
                j->failed = true;
                return;
        }
        j->webhooks = calloc(v->n_items + 1, sizeof(WebhookSpec));
        if (!j->webhooks) {
                s->ctx->oom = true;
                j->failed = true;
                return;
        }
        for (size_t i = 0; i < v->n_items; i++)
                if (spec_webhook(s, v->items[i], &j->webhooks[j->n_webhooks]) < 0)
                        bad = true;
                else
                        j->n_webhooks++;
        if (bad) {
                j->failed = true;
                return;
        }
        MARK(j, JOB_FIELD_NOTIFY);
}

void config_spec_hook(const Scope *s, const Node *v, HookKind kind, JobSpec *j) {
        HookSpec h = { .timeout = NOTIFY_HOOK_TIMEOUT_DEFAULT };
        const char *key = hook_names[kind];
        const Node *command = v;
        bool bad = false;

        if (v->invalid) {
                j->failed = true;
                return;
        }
        free(j->hooks[kind].argv);
        j->hooks[kind] = (HookSpec) {};
        if (v->is_null) {
                MARK(j, JOB_FIELD_ON_FAILURE + kind);
                return;
        }
        if (v->kind == NODE_MAPPING) {
                command = NULL;
                for (size_t i = 0; i + 1 < v->n_items; i += 2) {
                        const Node *k = v->items[i], *x = v->items[i + 1];
                        char name[48];

                        if (k->invalid)
                                continue;
                        (void) snprintf(name, sizeof(name), "%s.%s", key, k->value);
                        if (strcmp(k->value, "command") == 0)
                                command = x;
                        else if (strcmp(k->value, "timeout") == 0) {
                                if (config_get_duration(s, x, name, false, &h.timeout) < 0)
                                        bad = true;
                                else if (h.timeout == 0) {
                                        config_error(s, x, "'%s' must be more than 0: a hook "
                                                     "that hangs is killed at its timeout",
                                                     name);
                                        bad = true;
                                }
                        } else if (strcmp(k->value, "every_attempt") == 0 &&
                                   kind == HOOK_ON_FAILURE) {
                                if (config_get_bool(s, x, name, &h.every_attempt) < 0)
                                        bad = true;
                        } else if (strcmp(k->value, "every_attempt") == 0) {
                                config_error(s, k, "'every_attempt' is for 'on_failure' only "
                                             "('%s' runs %s)", key, kind == HOOK_ON_RETRY ?
                                             "after every attempt that is retried" :
                                             "once per successful firing");
                                bad = true;
                        } else {
                                config_unknown_key(s, k, key, hook_keys,
                                                   kind == HOOK_ON_FAILURE ? 3 : 2);
                                bad = true;
                        }
                }
                if (!command && !bad) {
                        config_error(s, v, "'%s' needs a 'command'", key);
                        bad = true;
                }
        } else if (!config_node_is_string(v) && v->kind != NODE_SEQUENCE) {
                char expected[96];

                (void) snprintf(expected, sizeof(expected), "a command (a string or a sequence "
                                "of strings) or a mapping with 'command'");
                (void) config_type_error(s, v, key, expected);
                bad = true;
        }
        if (command && config_get_command(s, command, &h.argv, &h.shell) < 0)
                bad = true;
        if (bad) {
                free(h.argv);
                j->failed = true;
                return;
        }
        j->hooks[kind] = h;
        MARK(j, JOB_FIELD_ON_FAILURE + kind);
}

void config_notify_spec_done(JobSpec *j) {
        free(j->webhooks);
        for (size_t k = 0; k < _HOOK_KIND_MAX; k++)
                free(j->hooks[k].argv);
}

/* --- the built settings, interned ----------------------------------------------------- */

void config_notify_free(NotifyConfig *n) {
        if (!n)
                return;
        free(n->ping);
        for (size_t i = 0; i < n->n_webhooks; i++) {
                free(n->webhooks[i].url);
                free(n->webhooks[i].secret_file);
        }
        free(n->webhooks);
        for (size_t k = 0; k < _HOOK_KIND_MAX; k++)
                if (n->hooks[k]) {
                        free(n->hooks[k]->argv);
                        free(n->hooks[k]);
                }
        free(n);
}

static bool str_equal(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

static bool notify_equal(const NotifyConfig *a, const NotifyConfig *b) {
        if (!str_equal(a->ping, b->ping) || a->n_webhooks != b->n_webhooks)
                return false;
        for (size_t i = 0; i < a->n_webhooks; i++) {
                const WebhookConfig *x = &a->webhooks[i], *y = &b->webhooks[i];

                if (!str_equal(x->url, y->url) || !str_equal(x->secret_file, y->secret_file) ||
                    x->on != y->on || x->format != y->format)
                        return false;
        }
        for (size_t k = 0; k < _HOOK_KIND_MAX; k++) {
                const HookConfig *x = a->hooks[k], *y = b->hooks[k];

                if (!x != !y)
                        return false;
                if (x && (!strv_equal(x->argv, y->argv) || x->timeout != y->timeout ||
                          x->shell != y->shell || x->every_attempt != y->every_attempt))
                        return false;
        }
        return true;
}

static bool has(const JobSpec *j, JobField f) {
        return j->set & (UINT32_C(1) << f);
}

static char *dup_or_null(const char *s, bool *oom) {
        char *c = s ? strdup(s) : NULL;

        if (s && !c)
                *oom = true;
        return c;
}

int config_notify_build(ConfigCtx *ctx, const JobSpec *d, const JobSpec *j,
                        const NotifyConfig **ret) {
        const JobSpec *wsrc = has(j, JOB_FIELD_NOTIFY) ? j : d;
        NotifyConfig *n, **l;
        bool oom = false, any;

        /* Most jobs have none: nothing to allocate. */
        any = (has(j, JOB_FIELD_PING) ? j->ping : d->ping) || wsrc->n_webhooks > 0;
        for (size_t k = 0; k < _HOOK_KIND_MAX; k++)
                any = any || (has(j, JOB_FIELD_ON_FAILURE + k) ? &j->hooks[k] : &d->hooks[k])->argv;
        if (!any) {
                *ret = NULL;
                return 0;
        }
        n = calloc(1, sizeof(NotifyConfig));
        if (!n)
                return -ENOMEM;
        n->ping = dup_or_null(has(j, JOB_FIELD_PING) ? j->ping : d->ping, &oom);
        any = n->ping;
        if (wsrc->n_webhooks > 0) {
                n->webhooks = calloc(wsrc->n_webhooks, sizeof(WebhookConfig));
                if (!n->webhooks)
                        oom = true;
                for (size_t i = 0; n->webhooks && i < wsrc->n_webhooks; i++) {
                        const WebhookSpec *w = &wsrc->webhooks[i];

                        n->webhooks[i] = (WebhookConfig) {
                                .url = dup_or_null(w->url, &oom),
                                .secret_file = dup_or_null(w->secret_file, &oom),
                                .on = w->on, .format = w->format };
                        n->n_webhooks++;
                }
                any = true;
        }
        for (size_t k = 0; k < _HOOK_KIND_MAX; k++) {
                const HookSpec *h = has(j, JOB_FIELD_ON_FAILURE + k) ? &j->hooks[k] : &d->hooks[k];

                if (!h->argv)
                        continue;
                any = true;
                n->hooks[k] = malloc(sizeof(HookConfig));
                if (!n->hooks[k]) {
                        oom = true;
                        continue;
                }
                *n->hooks[k] = (HookConfig) { .argv = strv_pack(h->argv), .timeout = h->timeout,
                                              .shell = h->shell,
                                              .every_attempt = h->every_attempt };
                if (!n->hooks[k]->argv)
                        oom = true;
        }
        if (oom || !any) {
                config_notify_free(n);
                if (oom)
                        return -ENOMEM;
                *ret = NULL;
                return 0;
        }
        for (size_t i = ctx->config->n_notifies; i-- > 0;)
                if (notify_equal(ctx->config->notifies[i], n)) {
                        config_notify_free(n);
                        *ret = ctx->config->notifies[i];
                        return 0;
                }
        l = reallocarray(ctx->config->notifies, ctx->config->n_notifies + 1,
                         sizeof(NotifyConfig *));
        if (!l) {
                config_notify_free(n);
                return -ENOMEM;
        }
        ctx->config->notifies = l;
        l[ctx->config->n_notifies++] = n;
        *ret = n;
        return 0;
}
