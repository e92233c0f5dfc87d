/* SPDX-License-Identifier: MIT */
/* One request's parse: libhttp-parser's callbacks collect the target, the three headers
 * the API reads and the body, within the limits (api_server.h); api_parse_split_url()
 * checks and decodes the path. Pure: no sockets, no loop (fuzz/fuzz-api.c feeds it
 * anything). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "api_parse.h"
#include "httplib.h"
#include "macro.h"

static ApiParse *parse_of(http_parser *p) {
        return container_of(p, ApiParse, parser);
}

/* Stop the parser with status to answer. */
static int parse_fail(ApiParse *r, int status) {
        r->error = status;
        return -1;
}

static int head_bytes(ApiParse *r, size_t n) {
        r->head_size += n;
        return r->head_size > API_MAX_HEAD ? parse_fail(r, 431) : 0;
}

/* A piece of the URL, a header's value or the body, appended to *buf (NUL-terminated, *size
 * bytes): beyond max, the parse stops with too_big. */
static int append(ApiParse *r, char **buf, size_t *size, const char *at, size_t n, size_t max,
                  int too_big) {
        char *b;

        if (*size + n > max)
                return parse_fail(r, too_big);
        b = realloc(*buf, *size + n + 1);
        if (!b)
                return parse_fail(r, 500);
        memcpy(b + *size, at, n);
        *size += n;
        b[*size] = 0;
        *buf = b;
        return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
        ApiParse *r = parse_of(p);

        return append(r, &r->url, &r->url_size, at, n, API_MAX_URL, 414) ?: head_bytes(r, n);
}

/* The value of one of the headers the API reads, appended to *dst (the head's limit bounds
 * it). */
static int header_append(ApiParse *r, char **dst, const char *at, size_t n) {
        size_t size = *dst ? strlen(*dst) : 0;

        return append(r, dst, &size, at, n, API_MAX_HEAD, 431);
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
        ApiParse *r = parse_of(p);

        if (r->header_value_next) {     /* a new header */
                r->header_name_size = 0;
                r->header_value_next = false;
        }
        for (size_t i = 0; i < n && r->header_name_size < sizeof(r->header_name) - 1; i++)
                r->header_name[r->header_name_size++] = (char) (at[i] | 0x20);
        r->header_name[r->header_name_size] = 0;
        return head_bytes(r, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
        ApiParse *r = parse_of(p);
        int k = head_bytes(r, n);

        r->header_value_next = true;
        if (k < 0)
                return k;
        if (strcmp(r->header_name, "authorization") == 0)
                return header_append(r, &r->authorization, at, n);
        if (strcmp(r->header_name, "idempotency-key") == 0)
                return header_append(r, &r->idempotency_key, at, n);
        if (strcmp(r->header_name, "accept") == 0)
                return header_append(r, &r->accept, at, n);
        return 0;
}

static int on_headers_complete(http_parser *p) {
        ApiParse *r = parse_of(p);

        if (p->content_length != ULLONG_MAX && p->content_length > API_MAX_BODY)
                return parse_fail(r, 413);
        return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
        ApiParse *r = parse_of(p);

        return append(r, &r->body, &r->body_size, at, n, API_MAX_BODY, 413);
}

static int on_message_complete(http_parser *p) {
        ApiParse *r = parse_of(p);

        r->complete = true;
        r->keep_alive = sym_http_should_keep_alive(p);
        sym_http_parser_pause(p, 1);        /* one request at a time */
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

void api_parse_init(ApiParse *r) {
        *r = (ApiParse) {};
        sym_http_parser_init(&r->parser, HTTP_REQUEST);
}

void api_parse_done(ApiParse *r) {
        free(r->url);
        free(r->body);
        free(r->authorization);
        free(r->idempotency_key);
        free(r->accept);
        *r = (ApiParse) {};
}

/* The parser starts afresh (not unpaused: one that stopped on an error may not be). */
void api_parse_reset(ApiParse *r) {
        api_parse_done(r);
        api_parse_init(r);
}

size_t api_parse_feed(ApiParse *r, const char *data, size_t size) {
        size_t used = sym_http_parser_execute(&r->parser, &parse_settings, data, size);
        enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);

        if (!r->error && e != HPE_OK && e != HPE_PAUSED)
                r->error = 400;
        /* The parser keeps nothing: what it did not take, it will not take later. */
        if (!r->error && !r->complete && used < size)
                r->error = 400;
        return used;
}

const char *api_parse_method(const ApiParse *r) {
        return sym_http_method_str((enum http_method) r->parser.method);
}

static int hex_value(char h) {
        if (h >= '0' && h <= '9')
                return h - '0';
        h |= 0x20;
        return h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
}

bool api_query_get(const char *query, const char *name, char *buf, size_t size) {
        size_t len = strlen(name);

        for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
                size_t n = 0;

                if (strncmp(p, name, len) != 0 || (p[len] != '=' && p[len] != '&' && p[len]))
                        continue;
                p += len + (p[len] == '=');
                for (; *p && *p != '&'; p++) {
                        int hi, lo;
                        char c = *p;

                        if (c == '+')
                                c = ' ';
                        else if (c == '%' && (hi = hex_value(p[1])) >= 0 &&
                                 (lo = hex_value(p[2])) >= 0) {
                                c = (char) (hi * 16 + lo);
                                p += 2;
                        }
                        if (n + 1 >= size)
                                return false;
                        buf[n++] = c;
                }
                buf[n] = 0;
                return true;
        }
        return false;
}

/* The path of url, percent-decoded in place; the query after '?' in *ret_query. false for
 * a path that is not one ("%zz", a NUL, no leading '/'). */
bool api_parse_split_url(char *url, const char **ret_query) {
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

