/* SPDX-License-Identifier: MIT */
/* The notifier: who hears of which event (notifier_event()), its counters, shutdown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "notifier_internal.h"
#include "testhook.h"

static const char *const channel_names[_NOTIFY_CHANNEL_MAX] = {
        [NOTIFY_CHANNEL_PING] = "ping",
        [NOTIFY_CHANNEL_WEBHOOK] = "webhook",
        [NOTIFY_CHANNEL_HOOK] = "hook",
};

const char *notify_channel_to_string(NotifyChannel c) {
        return c >= 0 && c < _NOTIFY_CHANNEL_MAX ? channel_names[c] : NULL;
}

/* The tests make a slow server's timeout and the retries short. */
static uint32_t test_value(const char *name, uint32_t dflt) {
        const char *v = test_hook_getenv(name);
        unsigned long x;
        char *end;

        if (!v || !*v)
                return dflt;
        errno = 0;
        x = strtoul(v, &end, 10);
        return errno || *end || x == 0 || x > 60000 ? dflt : (uint32_t) x;
}

Notifier *notifier_new(uv_loop_t *loop, const char *host, char *const *withheld) {
        Notifier *n = calloc(1, sizeof(Notifier));

        if (!n)
                return NULL;
        *n = (Notifier) { .loop = loop, .withheld = withheld, .host = strdup(host),
                          .timeout_ms = test_value("SOLOCRON_TEST_NOTIFY_TIMEOUT_MS",
                                                   NOTIFY_HTTP_TIMEOUT_MS),
                          .backoff_ms = test_value("SOLOCRON_TEST_NOTIFY_BACKOFF_MS",
                                                   NOTIFY_HTTP_BACKOFF_MS) };
        if (!n->host) {
                free(n);
                return NULL;
        }
        return n;
}

const NotifierStats *notifier_stats(const Notifier *n) {
        return &n->stats;
}

void notifier_count(Notifier *n, NotifyChannel c, bool delivered) {
        if (delivered)
                n->stats.delivered[c]++;
        else
                n->stats.failed[c]++;
}

bool notifier_busy(const Notifier *n) {
        return n && (n->n_pending > 0 || n->pending_closes > 0);
}

void notifier_check_idle(Notifier *n) {
        if (n->n_pending > 0 || n->pending_closes > 0)
                return;
        if (n->closing) {
                free(n->host);
                free(n);
                return;
        }
        if (n->idle)
                n->idle(n->idle_userdata);
}

void notifier_redact_url(const char *url, char *buf, size_t size) {
        const char *host = strstr(url, "://"), *end;

        host = host ? host + 3 : url;
        end = host + strcspn(host, "/?#");
        (void) snprintf(buf, size, "%.*s%s", (int) (end - url), url, *end ? "/…" : "");
}

size_t notifier_capture_size(const JobConfig *job) {
        return job->policy->notify ? CAPTURE_NOTIFY_MAX : 0;
}

static void notifier_ping(Notifier *n, const JobConfig *job, const NotifyFacts *f,
                          NotifyKind kind) {
        const char *suffix = kind == NOTIFY_START ? "/start" :
                             kind == NOTIFY_FAILURE ? "/fail" : "";
        _cleanup_free_ char *url = notify_ping_url(job->policy->notify->ping, job->name, suffix,
                                                   f->run_id);
        char *body = NULL;

        if (!url || (kind != NOTIFY_START && !(body = strdup(f->output)))) {
                notifier_count(n, NOTIFY_CHANNEL_PING, false);
                return;
        }
        notify_http_send(n, &(DeliveryRequest) {
                        .channel = NOTIFY_CHANNEL_PING, .job = job->name, .run_id = f->run_id,
                        .what = kind == NOTIFY_START ? "start" : kind == NOTIFY_FAILURE ? "fail"
                                                                                        : "success",
                        .url = url, .content_type = "text/plain; charset=utf-8",
                        .body = body, .body_size = body ? f->output_len : 0 });
}

static void notifier_webhook(Notifier *n, const JobConfig *job, const WebhookConfig *w,
                             const NotifyFacts *f) {
        _cleanup_free_ char *error = NULL;
        char signature[80], where[128];
        size_t size = 0;
        char *body;
        int r;

        body = w->format == WEBHOOK_SLACK ? notify_payload_slack(f, &size)
                                          : notify_payload_json(f, &size);
        if (!body) {
                notifier_count(n, NOTIFY_CHANNEL_WEBHOOK, false);
                return;
        }
        if (w->secret_file) {
                r = notify_payload_sign(w->secret_file, body, size, signature, &error);
                if (r < 0) {
                        notifier_redact_url(w->url, where, sizeof(where));
                        log_event(LOG_WARNING, "notify_failed", job->name, f->run_id,
                                  (LogKV[]) { { "channel", "webhook" },
                                              { "notification", f->event },
                                              { "url", where }, {} },
                                  "webhook %s to '%s' not sent: %s", f->event, where,
                                  error ?: strerror(-r));
                        notifier_count(n, NOTIFY_CHANNEL_WEBHOOK, false);
                        free(body);
                        return;
                }
        }
        notify_http_send(n, &(DeliveryRequest) {
                        .channel = NOTIFY_CHANNEL_WEBHOOK, .job = job->name, .run_id = f->run_id,
                        .what = f->event, .url = w->url, .content_type = "application/json",
                        .body = body, .body_size = size,
                        .signature = w->secret_file ? signature : NULL });
}

/* Which webhooks hear of which event. */
static bool webhook_wants(const WebhookConfig *w, const NotifyEvent *ev, bool failure) {
        switch (ev->kind) {
        case NOTIFY_SUCCESS:
                return (w->on & NOTIFY_ON_SUCCESS) ||
                       (ev->recovered && (w->on & NOTIFY_ON_RECOVERED));
        case NOTIFY_FAILURE:
                return failure && (w->on & NOTIFY_ON_FAILURE);
        case NOTIFY_MISSED:
                return w->on & NOTIFY_ON_MISSED;
        default:
                return false;
        }
}

/* One event's hold for two hooks: released when both are done with the job. */
typedef struct SharedHold {
        void *hold;
        void (*release)(void *hold);
        unsigned refs;
} SharedHold;

static void shared_hold_release(void *p) {
        SharedHold *s = p;

        if (--s->refs > 0)
                return;
        if (s->release)
                s->release(s->hold);
        free(s);
}

static int shared_hold_new(const NotifyEvent *ev, SharedHold **ret) {
        SharedHold *s = malloc(sizeof(SharedHold));

        if (!s)
                return -ENOMEM;
        *s = (SharedHold) { .hold = ev->hold, .release = ev->release, .refs = 2 };
        *ret = s;
        return 0;
}

void notifier_event(Notifier *n, const JobConfig *job, const NotifyEvent *ev) {
        const NotifyConfig *nc = job->policy->notify;
        const HookConfig *hook = NULL;
        HookKind hook_kind = HOOK_ON_FAILURE;
        SharedHold *shared;
        NotifyFacts f;
        bool failure;

        if (!n || !nc || n->closing)
                goto finish;
        if (notify_facts_init(&f, job->name, n->host, ev) < 0) {
                log_event(LOG_ERR, "notify_failed", job->name, ev->run_id, NULL,
                          "out of memory: no notifications for this event");
                goto finish;
        }
        /* A run solocron itself stopped (replace, shutdown, reload, lease lost) ends its ping,
         * but is no failure of the job's to hook or post about. */
        failure = ev->kind == NOTIFY_FAILURE && strcmp(ev->result, "terminated") != 0;

        if (nc->ping && (ev->kind == NOTIFY_START || ev->kind == NOTIFY_SUCCESS ||
                         ev->kind == NOTIFY_FAILURE))
                notifier_ping(n, job, &f, ev->kind);
        for (unsigned i = 0; i < nc->n_webhooks; i++)
                if (webhook_wants(&nc->webhooks[i], ev, failure))
                        notifier_webhook(n, job, &nc->webhooks[i], &f);

        switch (ev->kind) {
        case NOTIFY_SUCCESS:
                hook_kind = HOOK_ON_SUCCESS;
                hook = nc->hooks[HOOK_ON_SUCCESS];
                break;
        case NOTIFY_FAILURE:
                /* With every_attempt too: the earlier attempts had theirs as retries. */
                hook = failure ? nc->hooks[HOOK_ON_FAILURE] : NULL;
                break;
        case NOTIFY_MISSED:
                hook = nc->hooks[HOOK_ON_FAILURE];
                break;
        case NOTIFY_RETRY:
                /* on_retry, and on_failure with every_attempt: both, one after the other. */
                if (nc->hooks[HOOK_ON_FAILURE] && nc->hooks[HOOK_ON_FAILURE]->every_attempt) {
                        hook = nc->hooks[HOOK_ON_FAILURE];
                        if (nc->hooks[HOOK_ON_RETRY] && shared_hold_new(ev, &shared) >= 0) {
                                notify_hook_start(n, job, nc->hooks[HOOK_ON_RETRY], HOOK_ON_RETRY,
                                                  &f, shared, shared_hold_release);
                                notify_hook_start(n, job, hook, HOOK_ON_FAILURE, &f, shared,
                                                  shared_hold_release);
                                notify_facts_done(&f);
                                return;
                        }
                } else {
                        hook_kind = HOOK_ON_RETRY;
                        hook = nc->hooks[HOOK_ON_RETRY];
                }
                break;
        default:
                break;
        }
        if (hook) {
                notify_hook_start(n, job, hook, hook_kind, &f, ev->hold, ev->release);
                notify_facts_done(&f);
                return;
        }
        notify_facts_done(&f);
finish:
        if (ev->release)
                ev->release(ev->hold);
}

void notifier_stop(Notifier *n, void (*idle)(void *userdata), void *userdata) {
        if (!n)
                return;
        n->stopping = true;
        n->idle = idle;
        n->idle_userdata = userdata;
        notify_hook_stop(n);
        notify_http_stop(n);
}

void notifier_close(Notifier *n) {
        if (!n)
                return;
        n->closing = true;
        n->idle = NULL;
        notify_hook_close(n);
        notify_http_close(n);
        notifier_check_idle(n);         /* frees n when nothing is left */
}
