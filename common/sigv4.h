/* SPDX-License-Identifier: MIT */
#pragma once

/* AWS Signature Version 4 for S3 requests sent with an Authorization header and the payload
 * in a single chunk (signed or "UNSIGNED-PAYLOAD"). Pure: no I/O, no logging, no clock (the
 * request time is passed in), no globals; HMAC-SHA256 and SHA-256 come from the caller
 * (SigV4Crypto: the daemon's loads libcrypto on first use, the tests link it).
 * Rules: AWS S3 API Reference, "Signature Calculations for the Authorization Header:
 * Transferring Payload in a Single Chunk" (sig-v4-header-based-auth).
 *
 * S3 canonical URIs are encoded once and never normalized: "//" and "." segments are kept,
 * as S3 keeps them in object keys. Requests signed with query parameters (presigned URLs)
 * and chunked uploads are not supported. */

#include <stddef.h>
#include <stdint.h>

/* Limits; anything longer is -EINVAL. */
#define SIGV4_FIELD_MAX   4096  /* bytes of a raw path, query key or query value */
#define SIGV4_VALUE_MAX   8192  /* bytes of a header value or a session token */
#define SIGV4_NAME_MAX     128  /* bytes of a header name, access key id, secret */
#define SIGV4_SCOPE_MAX     64  /* bytes of a region or a service name */
#define SIGV4_HOST_MAX     512  /* bytes of the Host header value */
#define SIGV4_HEADERS_MAX   32  /* extra signed headers */
#define SIGV4_QUERY_MAX     32  /* query parameters */

#define SIGV4_SHA256_HEX_MAX 65 /* 64 lowercase hex digits + NUL */
#define SIGV4_AMZ_DATE_MAX   17 /* "20130524T000000Z" + NUL */
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

#define SIGV4_SHA256_LEN 32

/* The two hashes SigV4 needs, from a library of the caller's choice. Each returns 0, or a
 * negative errno when the library failed (or could not be loaded). */
typedef struct SigV4Crypto {
        int (*sha256)(const void *data, size_t len, uint8_t ret[static SIGV4_SHA256_LEN]);
        int (*hmac_sha256)(const void *key, size_t key_len, const void *data, size_t len,
                           uint8_t ret[static SIGV4_SHA256_LEN]);
} SigV4Crypto;

/* The last Unix second whose year has four digits (9999-12-31T23:59:59Z). */
#define SIGV4_TIME_MAX INT64_C(253402300799)

typedef struct SigV4Header {    /* borrowed strings */
        const char *name;       /* an HTTP token, any case; signed in lowercase */
        const char *value;      /* no control characters (not even tab); signed with the
                                 * ends trimmed and runs of spaces collapsed to one, but
                                 * send it as given */
} SigV4Header;

typedef struct SigV4Param {     /* borrowed strings, raw (not URI-encoded) */
        const char *key;        /* not empty */
        const char *value;      /* NULL or "" for a bare "?lifecycle": signed as "lifecycle=" */
} SigV4Param;

typedef enum SigV4Flags {
        SIGV4_PATH_ENCODED      = 1 << 0, /* path is URI-encoded already (only unreserved
                                           * characters, '/' and %XX with uppercase hex) and
                                           * is signed as given; else it is encoded here */
        SIGV4_NO_CONTENT_SHA256 = 1 << 1, /* do not sign x-amz-content-sha256: for services
                                           * other than S3 (S3 requires the header) */
} SigV4Flags;

typedef struct SigV4Request {   /* borrowed: nothing here is kept or freed */
        const char *method;             /* "GET", "PUT", …: 1..16 uppercase letters */
        const char *host;               /* the Host header exactly as sent, with ":port"
                                         * when the URL has a non-default port */
        const char *path;               /* starts with '/'; see SIGV4_PATH_ENCODED */
        const SigV4Param *query;        /* n_query entries, any order */
        size_t n_query;
        const SigV4Header *headers;     /* n_headers extra headers to sign (Range, Date,
                                         * x-amz-storage-class, If-None-Match, …); each
                                         * name at most once, and none of host, x-amz-date,
                                         * x-amz-content-sha256, x-amz-security-token or
                                         * authorization: sigv4_sign() adds those */
        size_t n_headers;
        const char *payload_sha256;     /* 64 lowercase hex digits of the body's SHA-256, or
                                         * SIGV4_UNSIGNED_PAYLOAD */
        SigV4Flags flags;
} SigV4Request;

typedef struct SigV4Credentials { /* borrowed */
        const char *access_key_id;      /* printable ASCII without space, '/' or ',' */
        const char *secret_access_key;  /* never copied into any output or error */
        const char *session_token;      /* NULL or "" without one; printable ASCII */
} SigV4Credentials;

typedef struct SigV4Signature { /* embedded object: sigv4_signature_done() frees the strings */
        char amz_date[SIGV4_AMZ_DATE_MAX];      /* send as x-amz-date */
        char content_sha256[SIGV4_SHA256_HEX_MAX]; /* send as x-amz-content-sha256 (the
                                                 * payload hash as given) */
        char signature[SIGV4_SHA256_HEX_MAX];   /* lowercase hex, also inside authorization */
        char *authorization;    /* owned; send as Authorization */
        char *security_token;   /* owned; NULL without a session token, else send it as
                                 * x-amz-security-token (it is signed) */
        char *canonical_request; /* owned; for comparing with the CanonicalRequest of an S3
                                  * SignatureDoesNotMatch error. Holds the session token:
                                  * do not log it as is */
        char *string_to_sign;   /* owned; no secrets */
} SigV4Signature;

/* Signs req for region and service ("s3") at Unix time now (0..SIGV4_TIME_MAX), hashing with
 * crypto. Region and service are 1..SIGV4_SCOPE_MAX of [A-Za-z0-9_-]. On success fills *ret,
 * which the caller releases with sigv4_signature_done(). Returns 0, -EINVAL (bad or too long
 * input), -ENOMEM, or crypto's error. */
int sigv4_sign(const SigV4Crypto *crypto, const SigV4Request *req, const SigV4Credentials *creds,
               const char *region, const char *service, int64_t now, SigV4Signature *ret);

/* Frees the strings of s and wipes it; accepts a zeroed or already-done s. */
void sigv4_signature_done(SigV4Signature *s);

/* Lowercase hex SHA-256 of len bytes at data into out. Returns 0 or crypto's error. */
int sigv4_sha256_hex(const SigV4Crypto *crypto, const void *data, size_t len,
                     char out[static SIGV4_SHA256_HEX_MAX]);

/* S3 URI encoding: every byte except A-Za-z0-9 - . _ ~ becomes %XX (uppercase hex);
 * sigv4_encode_path() also keeps '/', for object keys in paths, sigv4_encode_query() does
 * not, for query keys and values. s is at most SIGV4_FIELD_MAX bytes (else -EINVAL). On
 * success *ret is a new string the caller frees. Returns 0, -EINVAL or -ENOMEM. */
int sigv4_encode_path(const char *s, char **ret);
int sigv4_encode_query(const char *s, char **ret);
