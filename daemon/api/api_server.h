/* SPDX-License-Identifier: MIT */
#pragma once

/* The API's HTTP/1.1 server on the loop: a TCP listener and/or a unix socket, requests
 * parsed by libhttp-parser, keep-alive, bounded sizes and times, a cap on connections, the
 * bearer token. It knows no endpoint: every request that passes its checks goes to the
 * owner's api_request_cb, which answers now or later with api_respond(). A slow, oversized
 * or malformed client gets its 4xx (or 408) and never blocks the loop. Never logs. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#define API_MAX_CONNECTIONS     256
#define API_MAX_HEAD            (8 * 1024)      /* request line and headers */
#define API_MAX_BODY            (64 * 1024)
#define API_HEAD_TIMEOUT_MSEC   10000   /* a request must arrive whole within this */
#define API_IDLE_TIMEOUT_MSEC   60000   /* a kept-alive connection may idle this long */

typedef struct ApiServerConfig {        /* borrowed; copied by api_server_new() */
        const char *listen;             /* "127.0.0.1:9750", "[::1]:9750", "0.0.0.0:9750";
                                         * NULL: no TCP listener */
        const char *socket;             /* a unix socket's path; NULL: none */
        gid_t socket_gid;               /* the socket's group ((gid_t) -1: ours); mode 0660 */
        const char *token;              /* the bearer token; NULL: writes over TCP refused */
        bool public_read;               /* reads over TCP from anywhere without the token */
        unsigned max_connections;       /* 0: API_MAX_CONNECTIONS */
        unsigned head_timeout_msec;     /* 0: API_HEAD_TIMEOUT_MSEC */
        unsigned idle_timeout_msec;     /* 0: API_IDLE_TIMEOUT_MSEC */
} ApiServerConfig;

typedef struct ApiRequest {             /* valid during the api_request_cb call */
        const char *method;             /* "GET", "HEAD", "POST", … */
        const char *path;               /* percent-decoded, without the query */
        const char *query;              /* raw, after '?'; "" when none */
        const char *idempotency_key;    /* the Idempotency-Key header; NULL when none */
        const char *accept;             /* the Accept header; NULL when none */
        const char *body;               /* NUL-terminated for convenience */
        size_t body_size;
        bool local;                     /* the unix socket, or a loopback peer */
} ApiRequest;

typedef struct ApiServer ApiServer;
typedef struct ApiExchange ApiExchange;

/* A request to answer, now (api_respond() inside the call) or later. */
typedef void (*api_request_cb)(ApiExchange *x, const ApiRequest *req, void *userdata);
/* The client went away before a later answer: x is gone after this call. */
typedef void (*api_abort_cb)(ApiExchange *x, void *userdata);

/* Listen as cfg says. -errno and *reterr_message (caller frees) when it cannot. */
int api_server_new(uv_loop_t *loop, const ApiServerConfig *cfg, api_request_cb on_request,
                   void *userdata, ApiServer **ret, char **reterr_message);
/* Stop listening, close every connection (later answers are dropped; their api_abort_cb
 * runs), free the server once its handles have closed. */
void api_server_close(ApiServer *s);

/* Answer x with status, a Content-Type and a body (copied); x is gone afterwards. To a HEAD
 * the body is left out (Content-Length still says its size). */
void api_respond(ApiExchange *x, int status, const char *content_type, const char *body,
                 size_t size);
/* The same, with more header lines ("Name: value\r\n" each). */
void api_respond_headers(ApiExchange *x, int status, const char *content_type,
                         const char *headers, const char *body, size_t size);
/* The same as api_respond(), with a formatted body. */
void api_respondf(ApiExchange *x, int status, const char *content_type, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* A streamed answer, for one too big to make at once: the head now, pieces as the owner
 * makes them (copied), then the end. An HTTP/1.1 client gets the pieces chunked, an HTTP/1.0
 * one a body that ends when the connection closes; a HEAD, the head alone. Until the end,
 * the exchange is open: its abort callback runs should the client go away. */
void api_stream_begin(ApiExchange *x, int status, const char *content_type);
void api_stream_write(ApiExchange *x, const char *data, size_t size);
void api_stream_end(ApiExchange *x);
/* The owner cannot finish the stream: the connection is closed, so that the client sees a
 * cut answer, not a short one (no abort callback runs). */
void api_stream_abort(ApiExchange *x);

/* Before answering later: what to call should the client go away first. */
void api_exchange_on_abort(ApiExchange *x, api_abort_cb cb, void *userdata);

/* Constant-time comparison of a presented token with the expected one. */
bool api_token_equal(const char *presented, const char *expected);
