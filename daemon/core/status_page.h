/* SPDX-License-Identifier: MIT */
#pragma once

/* GET / (and HEAD): the status page, an HTML page for people, with the jobs table rendered
 * in so that it reads without JavaScript. */

typedef struct ApiExchange ApiExchange;         /* api_server.h */
typedef struct Daemon Daemon;                   /* daemon_internal.h */

/* Answer x with the page and its Content-Security-Policy. */
void status_page_respond(Daemon *d, ApiExchange *x);
