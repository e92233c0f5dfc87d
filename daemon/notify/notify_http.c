/* SPDX-License-Identifier: MIT */
/* Pings and webhooks: one POST each, through the notifier's HTTP client, made on first use.
 * A delivery is tried NOTIFY_HTTP_TRIES times (a connection error, a timeout, a 5xx, 408 or
 * 429 is tried again after 1 s, 2 s, 4 s; any other status is final), then logged as
 * failed ("notify_failed") and counted. Its timer runs only while it waits to retry.
 * A run's end ping waits until its start ping is over (delivered or given up): sent at once,
 * the end of a short run could overtake its start, and the service would see it running. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "notifier_internal.h"
#include "strv.h"

struct Delivery {
        Notifier *n;            /* the owner */
        Delivery *prev, *next;  /* n->deliveries */
        NotifyChannel channel;
        char *job, *run_id, *what;
        char *url;
        char *headers[5];       /* "Name: value", NULL-terminated */
        char *body;
        size_t body_size;
        unsigned tries;         /* made so far */
        HttpTransfer *transfer; /* in flight, or NULL */
        uv_timer_t timer;       /* the wait before a retry */
        bool waiting;           /* the timer is armed */
        bool held;              /* an end ping not tried yet: its run's start ping is not over */
        char last_error[160];
};

static void delivery_on_timer_closed(uv_handle_t *h) {
        Delivery *d = h->data;
        Notifier *n = d->n;

        free(d->job);
        free(d->run_id);
        free(d->what);
        free(d->url);
        for (size_t i = 0; d->headers[i]; i++)
                free(d->headers[i]);
        free(d->body);
        free(d);
        n->pending_closes--;
        notifier_check_idle(n);
}

static void delivery_try(Delivery *d);

static bool is_start_ping(const Delivery *d) {
        return d->channel == NOTIFY_CHANNEL_PING && d->run_id && strcmp(d->what, "start") == 0;
}

/* The start ping of d's run, still pending; or NULL. */
static Delivery *start_ping_of(Notifier *n, const Delivery *d) {
        if (d->channel != NOTIFY_CHANNEL_PING || !d->run_id)
                return NULL;
        for (Delivery *e = n->deliveries; e; e = e->next)
                if (e != d && is_start_ping(e) && strcmp(e->run_id, d->run_id) == 0 &&
                    strcmp(e->job, d->job) == 0)
                        return e;
        return NULL;
}

/* start, a start ping, is over: the end ping that waited for it goes. */
static void start_ping_over(Notifier *n, const Delivery *start) {
        for (Delivery *e = n->deliveries; e; e = e->next)
                if (e->held && strcmp(e->run_id, start->run_id) == 0 &&
                    strcmp(e->job, start->job) == 0) {
                        e->held = false;
                        delivery_try(e);
                        return;         /* one end per run */
                }
}

/* Over, delivered or not. */
static void delivery_end(Delivery *d, bool delivered) {
        Notifier *n = d->n;
        char where[128];

        if (!delivered) {
                notifier_redact_url(d->url, where, sizeof(where));
                log_event(LOG_WARNING, "notify_failed", d->job, d->run_id,
                          (LogKV[]) { { "channel", notify_channel_to_string(d->channel) },
                                      { "notification", d->what }, { "url", where }, {} },
                          "%s %s to '%s' not delivered after %u tr%s: %s",
                          notify_channel_to_string(d->channel), d->what, where, d->tries,
                          d->tries == 1 ? "y" : "ies", d->last_error);
        }
        notifier_count(n, d->channel, delivered);
        LIST_UNLINK(n->deliveries, d);
        n->n_pending--;
        n->pending_closes++;
        uv_close((uv_handle_t *) &d->timer, delivery_on_timer_closed);
        if (is_start_ping(d) && !n->closing)
                start_ping_over(n, d);
}

static void delivery_on_timer(uv_timer_t *t) {
        Delivery *d = t->data;

        d->waiting = false;
        delivery_try(d);
}

static bool status_retryable(long status) {
        return status >= 500 || status == 408 || status == 429;
}

static void delivery_on_done(HttpResponse *resp, void *userdata) {
        Delivery *d = userdata;
        Notifier *n = d->n;
        uint64_t wait;

        d->transfer = NULL;
        if (resp->error == 0 && resp->status >= 200 && resp->status < 300) {
                delivery_end(d, true);
                return;
        }
        if (resp->error < 0)
                (void) snprintf(d->last_error, sizeof(d->last_error), "%s",
                                resp->message ? resp->message : strerror(-resp->error));
        else
                (void) snprintf(d->last_error, sizeof(d->last_error), "HTTP status %ld",
                                resp->status);
        /* Stopping: no retry (what waited for one was tried once more at the stop). */
        if (resp->error == -ECANCELED || n->closing || n->stopping ||
            d->tries >= NOTIFY_HTTP_TRIES ||
            (resp->error == 0 && !status_retryable(resp->status))) {
                delivery_end(d, false);
                return;
        }
        wait = (uint64_t) n->backoff_ms << (d->tries - 1);
        d->waiting = true;
        (void) uv_timer_start(&d->timer, delivery_on_timer, wait, 0);
}

static void delivery_try(Delivery *d) {
        Notifier *n = d->n;
        int r;

        if (!n->http) {
                n->http = http_client_new(n->loop);
                if (!n->http) {
                        (void) snprintf(d->last_error, sizeof(d->last_error),
                                        "cannot make an HTTP client: %s", strerror(errno));
                        delivery_end(d, false);
                        return;
                }
        }
        d->tries++;
        r = http_request_start(n->http, &(HttpRequest) {
                        .method = HTTP_POST, .url = d->url,
                        .headers = (const char *const *) d->headers,
                        .body = d->body ?: "", .body_size = d->body_size, .body_borrowed = true,
                        .timeout_ms = n->timeout_ms,
                        .max_body = 64 * 1024,
                        .done = delivery_on_done, .userdata = d }, &d->transfer);
        if (r < 0) {
                (void) snprintf(d->last_error, sizeof(d->last_error), "%s", strerror(-r));
                delivery_end(d, false);
        }
}

void notify_http_send(Notifier *n, DeliveryRequest *req) {
        _cleanup_free_ char *body = TAKE_PTR(req->body);
        Delivery *d;
        size_t h = 0;
        bool oom;

        if (n->closing)
                return;
        if (n->n_pending >= NOTIFY_MAX_PENDING) {
                log_event(LOG_WARNING, "notify_failed", req->job, req->run_id,
                          (LogKV[]) { { "channel", notify_channel_to_string(req->channel) },
                                      { "notification", req->what }, {} },
                          "%s %s dropped: %u notifications are pending already",
                          notify_channel_to_string(req->channel), req->what, n->n_pending);
                notifier_count(n, req->channel, false);
                return;
        }
        d = calloc(1, sizeof(Delivery));
        if (!d) {
                notifier_count(n, req->channel, false);
                return;
        }
        *d = (Delivery) { .n = n, .channel = req->channel, .body = TAKE_PTR(body),
                          .body_size = req->body_size };
        d->job = strdup(req->job);
        d->run_id = req->run_id ? strdup(req->run_id) : NULL;
        d->what = strdup(req->what);
        d->url = strdup(req->url);
        oom = !d->job || (req->run_id && !d->run_id) || !d->what || !d->url;
        if (!oom && asprintf(&d->headers[h++], "Content-Type: %s", req->content_type) < 0)
                oom = true, h--;
        if (!oom && asprintf(&d->headers[h++], "User-Agent: solocron") < 0)
                oom = true, h--;
        if (!oom && req->channel == NOTIFY_CHANNEL_WEBHOOK &&
            asprintf(&d->headers[h++], "X-Solocron-Event: %s", req->what) < 0)
                oom = true, h--;
        if (!oom && req->signature &&
            asprintf(&d->headers[h++], "X-Solocron-Signature-256: %s", req->signature) < 0)
                oom = true, h--;
        d->headers[h] = NULL;
        (void) uv_timer_init(n->loop, &d->timer);
        d->timer.data = d;
        LIST_PREPEND(n->deliveries, d);
        n->n_pending++;
        if (oom) {
                (void) snprintf(d->last_error, sizeof(d->last_error), "out of memory");
                delivery_end(d, false);
                return;
        }
        d->held = start_ping_of(n, d) != NULL;
        if (!d->held)
                delivery_try(d);
}

/* Shutdown: what waits to retry is tried once more, now. */
void notify_http_stop(Notifier *n) {
        for (Delivery *d = n->deliveries, *next; d; d = next) {
                next = d->next;
                if (!d->waiting)
                        continue;
                (void) uv_timer_stop(&d->timer);
                d->waiting = false;
                d->tries = NOTIFY_HTTP_TRIES - 1;
                delivery_try(d);
        }
}

static void notify_http_on_client_closed(void *userdata) {
        Notifier *n = userdata;

        n->pending_closes--;
        notifier_check_idle(n);
}

/* Give up on everything: transfers are cancelled (their done ends them), waits end now. */
void notify_http_close(Notifier *n) {
        for (Delivery *d = n->deliveries, *next; d; d = next) {
                next = d->next;
                if (d->waiting || d->held) {
                        (void) uv_timer_stop(&d->timer);
                        d->waiting = false;
                        (void) snprintf(d->last_error, sizeof(d->last_error),
                                        "the daemon stopped");
                        delivery_end(d, false);
                }
        }
        if (n->http) {
                n->pending_closes++;
                http_client_close(n->http, notify_http_on_client_closed, n);
                n->http = NULL;
        }
}
