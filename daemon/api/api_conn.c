/* SPDX-License-Identifier: MIT */
/* One API connection: read, parse (libhttp-parser), hand the request on, write the answer,
 * and on to the next request (keep-alive) or close. One request at a time: while one is
 * being answered, reading stops and what has come already waits (pipelining). Limits:
 * API_MAX_HEAD bytes of head (431), API_MAX_BODY of body (413), the whole request within
 * the head timeout (408), a kept-alive connection idle for the idle timeout is closed. */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "macro.h"

#define API_READ_CHUNK 4096

static void conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static const char *status_text(int status) {
        switch (status) {
        case 200: return "OK";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Status";
        }
}

/* --- closing ------------------------------------------------------------------------ */

static void conn_on_closed(uv_handle_t *h) {
        ApiConn *c = h->data;

        if (--c->pending_closes == 0) {
                free(c->in);
                api_parse_done(&c->req);
                api_server_conn_gone(c->server, c);
        }
}

void api_conn_close(ApiConn *c) {
        ApiExchange *x = &c->exchange;

        if (c->closing)
                return;
        c->closing = true;
        if (x->open) {
                x->open = false;
                if (x->on_abort)
                        x->on_abort(x, x->abort_userdata);
        }
        uv_close((uv_handle_t *) &c->h.stream, conn_on_closed);
        uv_close((uv_handle_t *) &c->timer, conn_on_closed);
}

/* --- writing ------------------------------------------------------------------------ */

typedef struct ApiWrite {
        uv_write_t req;
        ApiConn *conn;
        bool last;              /* the answer's last bytes: then close, or the next request */
        bool then_close;
        size_t size;
        char data[];
} ApiWrite;

/* After an answer this big (/v1/jobs with 1000 jobs; the pieces of a stream such as
 * /metrics, 1.8 MB, queued faster than the client reads them), glibc keeps the freed memory:
 * a big block freed raises its mmap threshold, later ones come from the heap, and the heap
 * is trimmed only past a threshold that grew too; many pieces freed leave holes below its
 * top. A daemon scraped a few times stayed 0.4 to 2.4 MiB above its idle size.
 * malloc_trim() gives the free pages back; it costs far less than making such an answer. */
#define API_TRIM_AFTER_BYTES (128 * 1024)

static void conn_request_reset(ApiConn *c);
static void conn_resume(ApiConn *c);

/* Lingering close: after the last answer, say we are done writing and read (and drop)
 * what the client still sends, until it closes too or API_LINGER_MSEC have passed. Closing
 * at once with unread bytes in the socket makes the kernel send a reset, which can destroy
 * the answer before the client has read it (a 413 to a client still sending its body). */
#define API_LINGER_MSEC 2000

static void conn_on_linger_timer(uv_timer_t *t) {
        api_conn_close(t->data);
}

static void conn_on_drop_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *ret) {
        static char sink[API_READ_CHUNK];

        (void) h;
        (void) suggested;
        *ret = uv_buf_init(sink, sizeof(sink));
}

static void conn_on_drop_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
        (void) b;
        if (n < 0)
                api_conn_close(s->data);
}

static void conn_on_shutdown(uv_shutdown_t *req, int status) {
        ApiConn *c = req->data;

        free(req);
        if (c->closing)
                return;
        if (status < 0) {
                api_conn_close(c);
                return;
        }
        (void) uv_read_stop(&c->h.stream);
        if (uv_read_start(&c->h.stream, conn_on_drop_alloc, conn_on_drop_read) < 0) {
                api_conn_close(c);
                return;
        }
        (void) uv_timer_start(&c->timer, conn_on_linger_timer, API_LINGER_MSEC, 0);
}

static void conn_linger(ApiConn *c) {
        uv_shutdown_t *req = malloc(sizeof(uv_shutdown_t));

        (void) uv_timer_stop(&c->timer);
        if (!req || uv_shutdown(req, &c->h.stream, conn_on_shutdown) < 0) {
                free(req);
                api_conn_close(c);
                return;
        }
        req->data = c;
}

static void conn_on_written(uv_write_t *w, int status) {
        ApiWrite *aw = container_of(w, ApiWrite, req);
        ApiConn *c = aw->conn;
        bool last = aw->last, then_close = aw->then_close;
        /* A stream's pieces add up: its memory is given back after its last write. */
        bool big = aw->size >= API_TRIM_AFTER_BYTES ||
                   (last && c->exchange.streamed >= API_TRIM_AFTER_BYTES);

        free(aw);
        if (big)
                (void) malloc_trim(0);
        c->writes--;
        if (c->closing)
                return;
        if (status < 0) {
                api_conn_close(c);
                return;
        }
        if (!last)
                return;
        if (then_close) {
                conn_linger(c);
                return;
        }
        conn_resume(c);
}

/* Queue a + b (either may be empty); last: the answer ends with them. */
static void conn_send(ApiConn *c, const char *a, size_t a_size, const char *b, size_t b_size,
                      bool last, bool close) {
        ApiWrite *aw = malloc(sizeof(ApiWrite) + a_size + b_size);
        uv_buf_t buf;

        if (!aw) {
                api_conn_close(c);
                return;
        }
        *aw = (ApiWrite) { .conn = c, .last = last, .then_close = close, .size = a_size + b_size };
        memcpy(aw->data, a, a_size);
        if (b_size > 0)
                memcpy(aw->data + a_size, b, b_size);
        buf = uv_buf_init(aw->data, (unsigned) (a_size + b_size));
        c->writes++;
        if (uv_write(&aw->req, &c->h.stream, &buf, 1, conn_on_written) < 0) {
                c->writes--;
                free(aw);
                api_conn_close(c);
        }
}

/* The head: with a Content-Length (size), or framing's header for a stream. */
static int conn_head(char head[static 1024], int status, const char *content_type,
                     const char *headers, const char *framing, bool close) {
        int n = snprintf(head, 1024,
                         "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s"
                         "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                         "%s%s%s\r\n", status, status_text(status), content_type, framing,
                         status == 401 ? "WWW-Authenticate: Bearer\r\n" : "", headers ?: "",
                         close ? "Connection: close\r\n" : "");

        return n >= 0 && n < 1024 ? n : -1;
}

/* headers: more header lines, or NULL; body NULL: the answer to a HEAD, which says the
 * size of the body it leaves out. */
static void conn_write(ApiConn *c, int status, const char *content_type, const char *headers,
                       const char *body, size_t size, bool close) {
        char head[1024], length[48];
        int n;

        (void) snprintf(length, sizeof(length), "Content-Length: %zu\r\n", size);
        n = conn_head(head, status, content_type, headers, length, close);
        if (n < 0) {
                api_conn_close(c);
                return;
        }
        conn_send(c, head, (size_t) n, body, body ? size : 0, true, close);
}

/* An answer given by the server itself (errors), closing when the request was not whole. */
static void conn_fail(ApiConn *c, int status) {
        char body[96];
        int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", status_text(status));

        (void) uv_read_stop(&c->h.stream);
        (void) uv_timer_stop(&c->timer);
        c->reading = false;
        conn_write(c, status, "application/json", NULL, body, (size_t) n, true);
}

void api_conn_refuse(ApiConn *c, int status) {
        conn_fail(c, status);
}

void api_respond(ApiExchange *x, int status, const char *content_type, const char *body,
                 size_t size) {
        api_respond_headers(x, status, content_type, NULL, body, size);
}

void api_respond_headers(ApiExchange *x, int status, const char *content_type,
                         const char *headers, const char *body, size_t size) {
        ApiConn *c = x->conn;

        if (!x->open)
                return;
        x->open = false;
        conn_write(c, status, content_type, headers, x->head ? NULL : body, size, !c->keep_alive);
}

void api_respondf(ApiExchange *x, int status, const char *content_type, const char *fmt, ...) {
        _cleanup_free_ char *body = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&body, fmt, ap);
        va_end(ap);
        if (n < 0) {
                body = NULL;
                api_respond(x, 500, "application/json", "{\"error\":\"out of memory\"}\n", 26);
                return;
        }
        api_respond(x, status, content_type, body, (size_t) n);
}

void api_stream_begin(ApiExchange *x, int status, const char *content_type) {
        ApiConn *c = x->conn;
        char head[1024];
        int n;

        if (!x->open || x->streaming)
                return;
        x->streaming = true;
        if (!x->http11)
                c->keep_alive = false;          /* the body ends with the connection */
        n = conn_head(head, status, content_type, NULL,
                      x->http11 && !x->head ? "Transfer-Encoding: chunked\r\n" : "",
                      !c->keep_alive);
        if (n < 0) {
                api_conn_close(c);
                return;
        }
        conn_send(c, head, (size_t) n, NULL, 0, false, false);
}

void api_stream_write(ApiExchange *x, const char *data, size_t size) {
        char chunk[24];
        int n = 0;

        if (!x->open || !x->streaming || x->head || size == 0)
                return;
        if (x->http11)
                n = snprintf(chunk, sizeof(chunk), "%zx\r\n", size);
        x->streamed += size;
        conn_send(x->conn, chunk, (size_t) n, data, size, false, false);
        if (x->http11 && !x->conn->closing)
                conn_send(x->conn, "\r\n", 2, NULL, 0, false, false);
}

void api_stream_end(ApiExchange *x) {
        ApiConn *c = x->conn;
        bool chunked = x->http11 && !x->head;

        if (!x->open || !x->streaming)
                return;
        x->open = false;
        conn_send(c, "0\r\n\r\n", chunked ? 5 : 0, NULL, 0, true, !c->keep_alive);
}

void api_stream_abort(ApiExchange *x) {
        if (!x->open)
                return;
        x->open = false;                /* no abort callback: the owner knows */
        api_conn_close(x->conn);
}

void api_exchange_on_abort(ApiExchange *x, api_abort_cb cb, void *userdata) {
        x->on_abort = cb;
        x->abort_userdata = userdata;
}

static void conn_request_reset(ApiConn *c) {
        api_parse_reset(&c->req);
        c->exchange = (ApiExchange) { .conn = c };
}

/* A whole request: check it, then hand it on. */
static void conn_dispatch(ApiConn *c) {
        ApiServer *s = c->server;
        const char *method = api_parse_method(&c->req), *query;
        int status;

        (void) uv_timer_stop(&c->timer);
        if (!c->req.url || !api_parse_split_url(c->req.url, &query)) {
                conn_fail(c, 400);
                return;
        }
        c->exchange = (ApiExchange) { .conn = c, .open = true,
                                      .head = strcmp(method, "HEAD") == 0,
                                      .http11 = c->req.parser.http_major == 1 &&
                                                c->req.parser.http_minor >= 1 };
        status = api_server_authorize(s, c, method, c->req.authorization);
        if (status) {
                api_respondf(&c->exchange, status, "application/json", "{\"error\":\"%s\"}\n",
                             status == 401 ? "a token is needed: Authorization: Bearer TOKEN"
                                           : "wrong token");
                return;
        }
        s->on_request(&c->exchange, &(ApiRequest) {
                                .method = method, .path = c->req.url, .query = query,
                                .idempotency_key = c->req.idempotency_key,
                                .accept = c->req.accept,
                                .body = c->req.body ? c->req.body : "",
                                .body_size = c->req.body_size, .local = c->local },
                      s->userdata);
}

static void conn_on_timer(uv_timer_t *t) {
        ApiConn *c = t->data;

        /* Mid-request: too slow (408); between requests: idle, just close. */
        if (c->req.started)
                conn_fail(c, 408);
        else
                api_conn_close(c);
}

/* Parse what has come; dispatch a whole request. */
static void conn_parse(ApiConn *c) {
        size_t used = api_parse_feed(&c->req, c->in, c->in_size);

        memmove(c->in, c->in + used, c->in_size - used);
        c->in_size -= used;
        if (c->req.error) {
                conn_fail(c, c->req.error);
                return;
        }
        if (!c->req.complete)
                return;
        c->keep_alive = c->req.keep_alive;
        /* Wait for the answer before reading on. */
        if (c->reading) {
                (void) uv_read_stop(&c->h.stream);
                c->reading = false;
        }
        conn_dispatch(c);
}

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *ret);

static void conn_start_reading(ApiConn *c) {
        if (!c->reading && uv_read_start(&c->h.stream, conn_on_alloc, conn_on_read) >= 0)
                c->reading = true;
}

/* Answered: the next request (already read, or to come), under the idle timeout. */
static void conn_resume(ApiConn *c) {
        conn_request_reset(c);
        if (c->in_size > 0) {           /* the next request has come already */
                c->req.started = true;
                (void) uv_timer_start(&c->timer, conn_on_timer, c->server->head_timeout_msec, 0);
                conn_parse(c);
                if (c->closing || c->exchange.open || c->writes > 0)
                        return;
        } else
                (void) uv_timer_start(&c->timer, conn_on_timer, c->server->idle_timeout_msec, 0);
        conn_start_reading(c);
}

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *ret) {
        ApiConn *c = h->data;
        size_t want = c->in_size + API_READ_CHUNK;
        char *p;

        (void) suggested;
        if (want > API_MAX_HEAD + API_MAX_BODY + API_READ_CHUNK ||
            !(p = realloc(c->in, want))) {
                *ret = uv_buf_init(NULL, 0);    /* UV_ENOBUFS: conn_on_read closes */
                return;
        }
        c->in = p;
        *ret = uv_buf_init(c->in + c->in_size, API_READ_CHUNK);
}

static void conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
        ApiConn *c = s->data;

        (void) b;
        if (n == 0)
                return;
        if (n < 0) {
                /* EOF or an error: a client that half-closed after its request still gets
                 * the answer; otherwise there is nobody to answer. */
                if (n == UV_EOF && (c->exchange.open || c->writes > 0)) {
                        (void) uv_read_stop(s);
                        c->reading = false;
                        c->keep_alive = false;
                        return;
                }
                api_conn_close(c);
                return;
        }
        if (!c->req.started) {         /* the request's deadline runs from its first byte */
                c->req.started = true;
                (void) uv_timer_start(&c->timer, conn_on_timer, c->server->head_timeout_msec, 0);
        }
        c->in_size += (size_t) n;
        conn_parse(c);
}

void api_conn_start(ApiConn *c) {
        api_parse_init(&c->req);
        c->exchange = (ApiExchange) { .conn = c };
        /* A connection that sends nothing is closed after the head timeout. */
        (void) uv_timer_start(&c->timer, conn_on_timer, c->server->head_timeout_msec, 0);
        conn_start_reading(c);
}
