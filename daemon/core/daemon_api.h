/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the core's API files only:
 *   daemon_api.c        the server's start, the routes, health, metrics, reload
 *   daemon_api_jobs.c   the jobs as JSON (/v1/jobs), with the store's pauses
 *   daemon_api_runs.c   the fleet's history, manual runs, pause and resume
 * An answer that waits (for the store, or a run) holds an ApiWait: its exchange is NULL
 * once the client has gone, and then nothing is answered. A store's answer may come while
 * the daemon shuts down, after the jobs are freed: with the exchange gone, an answer touches
 * nothing but its ApiWait. */

#include <jansson.h>
#include <stdbool.h>

#include "api_server.h"
#include "daemon_internal.h"

typedef struct ApiWait {
        Daemon *d;
        ApiExchange *x;         /* NULL: the client went away */
} ApiWait;

/* An ApiWait of size bytes (a struct that starts with one), zeroed, for x. NULL (and a 500
 * answered) when out of memory. */
void *api_wait_new(Daemon *d, ApiExchange *x, size_t size);
/* Answer doc (taken) as JSON, or 500 when doc is NULL; nothing when x is NULL. */
void reply_json(ApiExchange *x, int status, json_t *doc);
void reply_error(ApiExchange *x, int status, const char *message);
/* Unix seconds as RFC 3339 UTC, null for 0. */
json_t *json_time(int64_t t);

/* daemon_api_jobs.c: GET /v1/jobs (name NULL) and /v1/jobs/NAME. */
void endpoint_jobs(Daemon *d, ApiExchange *x, const char *name);
/* daemon_api_runs.c */
void endpoint_job_runs(Daemon *d, ApiExchange *x, Job *j, const char *query);
void endpoint_job_run(Daemon *d, ApiExchange *x, Job *j, const ApiRequest *req);
void endpoint_job_pause(Daemon *d, ApiExchange *x, Job *j, bool pause);
