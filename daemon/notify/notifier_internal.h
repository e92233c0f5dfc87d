/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the notifier's files only: notifier.c (events, the object, shutdown),
 * notify_http.c (pings and webhooks), notify_hook.c (hooks), notify_payload.c (what is
 * sent). */

#include "http.h"
#include "list.h"
#include "notifier.h"
#include "output.h"
#include "reaper.h"
#include "spawner.h"

typedef struct Delivery Delivery;
typedef struct Hook Hook;

struct Notifier {
        uv_loop_t *loop;
        char *host;             /* owned */
        char *const *withheld;  /* borrowed from the daemon */
        HttpClient *http;       /* owned; NULL until the first HTTP delivery */
        Delivery *deliveries;   /* owned: in flight or waiting to retry */
        Hook *hooks;            /* owned: starting or running */
        unsigned n_pending;     /* deliveries + hooks, <= NOTIFY_MAX_PENDING */
        NotifierStats stats;
        uint32_t timeout_ms;    /* NOTIFY_HTTP_TIMEOUT_MS (SOLOCRON_TEST_NOTIFY_TIMEOUT_MS) */
        uint32_t backoff_ms;    /* NOTIFY_HTTP_BACKOFF_MS (SOLOCRON_TEST_NOTIFY_BACKOFF_MS) */
        bool stopping;
        bool closing;           /* notifier_close(): freed when pending_closes reaches 0 */
        unsigned pending_closes;
        void (*idle)(void *userdata);
        void *idle_userdata;
};

/* What an event says, copied once for every delivery it makes (notify_payload.c). */
typedef struct NotifyFacts {
        const char *event;      /* "start", "success", "failure", "retry", "missed",
                                 * "recovered" */
        const char *job;        /* borrowed for the call */
        const char *host;
        const char *run_id;     /* or NULL */
        const char *result;
        int64_t exit_status;    /* -1: none */
        int term_signal;
        int64_t duration_usec;
        unsigned attempt;
        int64_t scheduled;
        char *output;           /* owned: the last CAPTURE_NOTIFY_MAX bytes, NUL-terminated */
        size_t output_len;
        uint64_t output_dropped; /* bytes before the tail, not sent */
} NotifyFacts;

/* notifier.c */
void notifier_count(Notifier *n, NotifyChannel c, bool delivered);
/* A delivery or hook has ended: tell the owner when the notifier is idle now. */
void notifier_check_idle(Notifier *n);
/* "https://host/…": a URL without its path and query, for the log (a Slack webhook's or a
 * ping's path is its secret). */
void notifier_redact_url(const char *url, char *buf, size_t size);

/* notify_http.c */
typedef struct DeliveryRequest {
        NotifyChannel channel;
        const char *job, *run_id, *what;        /* for the log: what = "start", "failure"… */
        const char *url;
        const char *content_type;
        char *body;             /* taken (freed by the delivery) */
        size_t body_size;
        const char *signature;  /* "sha256=HEX" or NULL */
} DeliveryRequest;
/* Start delivering (taking req->body); failures are logged and counted. */
void notify_http_send(Notifier *n, DeliveryRequest *req);
void notify_http_stop(Notifier *n);
void notify_http_close(Notifier *n);

/* notify_hook.c */
void notify_hook_start(Notifier *n, const JobConfig *job, const HookConfig *h, HookKind kind,
                       const NotifyFacts *f, void *hold, void (*release)(void *hold));
void notify_hook_stop(Notifier *n);
void notify_hook_close(Notifier *n);

/* notify_payload.c */
/* facts from ev; -ENOMEM. notify_facts_done() frees what it copied. */
int notify_facts_init(NotifyFacts *f, const char *job, const char *host, const NotifyEvent *ev);
void notify_facts_done(NotifyFacts *f);
/* The webhook bodies; NULL when out of memory. */
char *notify_payload_json(const NotifyFacts *f, size_t *ret_size);
char *notify_payload_slack(const NotifyFacts *f, size_t *ret_size);
/* "sha256=" + hex HMAC-SHA256 of body with the first line of secret_file as the key, into
 * buf (at least 72 bytes). -errno with *reterr_message (caller frees). */
int notify_payload_sign(const char *secret_file, const void *body, size_t size, char *buf,
                        char **reterr_message);
/* "1.503" */
void notify_format_seconds(int64_t usec, char buf[static 32]);
