/* SPDX-License-Identifier: MIT */
#pragma once

/* Telling people about runs: a job's pings (healthchecks.io conventions), its webhooks (JSON
 * or Slack, optionally signed) and its hooks (on_failure, on_success, on_retry: commands run
 * like a job, with a timeout). core/ reports run events with notifier_event(); the notifier
 * decides from the job's NotifyConfig who hears of it, and delivers on the loop: HTTP through
 * one libcurl client (net/http.h) with a timeout and a few retries with backoff, hooks
 * through the spawner and the reaper. A delivery that fails is logged (event
 * "notify_failed") and counted (NotifierStats); it never fails or delays a job. Nothing runs
 * while nothing is being delivered: no timer, no handle (zero idle wakeups).
 *
 * The payloads (ping URLs, JSON fields, Slack's shape, the signature header, the hooks'
 * environment) are documented in solocron.yaml(5), NOTIFICATIONS. */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "capture.h"
#include "config.h"

typedef struct Notifier Notifier;

typedef enum NotifyKind {
        NOTIFY_START,           /* a run's first attempt started: ping URL/start */
        NOTIFY_SUCCESS,         /* the run succeeded: ping URL; on_success; webhooks with
                                 * success (or recovered, when .recovered) */
        NOTIFY_FAILURE,         /* the run failed, after its last attempt: ping URL/fail;
                                 * on_failure and failure webhooks, unless the result is
                                 * "terminated" (solocron stopped it: ping only) */
        NOTIFY_RETRY,           /* an attempt failed and will be retried: on_retry, and
                                 * on_failure with every_attempt */
        NOTIFY_MISSED,          /* a firing no replica ran (the fleet-wide alarm): missed
                                 * webhooks, on_failure with SOLOCRON_RESULT=missed; no ping */
        _NOTIFY_KIND_MAX,
} NotifyKind;

typedef struct NotifyEvent {
        NotifyKind kind;
        const char *run_id;     /* NULL: missed (no run) */
        const char *result;     /* "succeeded", "failed", "timed_out", "signal", "terminated",
                                 * "missed" */
        int64_t exit_status;    /* -1: none (a signal, missed, could not start) */
        int term_signal;        /* 0: none */
        int64_t duration_usec;  /* the run's so far (all attempts); 0 for missed */
        unsigned attempt;       /* 1-based; 0 for missed */
        int64_t scheduled;      /* the firing's instant, Unix seconds */
        bool recovered;         /* NOTIFY_SUCCESS: the first success after failures */
        const Capture *output;  /* the run's output tail, or NULL; copied during the call */
        /* job must stay valid until release(hold) is called, which the notifier does once
         * (during the call, or later when a hook has started). core/ passes a reference
         * of the table job is in. release NULL: job outlives the Notifier. */
        void *hold;
        void (*release)(void *hold);
} NotifyEvent;

typedef enum NotifyChannel {
        NOTIFY_CHANNEL_PING,
        NOTIFY_CHANNEL_WEBHOOK,
        NOTIFY_CHANNEL_HOOK,
        _NOTIFY_CHANNEL_MAX,
} NotifyChannel;

typedef struct NotifierStats {  /* since the daemon started, for /metrics */
        uint64_t delivered[_NOTIFY_CHANNEL_MAX]; /* a hook: exited 0 */
        uint64_t failed[_NOTIFY_CHANNEL_MAX];    /* given up (logged); a hook: any other end */
} NotifierStats;

#define NOTIFY_HTTP_TIMEOUT_MS  10000   /* one request */
#define NOTIFY_HTTP_TRIES       4       /* the first and 3 retries, 1 s, 2 s, 4 s apart */
#define NOTIFY_HTTP_BACKOFF_MS  1000
#define NOTIFY_MAX_PENDING      1000    /* deliveries and hooks at once; more are dropped */
#define NOTIFY_STOP_KILL_MSEC   5000    /* shutdown: SIGTERM to hooks, SIGKILL after this */

/* host: this replica's name (copied); withheld: what jobs do not get of the daemon's
 * environment (borrowed: spawn_build_env()). NULL when out of memory. */
Notifier *notifier_new(uv_loop_t *loop, const char *host, char *const *withheld);
/* An event of job's (see NotifyKind for who hears of which). Never fails: what cannot be
 * delivered is logged and counted. n may be NULL (then only release(hold) happens). */
void notifier_event(Notifier *n, const JobConfig *job, const NotifyEvent *ev);
/* Does the job want its output captured (a ping, a webhook or a hook)? The most it needs. */
size_t notifier_capture_size(const JobConfig *job);
/* Deliveries in flight or waiting to retry, or hooks running. */
bool notifier_busy(const Notifier *n);
/* Shutdown begins: no new hooks; hooks get SIGTERM, SIGKILL after NOTIFY_STOP_KILL_MSEC;
 * deliveries waiting to retry are tried once more at once, new ones once. idle(userdata)
 * runs (from the loop) each time the notifier becomes idle afterwards. */
void notifier_stop(Notifier *n, void (*idle)(void *userdata), void *userdata);
/* Cancel what is left, close the HTTP client and every handle; the Notifier is freed when
 * the last one has closed (run the loop). NULL is fine. */
void notifier_close(Notifier *n);
const NotifierStats *notifier_stats(const Notifier *n);
const char *notify_channel_to_string(NotifyChannel c);
