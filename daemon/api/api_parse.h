/* SPDX-License-Identifier: MIT */
#pragma once

/* One HTTP request being parsed (api_parse.c): pure, no sockets. */

#include <stdbool.h>
#include <stddef.h>
#include <http_parser.h>

#include "api_server.h"

#define API_MAX_URL 2048

typedef struct ApiParse {
        http_parser parser;
        char *url;                      /* the request target, raw */
        size_t url_size;
        char header_name[64];           /* the header being read, lowercased */
        size_t header_name_size;
        bool header_value_next;         /* the last piece was a value (a new name follows) */
        char *authorization, *idempotency_key, *accept;
        size_t head_size;               /* bytes of request line and headers so far */
        char *body;
        size_t body_size;
        bool started;                   /* its first byte has come: the head timeout runs */
        bool complete;                  /* whole: the parser stops here (pipelining) */
        bool keep_alive;                /* the request allows the connection to stay */
        int error;                      /* the HTTP status to answer with, once it stops */
} ApiParse;

/* After a 0 from httplib_load() (httplib.h): the parser is libhttp-parser. */
void api_parse_init(ApiParse *r);
/* Forget the request, for the next one on the connection. */
void api_parse_reset(ApiParse *p);
void api_parse_done(ApiParse *p);
/* Parse what came; returns how much was taken (the rest waits when complete). Sets
 * p->complete, or p->error. */
size_t api_parse_feed(ApiParse *p, const char *data, size_t size);
/* "GET", "POST", … */
const char *api_parse_method(const ApiParse *p);
/* The path of url, percent-decoded in place; the query after '?' in *ret_query. false for
 * a path that is not one ("%zz", a NUL, no leading '/'). */
bool api_parse_split_url(char *url, const char **ret_query);
/* The value of parameter name in a query ("since=2026-12-01&limit=10"), percent-decoded
 * ('+' is a space) into buf. false: not there, or longer than size - 1 bytes. */
bool api_query_get(const char *query, const char *name, char *buf, size_t size);
