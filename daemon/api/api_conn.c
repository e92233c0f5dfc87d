/* SPDX-License-Identifier: MIT */
/* One API connection: read, parse (libhttp-parser), hand the request on, write the answer,
 * and on to the next request (keep-alive) or close. One request at a time: while one is
 * being answered, reading stops and what has come already waits (pipelining). Limits:
 * API_MAX_HEAD bytes of head (431), API_MAX_BODY of body (413), the whole request within
 * the head timeout (408), a kept-alive connection idle for the idle timeout is closed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
                free(c->req.url);
                free(c->req.body);
                free(c->req.authorization);
                free(c->req.idempotency_key);
                free(c->req.accept);
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
        bool then_close;
        char data[];
} ApiWrite;

static void conn_request_reset(ApiConn *c);
static void conn_resume(ApiConn *c);

static void conn_on_written(uv_write_t *w, int status) {
        ApiWrite *aw = container_of(w, ApiWrite, req);
        ApiConn *c = aw->conn;
        bool then_close = aw->then_close;

        free(aw);
        c->writes--;
        if (c->closing)
                return;
        if (status < 0 || then_close) {
                api_conn_close(c);
                return;
        }
        conn_resume(c);
}

static void conn_write(ApiConn *c, int status, const char *content_type, const char *body,
                       size_t size, bool close) {
        char head[512];
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                         "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                         "%s%s\r\n", status, status_text(status), content_type, size,
                         status == 401 ? "WWW-Authenticate: Bearer\r\n" : "",
                         close ? "Connection: close\r\n" : "");
        ApiWrite *aw = malloc(sizeof(ApiWrite) + (size_t) n + size);
        uv_buf_t buf;

        if (!aw || n < 0) {
                free(aw);
                api_conn_close(c);
                return;
        }
        aw->conn = c;
        aw->then_close = close;
        memcpy(aw->data, head, (size_t) n);
        if (size > 0)
                memcpy(aw->data + n, body, size);
        buf = uv_buf_init(aw->data, (unsigned) ((size_t) n + size));
        c->writes++;
        if (uv_write(&aw->req, &c->h.stream, &buf, 1, conn_on_written) < 0) {
                c->writes--;
                free(aw);
                api_conn_close(c);
        }
}

/* An answer given by the server itself (errors), closing when the request was not whole. */
static void conn_fail(ApiConn *c, int status) {
        char body[96];
        int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", status_text(status));

        (void) uv_read_stop(&c->h.stream);
        (void) uv_timer_stop(&c->timer);
        c->reading = false;
        conn_write(c, status, "application/json", body, (size_t) n, true);
}

void api_conn_refuse(ApiConn *c, int status) {
        conn_fail(c, status);
}

void api_respond(ApiExchange *x, int status, const char *content_type, const char *body,
                 size_t size) {
        ApiConn *c = x->conn;

        if (!x->open)
                return;
        x->open = false;
        conn_write(c, status, content_type, body, size, !c->keep_alive);
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

void api_exchange_on_abort(ApiExchange *x, api_abort_cb cb, void *userdata) {
        x->on_abort = cb;
        x->abort_userdata = userdata;
}

/* --- parsing ------------------------------------------------------------------------ */

static ApiConn *conn_of(http_parser *p) {
        return container_of(p, ApiConn, parser);
}

/* Stop the parser with status to answer. */
static int parse_fail(ApiConn *c, int status) {
        c->req.error = status;
        return -1;
}

static int head_bytes(ApiConn *c, size_t n) {
        c->req.head_size += n;
        return c->req.head_size > API_MAX_HEAD ? parse_fail(c, 431) : 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
        ApiConn *c = conn_of(p);
        char *u;

        if (c->req.url_size + n > 2048)
                return parse_fail(c, 414);
        u = realloc(c->req.url, c->req.url_size + n + 1);
        if (!u)
                return parse_fail(c, 500);
        memcpy(u + c->req.url_size, at, n);
        c->req.url_size += n;
        u[c->req.url_size] = 0;
        c->req.url = u;
        return head_bytes(c, n);
}

/* The value of one of the headers the API reads, appended to *dst. */
static int header_append(ApiConn *c, char **dst, const char *at, size_t n) {
        size_t old = *dst ? strlen(*dst) : 0;
        char *v = realloc(*dst, old + n + 1);

        if (!v)
                return parse_fail(c, 500);
        memcpy(v + old, at, n);
        v[old + n] = 0;
        *dst = v;
        return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
        ApiConn *c = conn_of(p);
        ApiParse *r = &c->req;

        if (r->header_value_next) {     /* a new header */
                r->header_name_size = 0;
                r->header_value_next = false;
        }
        for (size_t i = 0; i < n && r->header_name_size < sizeof(r->header_name) - 1; i++)
                r->header_name[r->header_name_size++] = (char) (at[i] | 0x20);
        r->header_name[r->header_name_size] = 0;
        return head_bytes(c, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
        ApiConn *c = conn_of(p);
        ApiParse *r = &c->req;
        int k = head_bytes(c, n);

        r->header_value_next = true;
        if (k < 0)
                return k;
        if (strcmp(r->header_name, "authorization") == 0)
                return header_append(c, &r->authorization, at, n);
        if (strcmp(r->header_name, "idempotency-key") == 0)
                return header_append(c, &r->idempotency_key, at, n);
        if (strcmp(r->header_name, "accept") == 0)
                return header_append(c, &r->accept, at, n);
        return 0;
}

static int on_headers_complete(http_parser *p) {
        ApiConn *c = conn_of(p);

        if (p->content_length != ULLONG_MAX && p->content_length > API_MAX_BODY)
                return parse_fail(c, 413);
        return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
        ApiConn *c = conn_of(p);
        ApiParse *r = &c->req;
        char *b;

        if (r->body_size + n > API_MAX_BODY)
                return parse_fail(c, 413);
        b = realloc(r->body, r->body_size + n + 1);
        if (!b)
                return parse_fail(c, 500);
        memcpy(b + r->body_size, at, n);
        r->body_size += n;
        b[r->body_size] = 0;
        r->body = b;
        return 0;
}

static int on_message_complete(http_parser *p) {
        ApiConn *c = conn_of(p);

        c->req.complete = true;
        c->keep_alive = http_should_keep_alive(p);
        http_parser_pause(p, 1);        /* one request at a time */
        return 0;
}

static const http_parser_settings parse_settings = {
        .on_url = on_url,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
};

static void conn_request_reset(ApiConn *c) {
        free(c->req.url);
        free(c->req.body);
        free(c->req.authorization);
        free(c->req.idempotency_key);
        free(c->req.accept);
        c->req = (ApiParse) {};
        c->exchange = (ApiExchange) { .conn = c };
}

static int hex_value(char h) {
        if (h >= '0' && h <= '9')
                return h - '0';
        h |= 0x20;
        return h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
}

/* The path of url, percent-decoded in place; the query after '?' in *ret_query. false for
 * a path that is not one ("%zz", a NUL, no leading '/'). */
static bool split_url(char *url, const char **ret_query) {
        char *q = strchr(url, '?'), *w = url;

        *ret_query = "";
        if (q) {
                *q = 0;
                *ret_query = q + 1;
        }
        if (url[0] != '/')
                return false;
        for (const char *r = url; *r; r++) {
                if (*r == '%') {
                        int hi = hex_value(r[1]), lo = hi < 0 ? -1 : hex_value(r[2]);

                        if (lo < 0 || (hi == 0 && lo == 0))
                                return false;
                        *w++ = (char) (hi * 16 + lo);
                        r += 2;
                } else
                        *w++ = *r;
        }
        *w = 0;
        return true;
}

/* A whole request: check it, then hand it on. */
static void conn_dispatch(ApiConn *c) {
        ApiServer *s = c->server;
        const char *method = http_method_str((enum http_method) c->parser.method), *query;
        int status;

        (void) uv_timer_stop(&c->timer);
        if (!c->req.url || !split_url(c->req.url, &query)) {
                conn_fail(c, 400);
                return;
        }
        status = api_server_authorize(s, c, method, c->req.authorization);
        if (status) {
                c->exchange = (ApiExchange) { .conn = c, .open = true };
                api_respondf(&c->exchange, status, "application/json", "{\"error\":\"%s\"}\n",
                             status == 401 ? "a token is needed: Authorization: Bearer TOKEN"
                                           : "wrong token");
                return;
        }
        c->exchange = (ApiExchange) { .conn = c, .open = true };
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
        size_t used = http_parser_execute(&c->parser, &parse_settings, c->in, c->in_size);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

        memmove(c->in, c->in + used, c->in_size - used);
        c->in_size -= used;
        if (c->req.error) {
                conn_fail(c, c->req.error);
                return;
        }
        if (e != HPE_OK && e != HPE_PAUSED) {
                conn_fail(c, 400);
                return;
        }
        if (!c->req.complete) {
                if (c->in_size > 0)     /* the parser keeps nothing: it took all it could */
                        conn_fail(c, 400);
                return;
        }
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
        http_parser_pause(&c->parser, 0);
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
        http_parser_init(&c->parser, HTTP_REQUEST);
        conn_request_reset(c);
        /* A connection that sends nothing is closed after the head timeout. */
        (void) uv_timer_start(&c->timer, conn_on_timer, c->server->head_timeout_msec, 0);
        conn_start_reading(c);
}
