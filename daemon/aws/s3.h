/* SPDX-License-Identifier: MIT */
#pragma once

/* Signed S3 requests on the daemon's loop, for the S3 lease backend: one object (GET, HEAD,
 * PUT, DELETE) or one page of a bucket listing (ListObjectsV2) per request, with
 *   - path-style (https://HOST/BUCKET/KEY) or virtual-hosted-style (https://BUCKET.HOST/KEY)
 *     URLs, AWS's regional endpoint when none is configured;
 *   - SigV4 (common/sigv4.h) on every request, x-amz-content-sha256 of the body, session
 *     tokens, and credentials from the chain in s3_creds.h;
 *   - the server's clock: every Date header corrects the clock we sign with, so a replica
 *     whose clock is wrong still signs acceptably (one retry after RequestTimeTooSkewed);
 *   - S3 error XML turned into a code ("PreconditionFailed") and a sentence.
 * Owns its HttpClient. Non-logging; no message ever holds a secret. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http.h"
#include "sigv4.h"

typedef struct S3Client S3Client;
typedef struct S3Op S3Op;

typedef struct S3ClientConfig {         /* borrowed during s3_client_new() */
        const char *bucket;
        const char *endpoint;           /* "http[s]://HOST[:PORT]", or NULL: AWS in region */
        const char *region;             /* NULL: us-east-1 */
        bool path_style;
        const char *ca_file;            /* PEM bundle to verify the endpoint; NULL: system's */
        int64_t clock_offset;           /* tests only: seconds added to the local clock */
} S3ClientConfig;

typedef struct S3Response {
        int error;                      /* 0: the server answered (see status); else a negative
                                         * errno: transport, TLS (-EPROTO), credentials */
        const char *message;            /* NULL for a 2xx answer, else a sentence */
        long status;                    /* HTTP status, 0 without an answer */
        const char *code;               /* S3's error code, "" if none (or unreadable) */
        const char *etag;               /* the ETag header as sent (quotes kept), or NULL */
        int64_t date;                   /* the server's Date, Unix seconds; -1 if absent */
        int64_t last_modified;          /* Last-Modified, Unix seconds; -1 if absent */
        const char *body;               /* body_size bytes plus a NUL; never NULL */
        size_t body_size;
} S3Response;

/* Runs once per started request, from the loop; resp is valid during the call only. */
typedef void (*s3_done_cb)(const S3Response *resp, void *userdata);

typedef struct S3Request {              /* copied by s3_request_start() */
        HttpMethod method;              /* HTTP_GET, HTTP_HEAD, HTTP_PUT or HTTP_DELETE */
        const char *key;                /* object key; NULL: the bucket (ListObjectsV2) */
        const SigV4Param *query;        /* raw (unencoded) parameters */
        size_t n_query;                 /* <= SIGV4_QUERY_MAX */
        const char *if_match;           /* PUT: an ETag as the server sent it, or NULL */
        bool if_none_match;             /* PUT: If-None-Match: * */
        const void *body;               /* PUT */
        size_t body_size;
        bool body_borrowed;             /* the caller keeps body alive until done (or
                                         * cancel): no copy of a large body */
        const char *content_type;       /* PUT */
        const char *content_encoding;   /* PUT: "gzip", or NULL */
        uint32_t timeout_ms;            /* 0: HTTP_TIMEOUT_DEFAULT_MS */
        size_t max_body;                /* 0: HTTP_BODY_DEFAULT_MAX */
        s3_done_cb done;
        void *userdata;
} S3Request;

/* Checks the configuration (bucket, endpoint, region) and picks the credential source.
 * Returns 0, -ENOMEM, or -EINVAL with *reterr_message. */
int s3_client_new(uv_loop_t *loop, const S3ClientConfig *cfg, S3Client **ret,
                  char **reterr_message);

/* Cancels every request (no done callback follows), closes the HTTP client, frees c, then
 * runs done(userdata) from the loop. May be called from a done callback; call it once. */
void s3_client_close(S3Client *c, void (*done)(void *userdata), void *userdata);

/* Our best idea of the server's clock (Unix seconds): the local clock corrected by the
 * server's Date headers. For signing and for the informational times in records. */
int64_t s3_client_now(const S3Client *c);

/* "bucket 'b' at https://s3.eu-west-1.amazonaws.com", for messages. */
const char *s3_client_describe(const S3Client *c);
const char *s3_client_creds_source(const S3Client *c);

/* Starts a request; done runs exactly once from the loop unless s3_request_cancel() is
 * called first. Failures to sign or send are reported through done as well. Returns 0, or
 * -EINVAL (bad request), -ENOMEM, -ESHUTDOWN (closing): then done never runs. */
int s3_request_start(S3Client *c, const S3Request *req, S3Op **ret_op);

/* Forget a request: its done callback will not run. Never after done has started. */
void s3_request_cancel(S3Op *op);

/* ---- pure helpers, also for the lease backend and the tests ---- */

/* The next element <name>…</name> (or <name …>…</name>, or <name/>) at or after *p, before
 * end: its content in *ret_inner and *ret_len, *p moved past it. Returns 1 if found, 0 if there
 * is none, -EBADMSG if it is not closed. Elements of one name must not nest (true of S3's
 * XML). */
int s3_xml_element(const char **p, const char *end, const char *name, const char **ret_inner,
                   size_t *ret_len);

/* Character data with the five predefined entities and &#N;/&#xH; (ASCII) decoded; a '<'
 * inside is -EBADMSG. *ret is owned by the caller. */
int s3_xml_text(const char *s, size_t len, char **ret);

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 7231 IMF-fixdate). Returns 0 or -EINVAL. */
int s3_parse_http_date(const char *s, int64_t *ret);

/* "2026-11-23T06:00:00.000Z" (ListObjectsV2 LastModified). Returns 0 or -EINVAL. */
int s3_parse_iso8601(const char *s, int64_t *ret);
