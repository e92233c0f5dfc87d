/* SPDX-License-Identifier: MIT */
/* The AWS credential chain (s3_creds.h): choosing the source from the environment, reading
 * the static ones (environment, shared credentials file) once, and holding the current
 * credentials. Fetching them from ECS or IMDS is s3_creds_fetch.c. Secrets are wiped when
 * replaced or freed, and never copied into a message. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "reterr.h"
#include "s3_creds.h"
#include "s3_creds_internal.h"
#include "testhook.h"

#define ECS_BASE_DEFAULT        "http://169.254.170.2"
#define IMDS_BASE_DEFAULT       "http://169.254.169.254"
#define CREDENTIALS_FILE_MAX    (1024 * 1024)

void s3_creds_wipe_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

static void creds_clear(S3Creds *c) {
        free(c->access_key_id);
        s3_creds_wipe_free(c->secret);
        s3_creds_wipe_free(c->token);
        c->access_key_id = c->secret = c->token = NULL;
        c->expiration = 0;
}

S3Creds *s3_creds_free(S3Creds *c) {
        if (!c)
                return NULL;
        creds_clear(c);
        free(c->source_text);
        free(c->url);
        s3_creds_wipe_free(c->auth_token);
        free(c->auth_token_file);
        s3_creds_wipe_free(c->imds_token);
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

/* A test build's other endpoint (testhook.h); NULL in a release build. */
static const char *test_env(const char *name) {
        const char *v = test_hook_getenv(name);

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

bool s3_creds_printable(const char *s, size_t max) {
        size_t n = strlen(s);

        if (n == 0 || n > max)
                return false;
        for (; *s; s++)
                if (*s < ' ' || *s > '~')
                        return false;
        return true;
}

int s3_creds_set(S3Creds *c, const char *id, const char *secret, const char *token,
                 int64_t expiration) {
        char *a, *s, *t = NULL;

        if (!key_id_ok(id) || !s3_creds_printable(secret, SIGV4_NAME_MAX) ||
            (token && *token && !s3_creds_printable(token, SIGV4_VALUE_MAX)))
                return -EINVAL;
        a = strdup(id);
        s = strdup(secret);
        if (token && *token)
                t = strdup(token);
        if (!a || !s || (token && *token && !t)) {
                free(a);
                s3_creds_wipe_free(s);
                s3_creds_wipe_free(t);
                return -ENOMEM;
        }
        creds_clear(c);
        c->access_key_id = a;
        c->secret = s;
        c->token = t;
        c->expiration = expiration;
        return 0;
}

/* ---- the shared credentials file: a small INI reader ----
 *   file    = { line } ;
 *   line    = blank | comment | "[" name "]" | key "=" value ;
 *   comment = ("#" | ";") { any } ;
 * Names and keys are trimmed; keys compare case-insensitively; the first section of a name
 * counts (later duplicates are ignored). */

char *s3_creds_trim(char *s) {
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
                char *l = s3_creds_trim(line), *eq, *k, *v, **slot = NULL;

                if (*l == 0 || *l == '#' || *l == ';')
                        continue;
                if (*l == '[') {
                        char *end = strchr(l, ']');

                        if (end)
                                *end = 0;
                        in = !seen && strcmp(s3_creds_trim(l + 1), profile) == 0;
                        seen = seen || in;
                        continue;
                }
                eq = strchr(l, '=');
                if (!in || !eq)
                        continue;
                *eq = 0;
                k = s3_creds_trim(l);
                v = s3_creds_trim(eq + 1);
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
        s3_creds_wipe_free(secret);
        s3_creds_wipe_free(token);
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
                return reterr_printf(reterr_message, -EINVAL, "cannot read the AWS credentials file "
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
        r = s3_creds_set(c, id, secret, token, INT64_MAX);
        free(id);
        s3_creds_wipe_free(secret);
        s3_creds_wipe_free(token);
        if (r < 0)
                return reterr_printf(reterr_message, r, "invalid credentials in the AWS "
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
                const char *base = test_env("SOLOCRON_TEST_ECS_ENDPOINT") ?: ECS_BASE_DEFAULT;

                if (rel[0] != '/' || strpbrk(rel, " \r\n"))
                        return reterr_printf(reterr_message, -EINVAL,
                                         "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI%s must be a "
                                         "path starting with '/'", "");
                if (asprintf(&c->url, "%s%s", base, rel) < 0)
                        return -ENOMEM;
        } else if (full) {
                const char *file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
                const char *token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");

                if (!full_uri_host_ok(full) || strpbrk(full, " \r\n"))
                        return reterr_printf(reterr_message, -EINVAL,
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
                                return reterr_printf(reterr_message, -EINVAL, "%s holds a line "
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
                        return reterr_printf(reterr_message, -EINVAL, "%s", id ?
                                         "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY "
                                         "is not" :
                                         "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID "
                                         "is not");
                r = s3_creds_set(c, id, secret, env("AWS_SESSION_TOKEN"), INT64_MAX);
                if (r < 0)
                        return reterr_printf(reterr_message, r, "invalid AWS credentials in the "
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
                return reterr_printf(reterr_message, -EINVAL, "no AWS credentials found: none in "
                                 "the environment, no credentials file profile, no container "
                                 "credentials, and %s", "AWS_EC2_METADATA_DISABLED=true");
        c->source = SOURCE_IMDS;
        c->url = strdup(test_env("SOLOCRON_TEST_IMDS_ENDPOINT") ?: IMDS_BASE_DEFAULT);
        c->source_text = strdup("EC2 instance metadata (IMDSv2)");
        if (!c->url || !c->source_text)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

bool s3_creds_expired(S3Creds *c) {
        if (c->source == SOURCE_STATIC)
                return false;
        creds_clear(c);
        return true;
}
