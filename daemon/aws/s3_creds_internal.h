/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the files of the AWS credential chain (s3_creds.h) only:
 *   s3_creds.c        choosing the source; the environment and the shared credentials file;
 *                     the credentials held
 *   s3_creds_fetch.c  fetching from ECS or IMDS with the HTTP client, refreshing, waiting */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "s3_creds.h"

typedef enum CredsSource {
        SOURCE_STATIC,                  /* environment or shared file: never expire */
        SOURCE_ECS,
        SOURCE_IMDS,
} CredsSource;

typedef enum FetchStep {
        FETCH_IDLE,
        FETCH_ECS,
        FETCH_IMDS_TOKEN,
        FETCH_IMDS_ROLE,
        FETCH_IMDS_CREDS,
} FetchStep;

struct S3Creds {                        /* owned by the S3 client */
        HttpClient *http;               /* borrowed from s3_creds_get() */
        CredsSource source;
        char *source_text;
        char *access_key_id, *secret, *token;   /* current credentials, or all NULL */
        int64_t expiration;             /* Unix seconds; INT64_MAX for static ones */
        char *url;                      /* ECS: the full URL; IMDS: the base URL */
        char *auth_token;               /* ECS full URI: AWS_CONTAINER_AUTHORIZATION_TOKEN */
        char *auth_token_file;          /* … or _FILE, read at each fetch */
        char *imds_token;
        int64_t imds_token_expiry;
        char *imds_role;
        bool imds_retried;              /* one new token after a 401 per fetch */
        FetchStep step;
        HttpTransfer *transfer;
        int64_t now;                    /* the clock of the s3_creds_get() that started it */
        S3CredsWait *waiters, *waiters_tail;
        char message[384];
};

/* s3_creds.c */
/* Wipes and frees a secret; accepts NULL. */
void s3_creds_wipe_free(char *s);
/* s is 1..max bytes of printable ASCII. */
bool s3_creds_printable(const char *s, size_t max);
/* Replaces the credentials held with copies of these (token NULL or "" for none), if SigV4
 * accepts them. Returns 0, -EINVAL or -ENOMEM. */
int s3_creds_set(S3Creds *c, const char *id, const char *secret, const char *token,
                 int64_t expiration);
/* s without leading blanks, and with trailing blanks and line ends cut off (in place). */
char *s3_creds_trim(char *s);
