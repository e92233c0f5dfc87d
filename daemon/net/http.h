/* SPDX-License-Identifier: MIT */
#pragma once

/* A small non-blocking HTTP/1.1 client on the daemon's libuv loop, for the etcd v3 JSON
 * gateway and S3. One libcurl multi handle per client: a uv_poll_t per socket, one uv_timer_t,
 * finished transfers collected after every curl_multi_socket_action() (the shape of curl's
 * docs/examples/multi-uv.c). Idle (no transfers), the client has no active handle, so it makes
 * no wakeups and does not keep uv_run() alive.
 *
 * Non-logging: failures are returned as negative errno plus a message; the caller logs.
 * Everything a server can make grow is capped: body (HttpRequest.max_body), header count and
 * bytes (HTTP_RESPONSE_HEADERS_MAX, HTTP_RESPONSE_HEADER_BYTES_MAX), time (timeout_ms). */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HTTP_TIMEOUT_DEFAULT_MS         30000U
#define HTTP_TIMEOUT_MAX_MS             (3600U * 1000U)
#define HTTP_BODY_DEFAULT_MAX           (1024U * 1024U)         /* response body */
#define HTTP_BODY_LIMIT                 (64U * 1024U * 1024U)   /* largest max_body allowed */
#define HTTP_REQUEST_BODY_MAX           (64U * 1024U * 1024U)
#define HTTP_REQUEST_HEADERS_MAX        64
#define HTTP_REQUEST_HEADER_LINE_MAX    8192    /* bytes per request header line */
#define HTTP_RESPONSE_HEADERS_MAX       100
#define HTTP_RESPONSE_HEADER_BYTES_MAX  (64U * 1024U)
#define HTTP_TRANSFERS_MAX              256     /* running + cancelled-not-yet-delivered */
#define HTTP_CONNECTIONS_MAX            32      /* open sockets; more transfers wait in line */

typedef struct HttpClient HttpClient;
typedef struct HttpTransfer HttpTransfer;

typedef enum HttpMethod {
        HTTP_GET,                       /* zero: the default */
        HTTP_PUT,
        HTTP_POST,
        HTTP_DELETE,
        HTTP_HEAD,
        _HTTP_METHOD_MAX,
        _HTTP_METHOD_INVALID = -EINVAL,
} HttpMethod;

typedef struct HttpHeader {
        char *name;                     /* as the server sent it, e.g. "ETag" */
        char *value;                    /* leading and trailing blanks removed */
} HttpHeader;

typedef struct HttpResponse {
        int error;                      /* 0, or a negative errno (table in http.c) */
        const char *message;            /* NULL if error == 0, else a sentence for the log */
        long status;                    /* HTTP status; 0 if no status line arrived */
        char *body;                     /* body_size bytes plus a NUL; never NULL. The
                                         * callback may take it: set to NULL, then free() */
        size_t body_size;
        const HttpHeader *headers;      /* the final response's headers, in arrival order */
        size_t n_headers;               /* <= HTTP_RESPONSE_HEADERS_MAX */
} HttpResponse;

/* Runs exactly once per started request, always from a loop callback, never from inside
 * http_request_start() or http_request_cancel(). resp and everything it points to (except a
 * taken body) is valid only during the call. After an error, status, headers and body hold
 * whatever arrived before the failure (possibly nothing). HTTP error statuses (404, 412, …)
 * are not errors: error is 0 and status says what the server said. */
typedef void (*http_done_cb)(HttpResponse *resp, void *userdata);
/* A streamed response body (HttpRequest.on_data): one piece as it arrives, any size, from
 * inside libcurl. It must not start or cancel requests (libcurl refuses calls from its
 * callbacks): note what to do and return false to end the transfer; done then runs with
 * -ECANCELED, from the loop, where anything may be called. true: go on. */
typedef bool (*http_data_cb)(const char *data, size_t size, void *userdata);
typedef void (*http_close_cb)(void *userdata);

typedef struct HttpRequest {            /* plain description; http_request_start() copies
                                         * what it keeps, except a borrowed body */
        HttpMethod method;
        const char *url;                /* http:// or https:// only */
        const char *const *headers;     /* NULL-terminated "Name: value" lines, or NULL.
                                         * libcurl syntax: "Name:" removes a header libcurl
                                         * would send, "Name;" sends it empty. Without a
                                         * Content-Type or Expect line we send neither. */
        const void *body;               /* request body; not allowed with HTTP_HEAD */
        size_t body_size;               /* <= HTTP_REQUEST_BODY_MAX; body NULL means none */
        bool body_borrowed;             /* false: body is copied at start. true: body must stay
                                         * valid and unchanged until done runs */
        uint32_t timeout_ms;            /* whole request; 0 = HTTP_TIMEOUT_DEFAULT_MS;
                                         * <= HTTP_TIMEOUT_MAX_MS */
        uint32_t connect_timeout_ms;    /* connecting (TCP and TLS); 0 = no limit of its own */
        size_t max_body;                /* response body cap; 0 = HTTP_BODY_DEFAULT_MAX;
                                         * <= HTTP_BODY_LIMIT. Larger bodies fail with -EFBIG */
        const char *ca_file;            /* PEM bundle to verify the server; NULL = system's */
        const char *client_cert;        /* PEM, for mTLS; needs client_key */
        const char *client_key;         /* PEM, unencrypted */
        bool tls_insecure;              /* skip certificate and host name checks (tests only) */
        const char *userpwd;            /* "user:password" for basic auth, or NULL */
        http_done_cb done;              /* required */
        http_data_cb on_data;           /* optional: stream a 2xx response's body to it
                                         * instead of collecting it (resp.body stays empty;
                                         * max_body does not apply). For long-lived streams
                                         * such as etcd watches: the transfer still ends at
                                         * timeout_ms, with -ETIMEDOUT */
        void *userdata;
} HttpRequest;

/* NULL with errno set (ENOMEM, or EIO if libcurl cannot initialise). */
HttpClient *http_client_new(uv_loop_t *loop);

/* Asynchronous close: every running request is cancelled (its done callback runs with
 * -ECANCELED), the multi handle is cleaned up (cached connections closed), every uv handle is
 * closed, the client is freed, then cb(userdata) runs (cb may be NULL). From the call on,
 * http_request_start() returns -ESHUTDOWN. May be called from a done callback; call it once. */
void http_client_close(HttpClient *c, http_close_cb cb, void *userdata);

/* Start req. The URL goes out as given (no dot-segment removal). A request may reach the
 * server twice: when a kept-alive connection dies before any byte of the answer, libcurl
 * sends the request again on a new connection (it cannot tell a connection the server closed
 * while idle from one lost after the server acted on it; before libcurl 8.16 only never
 * reusing connections avoids that). Callers whose requests are not idempotent must cope.
 * On success returns 0, req->done will run exactly once from the loop, and
 * *ret_transfer (if ret_transfer is not NULL) identifies the request for
 * http_request_cancel() until done starts running. On failure returns a negative errno and
 * done never runs: -EINVAL (bad request: no url or done, a header with CR/LF or without ':',
 * a limit exceeded, HEAD with a body), -EAGAIN (HTTP_TRANSFERS_MAX reached), -ESHUTDOWN
 * (client closing), -ENOMEM. */
int http_request_start(HttpClient *c, const HttpRequest *req, HttpTransfer **ret_transfer);

/* Abort a running request: its connection is dropped at once and its done callback runs later
 * from the loop with -ECANCELED. A no-op for NULL and for a request whose done callback is
 * already running or queued. Never call it after done has returned: t is freed then. */
void http_request_cancel(HttpTransfer *t);

/* Value of the first response header called name (case-insensitive), or NULL. */
const char *http_response_header(const HttpResponse *resp, const char *name);

const char *http_method_to_string(HttpMethod m);
