/* SPDX-License-Identifier: MIT */
/* The S3 client (s3.h): its configuration (bucket, endpoint, region, URL style), the
 * credential source, our idea of the server's clock, and closing. Requests live in
 * s3_request.c, the XML and date parsers in s3_parse.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "macro.h"
#include "parse.h"
#include "reterr.h"
#include "s3.h"
#include "s3_creds.h"
#include "s3_internal.h"

#define CLOCK_CORRECT_SEC       60      /* follow the server's Date when we are this far off */

/* ---- clock ---- */

/* clock_gettime(), not time(): glibc's time() reads the vDSO's copy of the seconds as of
 * the last tick, which can still name the second before (a record "started" a second before
 * its firing was due). */
static int64_t local_now(const S3Client *c) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec + c->clock_offset;
}

int64_t s3_client_now(const S3Client *c) {
        return local_now(c) + c->server_offset;
}

void s3_clock_follow(S3Client *c, int64_t server) {
        int64_t d = server - s3_client_now(c);

        if (d > CLOCK_CORRECT_SEC || d < -CLOCK_CORRECT_SEC)
                c->server_offset = server - local_now(c);
}

/* ---- client ---- */

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

        if (!parse_name_ok(cfg->bucket, ".-_", 255))
                return reterr_printf(reterr_message, -EINVAL, "invalid S3 bucket name '%s'",
                                cfg->bucket ?: "");
        if (!parse_name_ok(region, "-_", SIGV4_SCOPE_MAX))
                return reterr_printf(reterr_message, -EINVAL, "invalid S3 region '%s'", region);
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
                        return reterr_printf(reterr_message, -EINVAL, "invalid S3 endpoint '%s': want "
                                        "http[s]://HOST[:PORT]", cfg->endpoint);
                if (r < 0)
                        return r;
        } else if (!(c->scheme = strdup("https")) ||
                   asprintf(&ep_host, "s3.%s.amazonaws.com", region) < 0) {
                ep_host = NULL;
                return -ENOMEM;
        }
        if (!cfg->path_style && host_is_ip(ep_host))
                return reterr_printf(reterr_message, -EINVAL, "S3 endpoint '%s' is an IP address: "
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
                return reterr_printf(reterr_message, -EINVAL, "S3 host name too long: '%s'", ep_host);

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
