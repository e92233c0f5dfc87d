/* SPDX-License-Identifier: MIT */
/* Signed S3 requests (s3.h). One request, S3Op, goes:
 *
 *   s3_request_start ──> op_run: credentials? ── now ──> op_send: sign, http_request_start
 *                              │                                  │
 *                              └─ being fetched: wait (creds_cb) ─┘
 *   http done ──> s3_on_http_done: Date → clock, error XML → code ──> done(resp)
 *                 (RequestTimeTooSkewed, or expired credentials: op_run once more)
 *
 * A failure before anything was sent (no credentials, signing, ENOMEM) is queued on the
 * client's idle handle and delivered from the loop, so done never runs inside
 * s3_request_start(). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "macro.h"
#include "parse.h"
#include "s3.h"
#include "s3_creds.h"
#include "timeutil.h"

#define CLOCK_CORRECT_SEC       60      /* follow the server's Date when we are this far off */
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
        void *body;
        size_t body_size;
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

/* ---- clock ---- */

static int64_t local_now(const S3Client *c) {
        return (int64_t) time(NULL) + c->clock_offset;
}

int64_t s3_client_now(const S3Client *c) {
        return local_now(c) + c->server_offset;
}

static void clock_follow(S3Client *c, int64_t server) {
        int64_t d = server - s3_client_now(c);

        if (d > CLOCK_CORRECT_SEC || d < -CLOCK_CORRECT_SEC)
                c->server_offset = server - local_now(c);
}

/* ---- pure helpers ---- */

int s3_parse_http_date(const char *s, int64_t *ret) {
        static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        char wday[4], mon[4], zone[4];
        int d, y, hh, mm, ss, n = 0;
        const char *m;

        if (sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wday, &d, mon, &y, &hh, &mm, &ss,
                   zone, &n) != 8 || s[n] != 0)
                return -EINVAL;
        m = strstr(months, mon);
        if (strlen(mon) != 3 || !m || (m - months) % 3 != 0 || strcmp(zone, "GMT") != 0 ||
            wday[3] != 0 || strlen(wday) != 3 || s[3] != ',')
                return -EINVAL;
        if (d < 1 || d > days_in_month(y, (int) (m - months) / 3 + 1) || hh > 23 || mm > 59 ||
            ss > 60 || hh < 0 || mm < 0 || ss < 0)
                return -EINVAL;
        *ret = days_from_civil(y, (int) (m - months) / 3 + 1, d) * 86400 + hh * 3600 + mm * 60 +
               ss;
        return 0;
}

int s3_parse_iso8601(const char *s, int64_t *ret) {
        char buf[40];
        size_t n = strlen(s);
        bool absolute;

        if (n >= sizeof(buf) || n < 20)
                return -EINVAL;
        memcpy(buf, s, n + 1);
        if (buf[19] == '.') {           /* drop fractional seconds: ".000Z" → "Z" */
                size_t d = strspn(buf + 20, "0123456789");

                memmove(buf + 19, buf + 20 + d, n - 20 - d + 1);
        }
        if (parse_timestamp(buf, ret, &absolute) < 0 || !absolute)
                return -EINVAL;
        return 0;
}

int s3_xml_element(const char **p, const char *end, const char *name, const char **ret_inner,
                   size_t *ret_len) {
        size_t n = strlen(name);
        const char *s = *p;

        for (;;) {
                const char *open = memchr(s, '<', (size_t) (end - s)), *gt, *close;

                if (!open || (size_t) (end - open) < n + 2)
                        return 0;
                s = open + 1;
                if (strncmp(s, name, n) != 0 || !strchr(" \t\r\n/>", s[n]))
                        continue;
                gt = memchr(s, '>', (size_t) (end - s));
                if (!gt)
                        return -EBADMSG;
                if (gt[-1] == '/') {            /* <name/> */
                        *ret_inner = gt;
                        *ret_len = 0;
                        *p = gt + 1;
                        return 1;
                }
                for (close = gt + 1;; close++) {
                        close = memchr(close, '<', (size_t) (end - close));
                        if (!close || (size_t) (end - close) < n + 3)
                                return -EBADMSG;
                        if (close[1] == '/' && strncmp(close + 2, name, n) == 0 &&
                            close[2 + n] == '>')
                                break;
                }
                *ret_inner = gt + 1;
                *ret_len = (size_t) (close - (gt + 1));
                *p = close + n + 3;
                return 1;
        }
}

int s3_xml_text(const char *s, size_t len, char **ret) {
        static const struct {
                const char *name;
                char ch;
        } entities[] = { { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' },
                         { "apos;", '\'' } };
        _cleanup_free_ char *out = malloc(len + 1);
        size_t o = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len;) {
                bool ok = false;

                if (s[i] == '<')
                        return -EBADMSG;
                if (s[i] != '&') {
                        out[o++] = s[i++];
                        continue;
                }
                for (size_t e = 0; e < ELEMENTSOF(entities); e++) {
                        size_t n = strlen(entities[e].name);

                        if (len - i - 1 >= n && strncmp(s + i + 1, entities[e].name, n) == 0) {
                                out[o++] = entities[e].ch;
                                i += 1 + n;
                                ok = true;
                                break;
                        }
                }
                if (!ok && i + 2 < len && s[i + 1] == '#') {
                        bool hex = s[i + 2] == 'x';
                        size_t j = i + 2 + hex;
                        unsigned v = 0;

                        for (; j < len && j < i + 10 && s[j] != ';'; j++) {
                                int dig = s[j] >= '0' && s[j] <= '9' ? s[j] - '0' :
                                          hex && s[j] >= 'a' && s[j] <= 'f' ? s[j] - 'a' + 10 :
                                          hex && s[j] >= 'A' && s[j] <= 'F' ? s[j] - 'A' + 10 : -1;

                                if (dig < 0)
                                        return -EBADMSG;
                                v = v * (hex ? 16 : 10) + (unsigned) dig;
                        }
                        if (j >= len || s[j] != ';' || v == 0 || v > 127)
                                return -EBADMSG;
                        out[o++] = (char) v;
                        i = j + 1;
                        ok = true;
                }
                if (!ok)
                        return -EBADMSG;
        }
        out[o] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- client ---- */

static bool name_ok(const char *s, const char *extra, size_t max) {
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > max)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || strchr(extra, *s)))
                        return false;
        return true;
}

static S3Client *client_free(S3Client *c) {
        if (!c)
                return NULL;
        s3_creds_free(c->creds);
        free(c->scheme);
        free(c->host);
        free(c->base_path);
        free(c->region);
        free(c->ca_file);
        free(c->describe);
        free(c);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(S3Client *, client_free);

_printf_(2, 3) static int fail_msg(char **reterr_message, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(reterr_message, fmt, ap) < 0)
                *reterr_message = NULL;
        va_end(ap);
        return -EINVAL;
}

/* endpoint "http[s]://HOST[:PORT][/]" into scheme and host[:port]. */
static int endpoint_split(const char *endpoint, char **ret_scheme, char **ret_host) {
        const char *rest;
        size_t n;

        if (strncasecmp(endpoint, "https://", 8) == 0) {
                *ret_scheme = strdup("https");
                rest = endpoint + 8;
        } else if (strncasecmp(endpoint, "http://", 7) == 0) {
                *ret_scheme = strdup("http");
                rest = endpoint + 7;
        } else
                return -EINVAL;
        if (!*ret_scheme)
                return -ENOMEM;
        n = strcspn(rest, "/?#@ \t\r\n");
        if (n == 0 || (rest[n] != 0 && strcmp(rest + n, "/") != 0))
                return -EINVAL;
        *ret_host = strndup(rest, n);
        return *ret_host ? 0 : -ENOMEM;
}

static bool host_is_ip(const char *host) {
        size_t n = strcspn(host, ":");

        return host[0] == '[' || strspn(host, "0123456789.") == n;
}

int s3_client_new(uv_loop_t *loop, const S3ClientConfig *cfg, S3Client **ret,
                  char **reterr_message) {
        _cleanup_(client_freep) S3Client *c = NULL;
        _cleanup_free_ char *ep_host = NULL;
        const char *region = cfg->region ?: "us-east-1";
        int r;

        if (!name_ok(cfg->bucket, ".-_", 255))
                return fail_msg(reterr_message, "invalid S3 bucket name '%s'",
                                cfg->bucket ?: "");
        if (!name_ok(region, "-_", SIGV4_SCOPE_MAX))
                return fail_msg(reterr_message, "invalid S3 region '%s'", region);
        c = calloc(1, sizeof(S3Client));
        if (!c)
                return -ENOMEM;
        c->loop = loop;
        c->clock_offset = cfg->clock_offset;
        c->region = strdup(region);
        if (!c->region || (cfg->ca_file && !(c->ca_file = strdup(cfg->ca_file))))
                return -ENOMEM;
        if (cfg->endpoint) {
                r = endpoint_split(cfg->endpoint, &c->scheme, &ep_host);
                if (r == -EINVAL)
                        return fail_msg(reterr_message, "invalid S3 endpoint '%s': want "
                                        "http[s]://HOST[:PORT]", cfg->endpoint);
                if (r < 0)
                        return r;
        } else if (!(c->scheme = strdup("https")) ||
                   asprintf(&ep_host, "s3.%s.amazonaws.com", region) < 0) {
                ep_host = NULL;
                return -ENOMEM;
        }
        if (!cfg->path_style && host_is_ip(ep_host))
                return fail_msg(reterr_message, "S3 endpoint '%s' is an IP address: "
                                "virtual-hosted-style URLs need a host name (set path_style)",
                                cfg->endpoint);
        /* asprintf() leaves its pointer undefined on failure: NULL it for client_free(). */
        if (cfg->path_style) {
                c->host = strdup(ep_host);
                if (asprintf(&c->base_path, "/%s", cfg->bucket) < 0)
                        c->base_path = NULL;
        } else {
                if (asprintf(&c->host, "%s.%s", cfg->bucket, ep_host) < 0)
                        c->host = NULL;
                c->base_path = strdup("");
        }
        if (asprintf(&c->describe, "bucket '%s' at %s://%s", cfg->bucket, c->scheme, ep_host) < 0)
                c->describe = NULL;
        r = c->host && c->base_path && c->describe ? 0 : -ENOMEM;
        if (r < 0)
                return r;
        if (strlen(c->host) >= SIGV4_HOST_MAX)
                return fail_msg(reterr_message, "S3 host name too long: '%s'", ep_host);

        r = s3_creds_new(&c->creds, reterr_message);
        if (r < 0)
                return r;
        /* Last: from here on c owns uv handles and is only freed by s3_client_close(). */
        c->http = http_client_new(loop);
        if (!c->http)
                return -errno;
        (void) uv_idle_init(loop, &c->defer);
        *ret = TAKE_PTR(c);
        return 0;
}

const char *s3_client_describe(const S3Client *c) {
        return c->describe;
}

const char *s3_client_creds_source(const S3Client *c) {
        return s3_creds_source(c->creds);
}

/* ---- requests ---- */

static void op_free(S3Op *op) {
        S3Client *c = op->client;

        if (op->prev)
                op->prev->next = op->next;
        else
                c->ops = op->next;
        if (op->next)
                op->next->prev = op->prev;
        free(op->key);
        for (size_t i = 0; i < op->n_query; i++) {
                free((char *) op->query[i].key);
                free((char *) op->query[i].value);
        }
        free(op->query);
        free(op->if_match);
        free(op->content_type);
        free(op->body);
        free(op);
}

static const char *op_what(const S3Op *op, char *buf, size_t size) {
        if (op->key)
                (void) snprintf(buf, size, "%s '%s'", http_method_to_string(op->method), op->key);
        else
                (void) snprintf(buf, size, "%s of the bucket listing",
                                http_method_to_string(op->method));
        return buf;
}

static void s3_on_defer(uv_idle_t *idle) {
        S3Client *c = container_of(idle, S3Client, defer);

        for (;;) {
                S3Op *op = c->ops;

                while (op && op->state != OP_DEFERRED)
                        op = op->next;
                if (!op)
                        break;
                op->state = OP_DELIVERING;
                op->done(&(S3Response) { .error = op->error, .message = op->message,
                                         .code = "", .date = -1, .last_modified = -1,
                                         .body = "" }, op->userdata);
                op_free(op);
        }
        (void) uv_idle_stop(idle);
}

/* "cannot send S3 PUT 'key': why" */
static void op_defer(S3Op *op, int error, const char *what, const char *why) {
        char buf[256];

        op->state = OP_DEFERRED;
        op->error = error;
        (void) snprintf(op->message, sizeof(op->message), "%s S3 %s: %s", what,
                        op_what(op, buf, sizeof(buf)), why);
        (void) uv_idle_start(&op->client->defer, s3_on_defer);
}

static void s3_on_http_done(HttpResponse *resp, void *userdata);
static void s3_on_creds(S3CredsWait *w, int error, const char *message);

static char *join_query(const S3Op *op) {
        char *q = strdup(""), *k = NULL, *v = NULL, *n;

        for (size_t i = 0; q && i < op->n_query; i++) {
                if (sigv4_encode_query(op->query[i].key, &k) < 0 ||
                    sigv4_encode_query(op->query[i].value ?: "", &v) < 0 ||
                    asprintf(&n, "%s%s%s=%s", q, i ? "&" : "", k, v) < 0)
                        n = NULL;
                free(q);
                free(k);
                free(v);
                k = v = NULL;
                q = n;
        }
        return q;
}

/* Sign and send. Credentials are valid only during this call. */
static void op_send(S3Op *op, const SigV4Credentials *creds) {
        S3Client *c = op->client;
        _cleanup_free_ char *key = NULL, *path = NULL, *query = NULL, *url = NULL;
        char *lines[9] = {};
        SigV4Header signed_headers[3];
        SigV4Signature sig = {};
        size_t n_signed = 0, n = 0;
        int r;

        if (op->if_none_match)
                signed_headers[n_signed++] = (SigV4Header) { "If-None-Match", "*" };
        if (op->if_match)
                signed_headers[n_signed++] = (SigV4Header) { "If-Match", op->if_match };
        if (op->content_type)
                signed_headers[n_signed++] = (SigV4Header) { "Content-Type", op->content_type };

        r = op->key ? sigv4_encode_path(op->key, &key) : 0;
        if (r >= 0 && asprintf(&path, "%s%s%s", c->base_path, op->key || !*c->base_path ? "/" : "",
                               key ?: "") < 0)
                r = -ENOMEM;
        if (r >= 0 && !(query = join_query(op)))
                r = -ENOMEM;
        if (r >= 0 && asprintf(&url, "%s://%s%s%s%s", c->scheme, c->host, path,
                               *query ? "?" : "", query) < 0)
                r = -ENOMEM;
        if (r >= 0)
                r = sigv4_sign(&(SigV4Request) {
                                       .method = http_method_to_string(op->method),
                                       .host = c->host,
                                       .path = path,
                                       .query = op->query,
                                       .n_query = op->n_query,
                                       .headers = signed_headers,
                                       .n_headers = n_signed,
                                       .payload_sha256 = op->body_sha256,
                                       .flags = SIGV4_PATH_ENCODED,
                               }, creds, c->region, "s3", s3_client_now(c), &sig);
        if (r < 0) {
                op_defer(op, r, "cannot sign", strerror(-r));
                return;
        }

        if (asprintf(&lines[n++], "Host: %s", c->host) < 0 ||
            asprintf(&lines[n++], "x-amz-date: %s", sig.amz_date) < 0 ||
            asprintf(&lines[n++], "x-amz-content-sha256: %s", sig.content_sha256) < 0 ||
            asprintf(&lines[n++], "Authorization: %s", sig.authorization) < 0 ||
            (sig.security_token &&
             asprintf(&lines[n++], "x-amz-security-token: %s", sig.security_token) < 0) ||
            (op->if_none_match && asprintf(&lines[n++], "If-None-Match: *") < 0) ||
            (op->if_match && asprintf(&lines[n++], "If-Match: %s", op->if_match) < 0) ||
            (op->content_type && asprintf(&lines[n++], "Content-Type: %s", op->content_type) < 0)) {
                lines[--n] = NULL;      /* asprintf leaves it undefined on failure */
                r = -ENOMEM;
        }
        sigv4_signature_done(&sig);
        if (r >= 0)
                r = http_request_start(c->http, &(HttpRequest) {
                                               .method = op->method,
                                               .url = url,
                                               .headers = (const char *const *) lines,
                                               .body = op->body,
                                               .body_size = op->body_size,
                                               .body_borrowed = true,
                                               .timeout_ms = op->timeout_ms,
                                               .max_body = op->max_body,
                                               .ca_file = c->ca_file,
                                               .done = s3_on_http_done,
                                               .userdata = op,
                                       }, &op->transfer);
        for (size_t i = 0; i < n; i++) {
                if (lines[i])
                        explicit_bzero(lines[i], strlen(lines[i]));     /* the session token */
                free(lines[i]);
        }
        if (r < 0) {
                op_defer(op, r, "cannot send", strerror(-r));
                return;
        }
        op->state = OP_SENDING;
}

static void op_run(S3Op *op) {
        SigV4Credentials creds;
        const char *why = NULL;
        int r;

        op->state = OP_WAIT_CREDS;
        r = s3_creds_get(op->client->creds, op->client->http, s3_client_now(op->client), &creds,
                         &op->wait, s3_on_creds, &why);
        if (r == -EINPROGRESS)
                return;
        if (r < 0) {
                op_defer(op, r, "no credentials for", why);
                return;
        }
        op_send(op, &creds);
}

static void s3_on_creds(S3CredsWait *w, int error, const char *message) {
        S3Op *op = container_of(w, S3Op, wait);

        if (error < 0) {
                op_defer(op, error, "no credentials for", message);
                return;
        }
        op_run(op);
}

int s3_request_start(S3Client *c, const S3Request *req, S3Op **ret_op) {
        S3Op *op;
        int r;

        if (!req->done || req->n_query > SIGV4_QUERY_MAX || (req->body && req->method != HTTP_PUT))
                return -EINVAL;
        if (c->closing)
                return -ESHUTDOWN;
        op = calloc(1, sizeof(S3Op));
        if (!op)
                return -ENOMEM;
        op->client = c;
        op->next = c->ops;
        if (op->next)
                op->next->prev = op;
        c->ops = op;
        op->state = OP_WAIT_CREDS;
        op->method = req->method;
        op->if_none_match = req->if_none_match;
        op->timeout_ms = req->timeout_ms;
        op->max_body = req->max_body;
        op->done = req->done;
        op->userdata = req->userdata;
        op->body_size = req->body ? req->body_size : 0;
        r = 0;
        if ((req->key && !(op->key = strdup(req->key))) ||
            (req->if_match && !(op->if_match = strdup(req->if_match))) ||
            (req->content_type && !(op->content_type = strdup(req->content_type))) ||
            (req->n_query > 0 && !(op->query = calloc(req->n_query, sizeof(SigV4Param)))))
                r = -ENOMEM;
        for (size_t i = 0; r == 0 && i < req->n_query; i++) {
                op->n_query++;
                op->query[i].key = strdup(req->query[i].key);
                op->query[i].value = strdup(req->query[i].value ?: "");
                if (!op->query[i].key || !op->query[i].value)
                        r = -ENOMEM;
        }
        if (r == 0 && req->body) {
                op->body = malloc(op->body_size ?: 1);
                if (op->body)
                        memcpy(op->body, req->body, op->body_size);
                else
                        r = -ENOMEM;
        }
        if (r == 0)
                r = sigv4_sha256_hex(op->body ?: "", op->body_size, op->body_sha256);
        if (r < 0) {
                op_free(op);
                return r;
        }
        op_run(op);
        if (ret_op)
                *ret_op = op;
        return 0;
}

void s3_request_cancel(S3Op *op) {
        if (!op)
                return;
        switch (op->state) {
        case OP_WAIT_CREDS:
                s3_creds_cancel(&op->wait);
                op_free(op);
                break;
        case OP_DEFERRED:
                op_free(op);
                break;
        case OP_SENDING:
                op->state = OP_CANCELLED;
                http_request_cancel(op->transfer);      /* done frees op, later */
                break;
        case OP_CANCELLED:
        case OP_DELIVERING:
                break;
        }
}

/* The code and message of an S3 error body; false if it is not S3 error XML. */
static bool error_parse(const HttpResponse *resp, char *code, size_t code_size, char *message,
                        size_t message_size, int64_t *ret_server_time) {
        const char *p = resp->body, *end = resp->body + resp->body_size, *inner, *in_code;
        _cleanup_free_ char *c = NULL, *m = NULL, *t = NULL;
        size_t len, code_len;

        if (s3_xml_element(&p, end, "Error", &inner, &len) != 1)
                return false;
        p = inner;
        end = inner + len;
        if (s3_xml_element(&p, end, "Code", &in_code, &code_len) != 1 ||
            s3_xml_text(in_code, code_len, &c) < 0 || !*c || strlen(c) >= code_size)
                return false;
        for (const char *s = c; *s; s++)
                if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
                        return false;
        memcpy(code, c, strlen(c) + 1);
        p = inner;
        if (s3_xml_element(&p, end, "Message", &inner, &len) == 1 &&
            s3_xml_text(inner, len, &m) == 0) {
                for (char *s = m; *s; s++)
                        if (*s < ' ' || *s > '~')
                                *s = ' ';
                (void) snprintf(message, message_size, "%.*s", MESSAGE_FROM_SERVER_MAX, m);
        }
        p = resp->body;
        if (s3_xml_element(&p, resp->body + resp->body_size, "ServerTime", &inner, &len) == 1 &&
            s3_xml_text(inner, len, &t) == 0)
                (void) s3_parse_iso8601(t, ret_server_time);
        return true;
}

static void s3_on_http_done(HttpResponse *resp, void *userdata) {
        S3Op *op = userdata;
        S3Client *c = op->client;
        const char *date = http_response_header(resp, "Date");
        const char *lm = http_response_header(resp, "Last-Modified");
        char code[64] = "", server_message[MESSAGE_FROM_SERVER_MAX + 1] = "", what[256];
        int64_t server_date = -1, last_modified = -1, server_time = -1;
        S3Response r = {
                .error = resp->error,
                .status = resp->status,
                .code = code,
                .etag = http_response_header(resp, "ETag"),
                .body = resp->body,
                .body_size = resp->body_size,
        };

        op->transfer = NULL;
        if (op->state == OP_CANCELLED) {
                op_free(op);
                return;
        }
        if (date && s3_parse_http_date(date, &server_date) == 0)
                clock_follow(c, server_date);
        if (lm)
                (void) s3_parse_http_date(lm, &last_modified);
        r.date = server_date;
        r.last_modified = last_modified;

        op_what(op, what, sizeof(what));
        if (resp->error < 0) {
                (void) snprintf(op->message, sizeof(op->message), "%s S3 (%s) for %s: %s",
                                resp->error == -EPROTO ? "TLS failure talking to" :
                                "cannot reach", c->describe, what, resp->message);
                r.message = op->message;
        } else if (resp->status < 200 || resp->status >= 300) {
                bool parsed = op->method != HTTP_HEAD && resp->body_size > 0 &&
                              error_parse(resp, code, sizeof(code), server_message,
                                          sizeof(server_message), &server_time);

                if (strcmp(code, "RequestTimeTooSkewed") == 0 && !op->retried_skew) {
                        /* The clock followed Date above (or follows ServerTime now). */
                        if (server_date < 0 && server_time >= 0)
                                clock_follow(c, server_time);
                        op->retried_skew = true;
                        op_run(op);
                        return;
                }
                if ((strcmp(code, "ExpiredToken") == 0 || strcmp(code, "InvalidToken") == 0 ||
                     strcmp(code, "TokenRefreshRequired") == 0) && !op->retried_creds &&
                    s3_creds_expired(c->creds)) {
                        op->retried_creds = true;
                        op_run(op);
                        return;
                }
                if (parsed)
                        (void) snprintf(op->message, sizeof(op->message),
                                        "S3 refused %s: %ld %s%s%s", what, resp->status, code,
                                        *server_message ? ": " : "", server_message);
                else if (resp->body_size > 0 && op->method != HTTP_HEAD)
                        (void) snprintf(op->message, sizeof(op->message),
                                        "S3 answered %s with %ld and an unreadable error body "
                                        "(not S3 error XML)", what, resp->status);
                else
                        (void) snprintf(op->message, sizeof(op->message), "S3 answered %s with %ld",
                                        what, resp->status);
                r.message = op->message;
        }
        op->state = OP_DELIVERING;
        op->done(&r, op->userdata);
        op_free(op);
}

/* ---- closing ---- */

static void s3_on_defer_closed(uv_handle_t *h) {
        S3Client *c = container_of((uv_idle_t *) h, S3Client, defer);
        void (*done)(void *) = c->close_done;
        void *userdata = c->close_userdata;

        (void) client_free(c);
        if (done)
                done(userdata);
}

static void s3_on_http_closed(void *userdata) {
        S3Client *c = userdata;

        /* Every transfer has been delivered (cancelled ones freed their ops). */
        uv_close((uv_handle_t *) &c->defer, s3_on_defer_closed);
}

void s3_client_close(S3Client *c, void (*done)(void *userdata), void *userdata) {
        c->closing = true;
        c->close_done = done;
        c->close_userdata = userdata;
        for (S3Op *op = c->ops, *next; op; op = next) {
                next = op->next;
                s3_request_cancel(op);
        }
        (void) uv_idle_stop(&c->defer);
        http_client_close(c->http, s3_on_http_closed, c);
}
