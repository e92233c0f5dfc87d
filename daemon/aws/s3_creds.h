/* SPDX-License-Identifier: MIT */
#pragma once

/* AWS credentials for S3 requests, found as the AWS SDKs find them in a container or on an
 * instance; the first source that is configured wins:
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
 *   2. the shared credentials file: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
 *      profile AWS_PROFILE or "default" (keys aws_access_key_id, aws_secret_access_key,
 *      aws_session_token);
 *   3. ECS container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
 *      http://169.254.170.2), or AWS_CONTAINER_CREDENTIALS_FULL_URI with the Authorization
 *      value in AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every fetch) or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN;
 *   4. EC2 instance metadata, IMDSv2 (a PUT for a session token, then the role's
 *      credentials), unless AWS_EC2_METADATA_DISABLED=true.
 * Sources 1 and 2 are read once, by s3_creds_new(). Sources 3 and 4 are fetched with the HTTP
 * client when first needed and again 5 minutes before they expire; fetched credentials are
 * never used in their last minute.
 *
 * Test builds only (testhook.h): SOLOCRON_TEST_ECS_ENDPOINT and SOLOCRON_TEST_IMDS_ENDPOINT
 * replace the base URLs http://169.254.170.2 and http://169.254.169.254 (the tests point them
 * at 127.0.0.1).
 *
 * Non-logging. No message of this module ever holds a secret or a token. */

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "sigv4.h"

typedef struct S3Creds S3Creds;
typedef struct S3CredsWait S3CredsWait;

/* error 0: credentials are there now, call s3_creds_get() again; else a negative errno and a
 * sentence (valid during the call). */
typedef void (*s3_creds_cb)(S3CredsWait *w, int error, const char *message);

struct S3CredsWait {            /* embedded in the waiter; filled by s3_creds_get() */
        S3Creds *creds;
        S3CredsWait *prev, *next;
        s3_creds_cb cb;
        bool queued;
};

/* Chooses the source from the environment (and reads sources 1 and 2). Returns 0, -ENOMEM,
 * or -EINVAL with *reterr_message (a half-configured source: AWS_ACCESS_KEY_ID without a
 * secret, an AWS_PROFILE that is not in the file, a FULL_URI that is neither https nor
 * loopback, …). */
int s3_creds_new(S3Creds **ret, char **reterr_message);

/* Frees c and wipes its secrets. Call it only when none of its requests is running: after the
 * HTTP client given to s3_creds_get() has closed. Waiters must have been cancelled. Returns
 * NULL. */
S3Creds *s3_creds_free(S3Creds *c);

/* "environment", "profile 'default' in '/root/.aws/credentials'", "ECS container
 * credentials", "EC2 instance metadata (IMDSv2)". */
const char *s3_creds_source(const S3Creds *c);

/* Credentials for a request signed at now (Unix seconds, the caller's best clock); a fetch
 * uses http (always the same client).
 * 0: *ret is filled; its strings stay valid until control returns to the loop.
 * -EINPROGRESS: they are being fetched; w is queued and cb(w, …) runs once from the loop
 *   unless s3_creds_cancel(w) is called first.
 * Another negative errno: they cannot be had now; *reterr_message (valid until the next call
 *   into c) says why. */
int s3_creds_get(S3Creds *c, HttpClient *http, int64_t now, SigV4Credentials *ret, S3CredsWait *w,
                 s3_creds_cb cb, const char **reterr_message);

void s3_creds_cancel(S3CredsWait *w);

/* The server refused the credentials as expired or invalid: fetched ones are fetched anew
 * at the next s3_creds_get(). Returns true if that may help (a fetched source). */
bool s3_creds_expired(S3Creds *c);
