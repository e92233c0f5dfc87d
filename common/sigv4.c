/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>


#include "macro.h"
#include "sigv4.h"
#include "sigv4_internal.h"
#include "timeutil.h"

/* The signature, from the bottom up (AWS S3 API Reference, sig-v4-header-based-auth):
 *
 *   CanonicalRequest = Method "\n" CanonicalURI "\n" CanonicalQuery "\n"
 *                      { lowercase-name ":" trimmed-value "\n" } "\n"
 *                      SignedHeaders "\n" HashedPayload
 *   SignedHeaders    = lowercase-name { ";" lowercase-name }
 *   StringToSign     = "AWS4-HMAC-SHA256\n" amz-date "\n" scope "\n"
 *                      hex(SHA256(CanonicalRequest))
 *   scope            = YYYYMMDD "/" region "/" service "/aws4_request"
 *   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, YYYYMMDD), region), service),
 *                           "aws4_request")
 *   Signature        = hex(HMAC(SigningKey, StringToSign))
 *
 * sigv4_canonical.c checks the input and builds the CanonicalRequest; this file hashes
 * and signs it. */

#define ALGORITHM "AWS4-HMAC-SHA256"
#define SHA256_LEN SIGV4_SHA256_LEN

static void hex_encode(const unsigned char *d, size_t n, char *out) {
        static const char hex[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hex[d[i] >> 4];
                out[2 * i + 1] = hex[d[i] & 15];
        }
        out[2 * n] = '\0';
}

int sigv4_sha256_hex(const SigV4Crypto *crypto, const void *data, size_t len,
                     char out[static SIGV4_SHA256_HEX_MAX]) {
        uint8_t md[SHA256_LEN];
        int r;

        if (!data && len > 0)
                return -EINVAL;
        r = crypto->sha256(data ? data : "", len, md);
        if (r < 0)
                return r;
        hex_encode(md, SHA256_LEN, out);
        return 0;
}

static void put_digits(char *p, unsigned v, size_t width) {
        for (size_t i = width; i > 0; i--) {
                p[i - 1] = (char) ('0' + v % 10);
                v /= 10;
        }
}

/* "YYYYMMDDTHHMMSSZ"; now is 0..SIGV4_TIME_MAX, so the year has four digits. */
static void format_amz_date(int64_t now, char out[static SIGV4_AMZ_DATE_MAX]) {
        Civil c;

        civil_from_seconds(now, &c);
        put_digits(out, (unsigned) c.year, 4);
        put_digits(out + 4, (unsigned) c.month, 2);
        put_digits(out + 6, (unsigned) c.day, 2);
        out[8] = 'T';
        put_digits(out + 9, (unsigned) c.hour, 2);
        put_digits(out + 11, (unsigned) c.minute, 2);
        put_digits(out + 13, (unsigned) c.second, 2);
        out[15] = 'Z';
        out[16] = '\0';
}

static int signing_key(const SigV4Crypto *crypto, const char *secret, const char *date,
                       const char *region, const char *service,
                       unsigned char ret[static SHA256_LEN]) {
        char k_secret[4 + SIGV4_NAME_MAX];
        unsigned char k[SHA256_LEN];
        size_t n = strlen(secret);
        int r;

        memcpy(k_secret, "AWS4", 4);
        memcpy(k_secret + 4, secret, n);

        r = crypto->hmac_sha256(k_secret, 4 + n, date, strlen(date), k);
        if (r >= 0)
                r = crypto->hmac_sha256(k, SHA256_LEN, region, strlen(region), k);
        if (r >= 0)
                r = crypto->hmac_sha256(k, SHA256_LEN, service, strlen(service), k);
        if (r >= 0)
                r = crypto->hmac_sha256(k, SHA256_LEN, "aws4_request", strlen("aws4_request"), ret);

        explicit_bzero(k_secret, sizeof(k_secret));
        explicit_bzero(k, sizeof(k));
        return r;
}

void sigv4_signature_done(SigV4Signature *s) {
        if (!s)
                return;
        free(s->authorization);
        if (s->security_token) {
                explicit_bzero(s->security_token, strlen(s->security_token));
                free(s->security_token);
        }
        if (s->canonical_request) {
                explicit_bzero(s->canonical_request, strlen(s->canonical_request));
                free(s->canonical_request);
        }
        free(s->string_to_sign);
        *s = (SigV4Signature) {};
}

int sigv4_sign(const SigV4Crypto *crypto, const SigV4Request *req, const SigV4Credentials *creds,
               const char *region, const char *service, int64_t now, SigV4Signature *ret) {
        _cleanup_(sigv4_signature_done) SigV4Signature sig = {};
        _cleanup_(str_done) Str creq = {}, signed_headers = {}, sts = {}, scope = {}, auth = {};
        const char *token = NULL;
        char date[9], creq_hash[SIGV4_SHA256_HEX_MAX];
        unsigned char key[SHA256_LEN], mac[SHA256_LEN];
        int r;

        r = sigv4_validate(req, creds, region, service, now);
        if (r < 0)
                return r;
        if (creds->session_token && creds->session_token[0] != '\0')
                token = creds->session_token;

        format_amz_date(now, sig.amz_date);
        memcpy(date, sig.amz_date, 8);
        date[8] = '\0';
        memcpy(sig.content_sha256, req->payload_sha256, strlen(req->payload_sha256) + 1);

        r = sigv4_build_canonical_request(&creq, &signed_headers, req, sig.amz_date, token);
        if (r < 0)
                return r;
        r = sigv4_sha256_hex(crypto, creq.p, creq.len, creq_hash);
        if (r < 0)
                return r;

        r = str_addv(&scope, date, "/", region, "/", service, "/aws4_request", NULL);
        if (r >= 0)
                r = str_addv(&sts, ALGORITHM "\n", sig.amz_date, "\n", scope.p, "\n", creq_hash,
                             NULL);
        if (r < 0)
                return r;

        /* Signature. */
        r = signing_key(crypto, creds->secret_access_key, date, region, service, key);
        if (r >= 0)
                r = crypto->hmac_sha256(key, SHA256_LEN, sts.p, sts.len, mac);
        explicit_bzero(key, sizeof(key));
        if (r < 0)
                return r;
        hex_encode(mac, SHA256_LEN, sig.signature);

        /* Authorization header value, in the form of the S3 documentation's examples. */
        r = str_addv(&auth, ALGORITHM " Credential=", creds->access_key_id, "/", scope.p,
                     ",SignedHeaders=", signed_headers.p, ",Signature=", sig.signature, NULL);
        if (r < 0)
                return r;

        sig.authorization = str_steal(&auth);
        sig.canonical_request = str_steal(&creq);
        sig.string_to_sign = str_steal(&sts);
        if (!sig.authorization || !sig.canonical_request || !sig.string_to_sign)
                return -ENOMEM;
        if (token) {
                sig.security_token = strdup(token);
                if (!sig.security_token)
                        return -ENOMEM;
        }

        *ret = sig;
        sig = (SigV4Signature) {};
        return 0;
}
