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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "macro.h"
#include "s3.h"
#include "s3_creds.h"
#include "s3_internal.h"
#include "cryptolib.h"

/* ---- requests ---- */

static void op_free(S3Op *op) {
        S3Client *c = op->client;

        LIST_UNLINK(c->ops, op);
        free(op->key);
        for (size_t i = 0; i < op->n_query; i++) {
                free((char *) op->query[i].key);
                free((char *) op->query[i].value);
        }
        free(op->query);
        free(op->if_match);
        free(op->content_type);
        free(op->content_encoding);
        if (!op->body_borrowed)
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
        char *lines[10] = {};
        SigV4Header signed_headers[4];
        SigV4Signature sig = {};
        size_t n_signed = 0, n = 0;
        int r;

        if (op->if_none_match)
                signed_headers[n_signed++] = (SigV4Header) { "If-None-Match", "*" };
        if (op->if_match)
                signed_headers[n_signed++] = (SigV4Header) { "If-Match", op->if_match };
        if (op->content_type)
                signed_headers[n_signed++] = (SigV4Header) { "Content-Type", op->content_type };
        if (op->content_encoding)
                signed_headers[n_signed++] = (SigV4Header) { "Content-Encoding",
                                                             op->content_encoding };

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
                r = sigv4_sign(&cryptolib_sigv4, &(SigV4Request) {
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
            (op->content_type && asprintf(&lines[n++], "Content-Type: %s", op->content_type) < 0) ||
            (op->content_encoding &&
             asprintf(&lines[n++], "Content-Encoding: %s", op->content_encoding) < 0)) {
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
        LIST_PREPEND(c->ops, op);
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
            (req->content_encoding && !(op->content_encoding = strdup(req->content_encoding))) ||
            (req->n_query > 0 && !(op->query = calloc(req->n_query, sizeof(SigV4Param)))))
                r = -ENOMEM;
        for (size_t i = 0; r == 0 && i < req->n_query; i++) {
                op->n_query++;
                op->query[i].key = strdup(req->query[i].key);
                op->query[i].value = strdup(req->query[i].value ?: "");
                if (!op->query[i].key || !op->query[i].value)
                        r = -ENOMEM;
        }
        if (r == 0 && req->body && req->body_borrowed) {
                op->body = (void *) req->body;
                op->body_borrowed = true;
        } else if (r == 0 && req->body) {
                op->body = malloc(op->body_size ?: 1);
                if (op->body)
                        memcpy(op->body, req->body, op->body_size);
                else
                        r = -ENOMEM;
        }
        if (r == 0)
                r = sigv4_sha256_hex(&cryptolib_sigv4, op->body ?: "", op->body_size,
                                     op->body_sha256);
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
                s3_clock_follow(c, server_date);
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
                              s3_error_parse(resp, code, sizeof(code), server_message,
                                             sizeof(server_message), &server_time);

                if (strcmp(code, "RequestTimeTooSkewed") == 0 && !op->retried_skew) {
                        /* The clock followed Date above (or follows ServerTime now). */
                        if (server_date < 0 && server_time >= 0)
                                s3_clock_follow(c, server_time);
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
