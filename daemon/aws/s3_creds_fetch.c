/* SPDX-License-Identifier: MIT */
/* Fetched AWS credentials (s3_creds.h): ECS and IMDS, refreshed ahead of their expiry; the
 * chain itself is s3_creds.c. A fetch is one small state machine on the loop:
 *
 *   ECS:   GET URL [Authorization: TOKEN]                          → JSON credentials
 *   IMDS:  PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds: 21600) → token
 *          GET /latest/meta-data/iam/security-credentials/         → role name (first line)
 *          GET /latest/meta-data/iam/security-credentials/ROLE     → JSON credentials
 *
 * At most one fetch runs at a time; every caller that needs credentials meanwhile waits on
 * c->waiters and is told once when it ends. The IMDS session token is kept for reuse and
 * dropped on a 401. Secrets live only in c->secret and c->token, are wiped when replaced, and
 * are never copied into a message. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "macro.h"
#include "parse.h"
#include "s3_creds.h"
#include "s3_creds_internal.h"

#define IMDS_TOKEN_TTL_SEC      21600
#define FETCH_TIMEOUT_MS        2000U   /* the SDKs' metadata timeouts are 1-2 s */
#define FETCH_BODY_MAX          (64U * 1024U)
#define REFRESH_AHEAD_SEC       300     /* fetch anew when less than this is left */
#define EXPIRY_MARGIN_SEC       60      /* never sign with credentials this close to expiry */

/* ---- fetching ---- */

static void fetch_end(S3Creds *c, int error) {
        c->step = FETCH_IDLE;
        c->transfer = NULL;
        /* Each waiter is unlinked before its callback, which may queue itself again. */
        while (c->waiters) {
                S3CredsWait *w = c->waiters;

                s3_creds_cancel(w);
                w->cb(w, error, error < 0 ? c->message : NULL);
        }
}

_printf_(3, 4) static int fetch_fail(S3Creds *c, int error, const char *fmt, ...) {
        char what[256];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        (void) snprintf(c->message, sizeof(c->message), "cannot get AWS credentials from %s: %s",
                        c->source_text, what);
        return error;
}

static void creds_on_http_done(HttpResponse *resp, void *userdata);

static int fetch_request(S3Creds *c, HttpMethod method, const char *url, const char *header) {
        const char *headers[] = { header, NULL };
        HttpRequest req = {
                .method = method,
                .url = url,
                .headers = header ? headers : NULL,
                .timeout_ms = FETCH_TIMEOUT_MS,
                .max_body = FETCH_BODY_MAX,
                .done = creds_on_http_done,
                .userdata = c,
        };
        int r;

        r = http_request_start(c->http, &req, &c->transfer);
        if (r < 0)
                return fetch_fail(c, r, "cannot start a request: %s", strerror(-r));
        return 0;
}

static int fetch_step(S3Creds *c, FetchStep step) {
        _cleanup_free_ char *url = NULL, *header = NULL, *file_token = NULL;

        c->step = step;
        switch (step) {
        case FETCH_ECS:
                if (c->auth_token_file) {
                        FILE *f = fopen(c->auth_token_file, "re");
                        char buf[SIGV4_VALUE_MAX];
                        size_t n;

                        if (!f)
                                return fetch_fail(c, -errno, "cannot read the authorization "
                                                  "token file '%s'", c->auth_token_file);
                        n = fread(buf, 1, sizeof(buf) - 1, f);
                        fclose(f);
                        buf[n] = 0;
                        file_token = strdup(s3_creds_trim(buf));
                        explicit_bzero(buf, sizeof(buf));
                        if (!file_token)
                                return -ENOMEM;
                }
                if (file_token || c->auth_token) {
                        const char *t = file_token ?: c->auth_token;

                        if (strpbrk(t, "\r\n"))
                                return fetch_fail(c, -EINVAL, "%s", "the authorization token "
                                                  "holds a line break");
                        if (asprintf(&header, "Authorization: %s", t) < 0)
                                return -ENOMEM;
                }
                return fetch_request(c, HTTP_GET, c->url, header);
        case FETCH_IMDS_TOKEN:
                if (asprintf(&url, "%s/latest/api/token", c->url) < 0)
                        return -ENOMEM;
                return fetch_request(c, HTTP_PUT, url, "X-aws-ec2-metadata-token-ttl-seconds: "
                                     "21600");
        case FETCH_IMDS_ROLE:
        case FETCH_IMDS_CREDS:
                if (asprintf(&url, "%s/latest/meta-data/iam/security-credentials/%s", c->url,
                             step == FETCH_IMDS_CREDS ? c->imds_role : "") < 0 ||
                    asprintf(&header, "X-aws-ec2-metadata-token: %s", c->imds_token) < 0)
                        return -ENOMEM;
                return fetch_request(c, HTTP_GET, url, header);
        default:
                return -EINVAL;
        }
}

static int fetch_start(S3Creds *c, int64_t now) {
        int r;

        c->now = now;
        c->imds_retried = false;
        if (c->source == SOURCE_ECS)
                r = fetch_step(c, FETCH_ECS);
        else if (c->imds_token && now < c->imds_token_expiry - 60)
                r = fetch_step(c, FETCH_IMDS_ROLE);
        else
                r = fetch_step(c, FETCH_IMDS_TOKEN);
        if (r < 0) {
                c->step = FETCH_IDLE;
                if (r == -ENOMEM)
                        (void) snprintf(c->message, sizeof(c->message), "out of memory");
        }
        return r;
}

/* "2026-11-23T06:00:00Z", also with fractional seconds or a numeric offset. */
static int parse_expiration(const char *s, int64_t *ret) {
        char buf[64];
        const char *dot = strchr(s, '.');
        bool absolute;
        int r;

        if (strlen(s) >= sizeof(buf))
                return -EINVAL;
        if (dot) {
                size_t n = (size_t) (dot - s), d = strspn(dot + 1, "0123456789");

                memcpy(buf, s, n);
                (void) snprintf(buf + n, sizeof(buf) - n, "%s", dot + 1 + d);
        } else
                (void) snprintf(buf, sizeof(buf), "%s", s);
        r = parse_timestamp(buf, ret, &absolute);
        if (r < 0 || !absolute)
                return -EINVAL;
        return 0;
}

static int fetch_parse_creds(S3Creds *c, const HttpResponse *resp) {
        const char *id, *secret, *token, *exp, *code;
        int64_t expiration;
        json_t *j;
        int r;

        j = json_loadb(resp->body, resp->body_size, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return fetch_fail(c, -EBADMSG, "%s", "the answer is not a JSON object");
        }
        code = json_string_value(json_object_get(j, "Code"));
        id = json_string_value(json_object_get(j, "AccessKeyId"));
        secret = json_string_value(json_object_get(j, "SecretAccessKey"));
        token = json_string_value(json_object_get(j, "Token"));
        exp = json_string_value(json_object_get(j, "Expiration"));
        if (code && strcmp(code, "Success") != 0) {
                char what[64];

                (void) snprintf(what, sizeof(what), "%s", code);
                json_decref(j);
                return fetch_fail(c, -EACCES, "the answer's Code is '%s'", what);
        }
        if (!id || !secret || !exp) {
                json_decref(j);
                return fetch_fail(c, -EBADMSG, "%s", "the answer lacks AccessKeyId, "
                                  "SecretAccessKey or Expiration");
        }
        r = parse_expiration(exp, &expiration);
        if (r == 0)
                r = s3_creds_set(c, id, secret, token, expiration);
        json_decref(j);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fetch_fail(c, -EBADMSG, "%s", "the answer holds an invalid key id, secret, "
                                  "token or expiration");
        return 0;
}

/* The next step, or 0 when the credentials are in; negative to end the fetch. */
static int fetch_on_answer(S3Creds *c, const HttpResponse *resp) {
        char status[32];

        if (resp->error < 0)
                return fetch_fail(c, resp->error, "%s", resp->message);
        (void) snprintf(status, sizeof(status), "%ld", resp->status);
        if (c->step == FETCH_IMDS_TOKEN) {
                if (resp->status != 200)
                        return fetch_fail(c, -EACCES, "the token request answered %s", status);
                s3_creds_wipe_free(c->imds_token);
                c->imds_token = strndup(resp->body, strcspn(resp->body, "\r\n"));
                if (!c->imds_token)
                        return -ENOMEM;
                if (!s3_creds_printable(c->imds_token, SIGV4_VALUE_MAX))
                        return fetch_fail(c, -EBADMSG, "%s", "the session token is not "
                                          "printable");
                c->imds_token_expiry = c->now + IMDS_TOKEN_TTL_SEC;
                return fetch_step(c, FETCH_IMDS_ROLE);
        }
        if (resp->status == 401 && (c->step == FETCH_IMDS_ROLE || c->step == FETCH_IMDS_CREDS) &&
            !c->imds_retried) {
                /* Our session token expired or the instance was replaced: a new one. */
                c->imds_retried = true;
                s3_creds_wipe_free(c->imds_token);
                c->imds_token = NULL;
                return fetch_step(c, FETCH_IMDS_TOKEN);
        }
        if (resp->status == 404 && c->step == FETCH_IMDS_ROLE)
                return fetch_fail(c, -ENOENT, "%s", "no IAM role is attached to the instance");
        if (resp->status != 200)
                return fetch_fail(c, resp->status == 401 || resp->status == 403 ? -EACCES : -EIO,
                                  "the endpoint answered %s", status);
        if (c->step == FETCH_IMDS_ROLE) {
                size_t n = strcspn(resp->body, "\r\n");

                free(c->imds_role);
                c->imds_role = strndup(resp->body, n);
                if (!c->imds_role)
                        return -ENOMEM;
                if (n == 0 || strspn(c->imds_role, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                     "qrstuvwxyz0123456789+=,.@_-") != n)
                        return fetch_fail(c, -EBADMSG, "%s", "the role name is not valid");
                return fetch_step(c, FETCH_IMDS_CREDS);
        }
        return fetch_parse_creds(c, resp);
}

static void creds_on_http_done(HttpResponse *resp, void *userdata) {
        S3Creds *c = userdata;
        int r;

        c->transfer = NULL;
        r = fetch_on_answer(c, resp);
        if (r == -ENOMEM)
                (void) snprintf(c->message, sizeof(c->message), "out of memory");
        if (r < 0 || c->step == FETCH_IDLE || !c->transfer)
                fetch_end(c, r < 0 ? r : 0);
}

/* ---- waiting ---- */

static void waiter_add(S3Creds *c, S3CredsWait *w, s3_creds_cb cb) {
        w->creds = c;
        w->next = NULL;
        w->prev = c->waiters_tail;
        if (c->waiters_tail)
                c->waiters_tail->next = w;
        else
                c->waiters = w;
        c->waiters_tail = w;
        w->queued = true;
        w->cb = cb;
}

void s3_creds_cancel(S3CredsWait *w) {
        S3Creds *c;

        if (!w || !w->queued)
                return;
        c = w->creds;
        w->queued = false;
        if (!w->next)
                c->waiters_tail = w->prev;
        LIST_UNLINK(c->waiters, w);
}

int s3_creds_get(S3Creds *c, HttpClient *http, int64_t now, SigV4Credentials *ret,
                 S3CredsWait *w, s3_creds_cb cb, const char **reterr_message) {
        bool usable = c->access_key_id && (c->expiration == INT64_MAX ||
                                           now < c->expiration - EXPIRY_MARGIN_SEC);
        int r;

        c->http = http;
        if (usable) {
                if (c->expiration != INT64_MAX && now >= c->expiration - REFRESH_AHEAD_SEC &&
                    c->step == FETCH_IDLE)
                        (void) fetch_start(c, now);     /* in the background; failures wait */
                *ret = (SigV4Credentials) { .access_key_id = c->access_key_id,
                                            .secret_access_key = c->secret,
                                            .session_token = c->token };
                return 0;
        }
        if (c->source == SOURCE_STATIC) {
                /* Static credentials cannot go stale; this is a bug if reached. */
                *reterr_message = "no AWS credentials";
                return -ENOKEY;
        }
        if (c->step == FETCH_IDLE) {
                r = fetch_start(c, now);
                if (r < 0) {
                        *reterr_message = c->message;
                        return r;
                }
        }
        waiter_add(c, w, cb);
        return -EINPROGRESS;
}
