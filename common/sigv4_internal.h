/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the two halves of SigV4 only:
 *   sigv4.c            signing: string to sign, key derivation, HMAC, the Authorization value
 *   sigv4_canonical.c  checking the input, URI encoding, the canonical request
 * Internal to common/. The algorithm is outlined at the top of sigv4.c. */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

/* A growing string. Growing wipes the old block, so no stray copy of a session token is
 * left in freed memory; str_done() wipes as well. */
typedef struct Str {
        char *p;                /* owned; NUL-terminated once anything was added */
        size_t len;
        size_t cap;
} Str;

static inline void str_done(Str *s) {
        if (s->p) {
                explicit_bzero(s->p, s->cap);
                free(s->p);
        }
        *s = (Str) {};
}

static inline int str_add(Str *s, const char *d, size_t n) {
        if (n >= SIZE_MAX / 4 - s->len)
                return -ENOMEM;

        if (s->len + n + 1 > s->cap) {
                size_t cap = s->cap > 0 ? s->cap : 256;
                char *p;

                while (cap < s->len + n + 1)
                        cap *= 2;
                p = malloc(cap);
                if (!p)
                        return -ENOMEM;
                if (s->p) {
                        memcpy(p, s->p, s->len);
                        explicit_bzero(s->p, s->cap);
                        free(s->p);
                }
                s->p = p;
                s->cap = cap;
        }
        memcpy(s->p + s->len, d, n);
        s->len += n;
        s->p[s->len] = '\0';
        return 0;
}

static inline int str_adds(Str *s, const char *d) {
        return str_add(s, d, strlen(d));
}

/* Appends each string up to the NULL. */
__attribute__((sentinel)) static inline int str_addv(Str *s, ...) {
        const char *d;
        va_list ap;
        int r = 0;

        va_start(ap, s);
        while (r >= 0 && (d = va_arg(ap, const char *)))
                r = str_adds(s, d);
        va_end(ap);
        return r;
}

/* Hands the string out; "" if nothing was added. NULL when out of memory. */
static inline char *str_steal(Str *s) {
        char *p;

        if (!s->p && str_add(s, "", 0) < 0)
                return NULL;
        p = s->p;
        *s = (Str) {};
        return p;
}

/* Checks everything sigv4_sign() is given. Returns 0 or -EINVAL. */
int sigv4_validate(const SigV4Request *req, const SigV4Credentials *creds, const char *region,
                   const char *service, int64_t now);

/* The CanonicalRequest of the validated req into creq, its SignedHeaders into
 * signed_headers; amz_date and session_token (NULL without one) are signed as headers.
 * Returns 0, -EINVAL or -ENOMEM. */
int sigv4_build_canonical_request(Str *creq, Str *signed_headers, const SigV4Request *req,
                                  const char *amz_date, const char *session_token);
