/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "macro.h"
#include "sigv4.h"
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
 * Headers are sorted by lowercase name. Query parameters are URI-encoded first and then
 * sorted by encoded key, then encoded value, byte by byte. */

#define ALGORITHM "AWS4-HMAC-SHA256"
#define METHOD_MAX 16
#define SHA256_LEN 32
#define SHA256_HEX_LEN (SIGV4_SHA256_HEX_MAX - 1)

/* A growing string. Growing wipes the old block, so no stray copy of a session token is
 * left in freed memory; str_done() wipes as well. */
typedef struct Str {
        char *p;                /* owned; NUL-terminated once anything was added */
        size_t len;
        size_t cap;
} Str;

static void str_done(Str *s) {
        if (s->p) {
                OPENSSL_cleanse(s->p, s->cap);
                free(s->p);
        }
        *s = (Str) {};
}

static int str_add(Str *s, const char *d, size_t n) {
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
                        OPENSSL_cleanse(s->p, s->cap);
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

static int str_adds(Str *s, const char *d) {
        return str_add(s, d, strlen(d));
}

/* Appends each string up to the NULL. */
__attribute__((sentinel)) static int str_addv(Str *s, ...) {
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
static char *str_steal(Str *s) {
        char *p;

        if (!s->p && str_add(s, "", 0) < 0)
                return NULL;
        p = s->p;
        *s = (Str) {};
        return p;
}

static bool is_unreserved(unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_upper_hex(unsigned char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* RFC 9110 tchar. */
static bool is_token_char(unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_visible(unsigned char c) {
        return c > 0x20 && c < 0x7f;
}

/* s is 1..max bytes long (0..max with allow_empty); the length goes to *ret_len. */
static bool bounded(const char *s, size_t max, bool allow_empty, size_t *ret_len) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, max + 1);
        if (n > max || (n == 0 && !allow_empty))
                return false;
        *ret_len = n;
        return true;
}

static bool valid_method(const char *s) {
        size_t n;

        if (!bounded(s, METHOD_MAX, false, &n))
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < 'A' || s[i] > 'Z')
                        return false;
        return true;
}

/* Region or service: they end up between '/' in the credential scope. */
static bool valid_scope_part(const char *s) {
        size_t n;

        if (!bounded(s, SIGV4_SCOPE_MAX, false, &n))
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (!(is_unreserved(c) && c != '.' && c != '~'))
                        return false;
        }
        return true;
}

/* 1..max bytes of visible ASCII, none of them in `reject`. */
static bool valid_visible(const char *s, size_t max, const char *reject) {
        size_t n;

        if (!bounded(s, max, false, &n))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_visible((unsigned char) s[i]) || strchr(reject, s[i]))
                        return false;
        return true;
}

static bool valid_payload_hash(const char *s) {
        size_t n;

        if (!bounded(s, SHA256_HEX_LEN, false, &n))
                return false;
        if (strcmp(s, SIGV4_UNSIGNED_PAYLOAD) == 0)
                return true;
        if (n != SHA256_HEX_LEN)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* An already-encoded canonical URI: '/', then unreserved characters, '/' and %XX only. */
static bool valid_encoded_path(const char *s) {
        size_t n;

        if (!bounded(s, 3 * SIGV4_FIELD_MAX, false, &n) || s[0] != '/')
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (is_unreserved(c) || c == '/')
                        continue;
                if (c != '%' || i + 2 >= n || !is_upper_hex((unsigned char) s[i + 1]) ||
                    !is_upper_hex((unsigned char) s[i + 2]))
                        return false;
                i += 2;
        }
        return true;
}

static int str_add_encoded(Str *s, const char *d, size_t n, bool keep_slash) {
        static const char hex[] = "0123456789ABCDEF";
        int r;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) d[i];

                if (is_unreserved(c) || (keep_slash && c == '/'))
                        r = str_add(s, &d[i], 1);
                else
                        r = str_add(s, (const char[3]) { '%', hex[c >> 4], hex[c & 15] }, 3);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int encode(const char *s, bool keep_slash, char **ret) {
        _cleanup_(str_done) Str b = {};
        size_t n;
        char *p;
        int r;

        if (!bounded(s, SIGV4_FIELD_MAX, true, &n))
                return -EINVAL;

        r = str_add_encoded(&b, s, n, keep_slash);
        if (r < 0)
                return r;

        p = str_steal(&b);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int sigv4_encode_path(const char *s, char **ret) {
        return encode(s, true, ret);
}

int sigv4_encode_query(const char *s, char **ret) {
        return encode(s, false, ret);
}

static void hex_encode(const unsigned char *d, size_t n, char *out) {
        static const char hex[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hex[d[i] >> 4];
                out[2 * i + 1] = hex[d[i] & 15];
        }
        out[2 * n] = '\0';
}

/* The one boundary where libcrypto's error queue becomes an errno (STYLE B4). */
static int crypto_failed(void) {
        ERR_clear_error();
        return -EIO;
}

int sigv4_sha256_hex(const void *data, size_t len, char out[static SIGV4_SHA256_HEX_MAX]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;

        if (!data && len > 0)
                return -EINVAL;
        if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
            mdlen != SHA256_LEN)
                return crypto_failed();

        hex_encode(md, SHA256_LEN, out);
        return 0;
}

static int hmac_sha256(const void *key, size_t key_len, const void *d, size_t n,
                       unsigned char out[static SHA256_LEN]) {
        unsigned outlen = 0;

        if (!HMAC(EVP_sha256(), key, (int) key_len, d, n, out, &outlen) || outlen != SHA256_LEN)
                return crypto_failed();
        return 0;
}

/* One header of the canonical request. */
typedef struct Canon {
        char name[SIGV4_NAME_MAX + 1];  /* lowercase */
        const char *value;              /* borrowed, validated */
} Canon;

static int canon_compare(const void *a, const void *b) {
        return strcmp(((const Canon *) a)->name, ((const Canon *) b)->name);
}

static int canon_set(Canon *c, const char *name, const char *value) {
        size_t n, vn;

        if (!bounded(name, SIGV4_NAME_MAX, false, &n) ||
            !bounded(value, SIGV4_VALUE_MAX, true, &vn))
                return -EINVAL;

        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char) name[i];

                if (!is_token_char(ch))
                        return -EINVAL;
                c->name[i] = (char) (ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        }
        c->name[n] = '\0';

        /* No CR, LF or other control bytes: they would forge lines in the canonical request
         * and HTTP forbids them anyway. Tab is refused too, so that only spaces need
         * trimming and the signed form cannot differ from what S3 makes of the value. */
        for (size_t i = 0; i < vn; i++) {
                unsigned char ch = (unsigned char) value[i];

                if (ch < 0x20 || ch == 0x7f)
                        return -EINVAL;
        }
        c->value = value;
        return 0;
}

/* value with leading and trailing spaces removed and each run of spaces made one. */
static int str_add_trimmed(Str *s, const char *value) {
        bool pending_space = false, started = false;
        int r;

        for (const char *p = value; *p; p++) {
                if (*p == ' ') {
                        pending_space = started;
                        continue;
                }
                if (pending_space) {
                        r = str_add(s, " ", 1);
                        if (r < 0)
                                return r;
                        pending_space = false;
                }
                r = str_add(s, p, 1);
                if (r < 0)
                        return r;
                started = true;
        }
        return 0;
}

/* One query parameter, encoded. */
typedef struct Param {
        char *key;      /* owned */
        char *value;    /* owned */
} Param;

static int param_compare(const void *a, const void *b) {
        const Param *x = a, *y = b;
        int c = strcmp(x->key, y->key);

        return c != 0 ? c : strcmp(x->value, y->value);
}

typedef struct Params {
        Param p[SIGV4_QUERY_MAX];
        size_t n;
} Params;

static void params_done(Params *ps) {
        for (size_t i = 0; i < ps->n; i++) {
                free(ps->p[i].key);
                free(ps->p[i].value);
        }
        ps->n = 0;
}

static int add_canonical_query(Str *s, const SigV4Param *query, size_t n_query) {
        _cleanup_(params_done) Params ps = {};
        int r;

        if (n_query > SIGV4_QUERY_MAX || (n_query > 0 && !query))
                return -EINVAL;

        for (size_t i = 0; i < n_query; i++) {
                Param *p = &ps.p[ps.n++];

                if (!query[i].key || query[i].key[0] == '\0')
                        return -EINVAL;
                r = sigv4_encode_query(query[i].key, &p->key);
                if (r < 0)
                        return r;
                r = sigv4_encode_query(query[i].value ? query[i].value : "", &p->value);
                if (r < 0)
                        return r;
        }
        qsort(ps.p, ps.n, sizeof(Param), param_compare);

        for (size_t i = 0; i < ps.n; i++) {
                r = str_addv(s, i > 0 ? "&" : "", ps.p[i].key, "=", ps.p[i].value, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool is_reserved_header(const char *lower_name) {
        static const char *const reserved[] = {
                "authorization", "host", "x-amz-content-sha256", "x-amz-date",
                "x-amz-security-token",
        };

        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (strcmp(lower_name, reserved[i]) == 0)
                        return true;
        return false;
}

/* Appends the canonical headers block (each "name:value\n") to s and the signed header
 * list to signed_headers. */
static int add_canonical_headers(Str *s, Str *signed_headers, const SigV4Request *req,
                                 const char *amz_date, const char *session_token) {
        Canon h[SIGV4_HEADERS_MAX + 4];
        size_t n = 0;
        int r;

        if (req->n_headers > SIGV4_HEADERS_MAX || (req->n_headers > 0 && !req->headers))
                return -EINVAL;

        for (size_t i = 0; i < req->n_headers; i++) {
                r = canon_set(&h[n], req->headers[i].name, req->headers[i].value);
                if (r < 0)
                        return r;
                if (is_reserved_header(h[n].name))
                        return -EINVAL;
                n++;
        }

        r = canon_set(&h[n++], "host", req->host);
        if (r < 0)
                return r;
        r = canon_set(&h[n++], "x-amz-date", amz_date);
        if (r < 0)
                return r;
        if (!(req->flags & SIGV4_NO_CONTENT_SHA256)) {
                r = canon_set(&h[n++], "x-amz-content-sha256", req->payload_sha256);
                if (r < 0)
                        return r;
        }
        if (session_token) {
                r = canon_set(&h[n++], "x-amz-security-token", session_token);
                if (r < 0)
                        return r;
        }

        qsort(h, n, sizeof(Canon), canon_compare);

        for (size_t i = 0; i < n; i++) {
                /* The same name twice would have to be joined with ','; callers have no
                 * reason to do that, so it is refused rather than guessed at. */
                if (i > 0 && strcmp(h[i - 1].name, h[i].name) == 0)
                        return -EINVAL;

                r = str_addv(s, h[i].name, ":", NULL);
                if (r >= 0)
                        r = str_add_trimmed(s, h[i].value);
                if (r >= 0)
                        r = str_adds(s, "\n");
                if (r >= 0)
                        r = str_addv(signed_headers, i > 0 ? ";" : "", h[i].name, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int build_canonical_request(Str *creq, Str *signed_headers, const SigV4Request *req,
                                   const char *amz_date, const char *session_token) {
        int r;

        r = str_addv(creq, req->method, "\n", NULL);
        if (r >= 0) {
                if (req->flags & SIGV4_PATH_ENCODED)
                        r = str_adds(creq, req->path);
                else
                        r = str_add_encoded(creq, req->path, strlen(req->path), true);
        }
        if (r >= 0)
                r = str_adds(creq, "\n");
        if (r >= 0)
                r = add_canonical_query(creq, req->query, req->n_query);
        if (r >= 0)
                r = str_adds(creq, "\n");
        if (r >= 0)
                r = add_canonical_headers(creq, signed_headers, req, amz_date, session_token);
        if (r >= 0)
                r = str_addv(creq, "\n", signed_headers->p, "\n", req->payload_sha256, NULL);
        return r;
}

static int validate(const SigV4Request *req, const SigV4Credentials *creds, const char *region,
                    const char *service, int64_t now) {
        size_t n;

        if (!req || !creds)
                return -EINVAL;
        if (!valid_method(req->method))
                return -EINVAL;
        if (!valid_visible(req->host, SIGV4_HOST_MAX, ""))
                return -EINVAL;
        if (req->flags & SIGV4_PATH_ENCODED) {
                if (!valid_encoded_path(req->path))
                        return -EINVAL;
        } else if (!bounded(req->path, SIGV4_FIELD_MAX, false, &n) || req->path[0] != '/')
                return -EINVAL;
        if (!valid_payload_hash(req->payload_sha256))
                return -EINVAL;
        if ((req->flags & ~(SIGV4_PATH_ENCODED | SIGV4_NO_CONTENT_SHA256)) != 0)
                return -EINVAL;

        if (!valid_visible(creds->access_key_id, SIGV4_NAME_MAX, "/,"))
                return -EINVAL;
        if (!bounded(creds->secret_access_key, SIGV4_NAME_MAX, false, &n))
                return -EINVAL;
        if (creds->session_token && creds->session_token[0] != '\0' &&
            !valid_visible(creds->session_token, SIGV4_VALUE_MAX, ""))
                return -EINVAL;

        if (!valid_scope_part(region) || !valid_scope_part(service))
                return -EINVAL;
        if (now < 0 || now > SIGV4_TIME_MAX)
                return -EINVAL;
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

static int signing_key(const char *secret, const char *date, const char *region,
                       const char *service, unsigned char ret[static SHA256_LEN]) {
        char k_secret[4 + SIGV4_NAME_MAX];
        unsigned char k[SHA256_LEN];
        size_t n = strlen(secret);
        int r;

        memcpy(k_secret, "AWS4", 4);
        memcpy(k_secret + 4, secret, n);

        r = hmac_sha256(k_secret, 4 + n, date, strlen(date), k);
        if (r >= 0)
                r = hmac_sha256(k, SHA256_LEN, region, strlen(region), k);
        if (r >= 0)
                r = hmac_sha256(k, SHA256_LEN, service, strlen(service), k);
        if (r >= 0)
                r = hmac_sha256(k, SHA256_LEN, "aws4_request", strlen("aws4_request"), ret);

        OPENSSL_cleanse(k_secret, sizeof(k_secret));
        OPENSSL_cleanse(k, sizeof(k));
        return r;
}

void sigv4_signature_done(SigV4Signature *s) {
        if (!s)
                return;
        free(s->authorization);
        if (s->security_token) {
                OPENSSL_cleanse(s->security_token, strlen(s->security_token));
                free(s->security_token);
        }
        if (s->canonical_request) {
                OPENSSL_cleanse(s->canonical_request, strlen(s->canonical_request));
                free(s->canonical_request);
        }
        free(s->string_to_sign);
        *s = (SigV4Signature) {};
}

int sigv4_sign(const SigV4Request *req, const SigV4Credentials *creds, const char *region,
               const char *service, int64_t now, SigV4Signature *ret) {
        _cleanup_(sigv4_signature_done) SigV4Signature sig = {};
        _cleanup_(str_done) Str creq = {}, signed_headers = {}, sts = {}, scope = {}, auth = {};
        const char *token = NULL;
        char date[9], creq_hash[SIGV4_SHA256_HEX_MAX];
        unsigned char key[SHA256_LEN], mac[SHA256_LEN];
        int r;

        r = validate(req, creds, region, service, now);
        if (r < 0)
                return r;
        if (creds->session_token && creds->session_token[0] != '\0')
                token = creds->session_token;

        format_amz_date(now, sig.amz_date);
        memcpy(date, sig.amz_date, 8);
        date[8] = '\0';
        memcpy(sig.content_sha256, req->payload_sha256, strlen(req->payload_sha256) + 1);

        r = build_canonical_request(&creq, &signed_headers, req, sig.amz_date, token);
        if (r < 0)
                return r;
        r = sigv4_sha256_hex(creq.p, creq.len, creq_hash);
        if (r < 0)
                return r;

        r = str_addv(&scope, date, "/", region, "/", service, "/aws4_request", NULL);
        if (r >= 0)
                r = str_addv(&sts, ALGORITHM "\n", sig.amz_date, "\n", scope.p, "\n", creq_hash,
                             NULL);
        if (r < 0)
                return r;

        /* Signature. */
        r = signing_key(creds->secret_access_key, date, region, service, key);
        if (r >= 0)
                r = hmac_sha256(key, SHA256_LEN, sts.p, sts.len, mac);
        OPENSSL_cleanse(key, sizeof(key));
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
