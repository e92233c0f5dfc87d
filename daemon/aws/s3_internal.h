/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the files of the S3 client (s3.h) only:
 *   s3.c          the client: configuration, endpoint and host, the server's clock, closing
 *   s3_request.c  one request: credentials, signing, sending, retrying, delivering
 *   s3_parse.c    pure helpers: S3's XML and error bodies, HTTP and ISO 8601 dates */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http.h"
#include "s3.h"
#include "s3_creds.h"
#include "sigv4.h"

#define MESSAGE_FROM_SERVER_MAX 200     /* bytes of S3's <Message> quoted in ours */

typedef enum OpState {
        OP_WAIT_CREDS,                  /* queued on the credential fetch */
        OP_SENDING,                     /* op->transfer runs */
        OP_DEFERRED,                    /* failed before sending: the idle handle delivers */
        OP_CANCELLED,                   /* transfer cancelled: freed by its done callback */
        OP_DELIVERING,                  /* done runs */
} OpState;

struct S3Client {                       /* owned by its user until s3_client_close() */
        uv_loop_t *loop;
        HttpClient *http;
        S3Creds *creds;
        char *scheme;                   /* "https" */
        char *host;                     /* Host header: "bucket.s3.eu-west-1.amazonaws.com" */
        char *base_path;                /* "" (virtual-hosted) or "/bucket" (path-style) */
        char *region;
        char *ca_file;                  /* or NULL */
        char *describe;
        int64_t clock_offset;           /* tests only */
        int64_t server_offset;          /* learnt from Date headers */
        uv_idle_t defer;
        S3Op *ops;                      /* every op not yet freed */
        bool closing;
        void (*close_done)(void *userdata);
        void *close_userdata;
};

struct S3Op {                           /* owned by its client */
        S3Client *client;
        S3Op *prev, *next;
        OpState state;
        HttpMethod method;
        char *key;                      /* NULL: the bucket */
        SigV4Param *query;              /* owned copies */
        size_t n_query;
        char *if_match;
        bool if_none_match;
        char *content_type;
        char *content_encoding;
        void *body;
        size_t body_size;
        bool body_borrowed;             /* body is the caller's: not freed */
        char body_sha256[SIGV4_SHA256_HEX_MAX];
        uint32_t timeout_ms;
        size_t max_body;
        s3_done_cb done;
        void *userdata;
        HttpTransfer *transfer;
        S3CredsWait wait;
        bool retried_skew, retried_creds;
        int error;                      /* OP_DEFERRED: why */
        char message[1024];
};

/* s3.c */
/* The server said its clock reads server (Unix seconds): follow it if we are far off. */
void s3_clock_follow(S3Client *c, int64_t server);

/* s3_parse.c */
/* The code and message of an S3 error body; false if it is not S3 error XML. */
bool s3_error_parse(const HttpResponse *resp, char *code, size_t code_size, char *message,
                    size_t message_size, int64_t *ret_server_time);
