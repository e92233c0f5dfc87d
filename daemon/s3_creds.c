/* SPDX-License-Identifier: MIT */
/* The AWS credential chain (s3_creds.h). A fetch is one small state machine on the loop:
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
#include <strings.h>

#include "macro.h"
#include "parse.h"
#include "s3_creds.h"

#define ECS_BASE_DEFAULT        "http://169.254.170.2"
#define IMDS_BASE_DEFAULT       "http://169.254.169.254"
#define IMDS_TOKEN_TTL_SEC      21600
#define FETCH_TIMEOUT_MS        2000U   /* the SDKs' metadata timeouts are 1-2 s */
#define FETCH_BODY_MAX          (64U * 1024U)
#define REFRESH_AHEAD_SEC       300     /* fetch anew when less than this is left */
#define EXPIRY_MARGIN_SEC       60      /* never sign with credentials this close to expiry */
#define CREDENTIALS_FILE_MAX    (1024 * 1024)

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

static void wipe_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

static void creds_clear(S3Creds *c) {
        free(c->access_key_id);
        wipe_free(c->secret);
        wipe_free(c->token);
        c->access_key_id = c->secret = c->token = NULL;
        c->expiration = 0;
}

S3Creds *s3_creds_free(S3Creds *c) {
        if (!c)
                return NULL;
        creds_clear(c);
        free(c->source_text);
        free(c->url);
        wipe_free(c->auth_token);
        free(c->auth_token_file);
        wipe_free(c->imds_token);
        free(c->imds_role);
        free(c);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(S3Creds *, s3_creds_free);

const char *s3_creds_source(const S3Creds *c) {
        return c->source_text;
}

static const char *env(const char *name) {
        const char *v = getenv(name);

        return v && *v ? v : NULL;
}

/* What SigV4 accepts, checked here so that a bad value is reported as coming from its
 * source, without the value. */
static bool key_id_ok(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > SIGV4_NAME_MAX)
                return false;
        for (; *s; s++)
                if (*s <= ' ' || *s > '~' || *s == '/' || *s == ',')
                        return false;
        return true;
}

static bool printable(const char *s, size_t max) {
        size_t n = strlen(s);

        if (n == 0 || n > max)
                return false;
        for (; *s; s++)
                if (*s < ' ' || *s > '~')
                        return false;
        return true;
}

static int creds_set(S3Creds *c, const char *id, const char *secret, const char *token,
                     int64_t expiration) {
        char *a, *s, *t = NULL;

        if (!key_id_ok(id) || !printable(secret, SIGV4_NAME_MAX) ||
            (token && *token && !printable(token, SIGV4_VALUE_MAX)))
                return -EINVAL;
        a = strdup(id);
        s = strdup(secret);
        if (token && *token)
                t = strdup(token);
        if (!a || !s || (token && *token && !t)) {
                free(a);
                wipe_free(s);
                wipe_free(t);
                return -ENOMEM;
        }
        creds_clear(c);
        c->access_key_id = a;
        c->secret = s;
        c->token = t;
        c->expiration = expiration;
        return 0;
}

_printf_(3, 4) static int set_error(char **reterr_message, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(reterr_message, fmt, ap) < 0)
                *reterr_message = NULL;
        va_end(ap);
        return r;
}

/* ---- the shared credentials file: a small INI reader ----
 *   file    = { line } ;
 *   line    = blank | comment | "[" name "]" | key "=" value ;
 *   comment = ("#" | ";") { any } ;
 * Names and keys are trimmed; keys compare case-insensitively; the first section of a name
 * counts (later duplicates are ignored). */

static char *trim(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
                *--e = 0;
        return s;
}

/* 1 and the three values (owned, *ret_token may be NULL) if the profile has a key id and a
 * secret; 0 if the file or profile is not there; negative on a read error. */
static int credentials_file_read(const char *path, const char *profile, char **ret_id,
                                 char **ret_secret, char **ret_token) {
        _cleanup_free_ char *data = NULL;
        char *id = NULL, *secret = NULL, *token = NULL, *line, *save = NULL;
        bool in = false, seen = false;
        size_t n;
        FILE *f;

        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        data = malloc(CREDENTIALS_FILE_MAX + 1);
        if (!data) {
                fclose(f);
                return -ENOMEM;
        }
        n = fread(data, 1, CREDENTIALS_FILE_MAX + 1, f);
        fclose(f);
        if (n > CREDENTIALS_FILE_MAX) {
                explicit_bzero(data, n);
                return -EFBIG;
        }
        data[n] = 0;

        for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *l = trim(line), *eq, *k, *v, **slot = NULL;

                if (*l == 0 || *l == '#' || *l == ';')
                        continue;
                if (*l == '[') {
                        char *end = strchr(l, ']');

                        if (end)
                                *end = 0;
                        in = !seen && strcmp(trim(l + 1), profile) == 0;
                        seen = seen || in;
                        continue;
                }
                eq = strchr(l, '=');
                if (!in || !eq)
                        continue;
                *eq = 0;
                k = trim(l);
                v = trim(eq + 1);
                if (strcasecmp(k, "aws_access_key_id") == 0)
                        slot = &id;
                else if (strcasecmp(k, "aws_secret_access_key") == 0)
                        slot = &secret;
                else if (strcasecmp(k, "aws_session_token") == 0)
                        slot = &token;
                if (slot && !*slot && *v) {
                        *slot = strdup(v);
                        if (!*slot)
                                break;
                }
        }
        explicit_bzero(data, n);
        if (id && secret) {
                *ret_id = id;
                *ret_secret = secret;
                *ret_token = token;
                return 1;
        }
        free(id);
        wipe_free(secret);
        wipe_free(token);
        return 0;
}

static int source_from_file(S3Creds *c, char **reterr_message) {
        const char *profile = env("AWS_PROFILE"), *path = env("AWS_SHARED_CREDENTIALS_FILE");
        _cleanup_free_ char *home_path = NULL;
        char *id = NULL, *secret = NULL, *token = NULL;
        int r;

        if (!path) {
                const char *home = env("HOME");

                if (!home)
                        return 0;
                if (asprintf(&home_path, "%s/.aws/credentials", home) < 0)
                        return -ENOMEM;
                path = home_path;
        }
        r = credentials_file_read(path, profile ?: "default", &id, &secret, &token);
        if (r < 0)
                return set_error(reterr_message, -EINVAL, "cannot read the AWS credentials file "
                                 "'%s'", path);
        if (r == 0) {
                /* An explicitly chosen profile must exist, as in the SDKs. */
                if (profile) {
                        char *m;

                        if (asprintf(&m, "AWS_PROFILE='%s' but '%s' has no such profile with "
                                     "aws_access_key_id and aws_secret_access_key",
                                     profile, path) < 0)
                                m = NULL;
                        *reterr_message = m;
                        return -EINVAL;
                }
                return 0;
        }
        r = creds_set(c, id, secret, token, INT64_MAX);
        free(id);
        wipe_free(secret);
        wipe_free(token);
        if (r < 0)
                return set_error(reterr_message, r, "invalid credentials in the AWS "
                                 "credentials file '%s'", path);
        if (asprintf(&c->source_text, "profile '%s' in '%s'", profile ?: "default", path) < 0)
                return -ENOMEM;
        return 1;
}

/* Loopback hosts, and the ECS and EKS Pod Identity agent addresses. */
static bool full_uri_host_ok(const char *url) {
        static const char *const ok[] = { "127.", "localhost", "[::1]", "169.254.170.2",
                                          "169.254.170.23", "[fd00:ec2::23]" };
        const char *host = url + strlen("http://");
        size_t n = strcspn(host, ":/?#");

        if (strncasecmp(url, "https://", 8) == 0)
                return true;
        if (strncasecmp(url, "http://", 7) != 0)
                return false;
        if (host[0] == '[')
                n = strcspn(host, "]") + 1;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                size_t len = strlen(ok[i]);

                if (ok[i][len - 1] == '.' ? strncmp(host, ok[i], len) == 0 && n > len :
                                            n == len && strncasecmp(host, ok[i], len) == 0)
                        return true;
        }
        return false;
}

static int source_from_container(S3Creds *c, char **reterr_message) {
        const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
        const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");

        if (rel) {
                const char *base = env("SOLOCRON_TEST_ECS_ENDPOINT") ?: ECS_BASE_DEFAULT;

                if (rel[0] != '/' || strpbrk(rel, " \r\n"))
                        return set_error(reterr_message, -EINVAL,
                                         "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI%s must be a "
                                         "path starting with '/'", "");
                if (asprintf(&c->url, "%s%s", base, rel) < 0)
                        return -ENOMEM;
        } else if (full) {
                const char *file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
                const char *token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");

                if (!full_uri_host_ok(full) || strpbrk(full, " \r\n"))
                        return set_error(reterr_message, -EINVAL,
                                         "AWS_CONTAINER_CREDENTIALS_FULL_URI '%s' must be https, "
                                         "or http to a loopback or the ECS/EKS agent address",
                                         full);
                c->url = strdup(full);
                if (!c->url)
                        return -ENOMEM;
                if (file) {
                        c->auth_token_file = strdup(file);
                        if (!c->auth_token_file)
                                return -ENOMEM;
                } else if (token) {
                        if (strpbrk(token, "\r\n"))
                                return set_error(reterr_message, -EINVAL, "%s holds a line "
                                                 "break", "AWS_CONTAINER_AUTHORIZATION_TOKEN");
                        c->auth_token = strdup(token);
                        if (!c->auth_token)
                                return -ENOMEM;
                }
        } else
                return 0;
        c->source = SOURCE_ECS;
        c->source_text = strdup("ECS container credentials");
        return c->source_text ? 1 : -ENOMEM;
}

int s3_creds_new(S3Creds **ret, char **reterr_message) {
        _cleanup_(s3_creds_freep) S3Creds *c = NULL;
        const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
        const char *disabled;
        int r;

        c = calloc(1, sizeof(S3Creds));
        if (!c)
                return -ENOMEM;

        if (id || secret) {
                if (!id || !secret)
                        return set_error(reterr_message, -EINVAL, "%s", id ?
                                         "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY "
                                         "is not" :
                                         "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID "
                                         "is not");
                r = creds_set(c, id, secret, env("AWS_SESSION_TOKEN"), INT64_MAX);
                if (r < 0)
                        return set_error(reterr_message, r, "invalid AWS credentials in the "
                                         "%s", "environment");
                c->source_text = strdup("environment");
                if (!c->source_text)
                        return -ENOMEM;
                *ret = TAKE_PTR(c);
                return 0;
        }
        r = source_from_file(c, reterr_message);
        if (r == 0)
                r = source_from_container(c, reterr_message);
        if (r < 0)
                return r;
        if (r > 0) {
                *ret = TAKE_PTR(c);
                return 0;
        }

        disabled = env("AWS_EC2_METADATA_DISABLED");
        if (disabled && strcasecmp(disabled, "true") == 0)
                return set_error(reterr_message, -EINVAL, "no AWS credentials found: none in "
                                 "the environment, no credentials file profile, no container "
                                 "credentials, and %s", "AWS_EC2_METADATA_DISABLED=true");
        c->source = SOURCE_IMDS;
        c->url = strdup(env("SOLOCRON_TEST_IMDS_ENDPOINT") ?: IMDS_BASE_DEFAULT);
        c->source_text = strdup("EC2 instance metadata (IMDSv2)");
        if (!c->url || !c->source_text)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

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
                        file_token = strdup(trim(buf));
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
                r = creds_set(c, id, secret, token, expiration);
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
                wipe_free(c->imds_token);
                c->imds_token = strndup(resp->body, strcspn(resp->body, "\r\n"));
                if (!c->imds_token)
                        return -ENOMEM;
                if (!printable(c->imds_token, SIGV4_VALUE_MAX))
                        return fetch_fail(c, -EBADMSG, "%s", "the session token is not "
                                          "printable");
                c->imds_token_expiry = c->now + IMDS_TOKEN_TTL_SEC;
                return fetch_step(c, FETCH_IMDS_ROLE);
        }
        if (resp->status == 401 && (c->step == FETCH_IMDS_ROLE || c->step == FETCH_IMDS_CREDS) &&
            !c->imds_retried) {
                /* Our session token expired or the instance was replaced: a new one. */
                c->imds_retried = true;
                wipe_free(c->imds_token);
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
        if (w->next)
                w->next->prev = w->prev;
        else
                c->waiters_tail = w->prev;
        if (w->prev)
                w->prev->next = w->next;
        else
                c->waiters = w->next;
        w->prev = w->next = NULL;
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

bool s3_creds_expired(S3Creds *c) {
        if (c->source == SOURCE_STATIC)
                return false;
        creds_clear(c);
        return true;
}
