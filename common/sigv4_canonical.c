/* SPDX-License-Identifier: MIT */
/* The input of a signature, checked, and the CanonicalRequest made of it (the grammar is at
 * the top of sigv4.c). Headers are sorted by lowercase name. Query parameters are URI-encoded
 * first and then sorted by encoded key, then encoded value, byte by byte. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sigv4.h"
#include "sigv4_internal.h"

#define METHOD_MAX 16
#define SHA256_HEX_LEN (SIGV4_SHA256_HEX_MAX - 1)

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

int sigv4_build_canonical_request(Str *creq, Str *signed_headers, const SigV4Request *req,
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

int sigv4_validate(const SigV4Request *req, const SigV4Credentials *creds, const char *region,
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
